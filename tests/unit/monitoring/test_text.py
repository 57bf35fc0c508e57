"""Text features: the config, validation per cell (both paths), TF-IDF in the pipeline, and text drift (the
words and lengths against a bounded reference), on the reviews example against moto."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import tomllib
from pathlib import Path

import boto3
import numpy as np
import pytest
from scoring.alerts import drift_alert
from scoring.logic import Clients, ScoringContext, score_job

from mlops_core.config import load_config, parse_config
from mlops_core.config.errors import ConfigError
from mlops_core.data.convert import convert_rows
from mlops_core.data.fastpath import fast_chunk
from mlops_core.environment import ScoringEnvironment
from mlops_core.monitoring.drift import DriftAccumulator, build_profile
from mlops_core.monitoring.text import VOCABULARY
from mlopsctl.present import chart_bars, text_line
from tests.unit.conftest import DATA, MODELS, REGION
from tests.unit.examples_loader import load_example
from tests.unit.lambdas.scoring.test_scoring import CountingCloudWatch, put, read_csv
from training.train import train_and_register

ROOT = Path(__file__).resolve().parents[3]
REVIEWS = ROOT / "examples" / "reviews"


@pytest.fixture(scope="module")
def example_config():
    """The reviews example as shipped: its model search (30 cross-validation fits per training run)."""
    return load_config(REVIEWS / "mlops.toml")


@pytest.fixture(scope="module")
def reviews_config(example_config):
    """The example with one logistic regression instead of the search: the same text handling, a quicker fit."""
    single = {"estimator": "sklearn.linear_model.LogisticRegression", "params": {"C": 4.0, "max_iter": 1000}}
    return dataclasses.replace(example_config, model=dataclasses.replace(example_config.model, candidates=(), **single))


@pytest.fixture(scope="module")
def reviews_data(tmp_path_factory) -> tuple[bytes, bytes, bytes]:
    """The example's training, batch and drifted files, as bytes."""
    paths = load_example("reviews").write(tmp_path_factory.mktemp("reviews"))
    return tuple(p.read_bytes() for p in paths)


def _raw(**text_settings) -> dict:
    raw = tomllib.loads((REVIEWS / "mlops.toml").read_text())
    raw["features"][0] = {"name": "review", "type": "text", **text_settings}
    return raw


def test_given_a_text_feature_with_name_and_type_only_then_it_gets_sensible_tfidf_defaults():
    feature = parse_config(_raw()).features[0]
    assert feature.is_text and feature.max_chars is None
    assert feature.vectorizer["ngram_range"] == (1, 2) and feature.vectorizer["min_df"] == 2


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_features": -3}, "max_features"),
        ({"stop_words": "klingon"}, "stop_words"),
        ({"ngram_range": [2, 1]}, "ngram_range|TfidfVectorizer"),
        ({"max_chars": 99_999}, "max_field_chars"),
        ({"tokenizer": "x"}, "unknown setting"),
    ],
)
def test_given_text_settings_that_do_not_fit_then_the_config_is_refused_naming_them(settings, message):
    with pytest.raises(ConfigError, match=message):
        parse_config(_raw(**settings))


def test_given_empty_and_too_long_texts_when_converted_then_each_is_a_bad_row_with_its_reason(reviews_config):
    header = ["review_id", "review", "product"]
    rows = [["a", "fine kettle", "kitchen"], ["b", "   ", "kitchen"], ["c", "x" * 2001, "books"]]
    chunk = convert_rows(header, rows, first_row=1, features=reviews_config.features, label=None, max_field_chars=5000)
    assert [r[0] for r in chunk.rows] == ["a"]
    assert [(e.row, e.kind) for e in chunk.errors] == [(2, "missing"), (3, "text_too_long")]
    assert "2,001 characters (max_chars 2,000)" in chunk.errors[1].message


def test_given_a_plain_block_of_text_then_the_fast_path_reads_it_as_the_precise_path_and_reports_an_empty_text(
    reviews_config,
):
    header = ["review_id", "review", "product"]
    good = b"r1,great kettle love it,kitchen\nr2,broken on day two,toys\n"
    fast = fast_chunk(good, header, features=reviews_config.features, label=None, task=None, max_field_chars=5000)
    rows = [line.split(",") for line in good.decode().splitlines()]
    precise = convert_rows(
        header, rows, first_row=1, features=reviews_config.features, label=None, max_field_chars=None
    )
    assert fast is not None and list(fast.columns["review"]) == list(precise.columns["review"])
    empty = b"r1,great kettle,kitchen\nr2, ,toys\n"
    one_bad = fast_chunk(empty, header, features=reviews_config.features, label=None, task=None, max_field_chars=5000)
    assert one_bad is not None and [r[0] for r in one_bad.rows] == ["r1"]
    assert [(e.row, e.kind) for e in one_bad.errors] == [(2, "missing")]


def test_given_many_distinct_words_then_the_reference_keeps_a_bounded_vocabulary(reviews_config):
    rng = np.random.default_rng(0)
    documents = np.asarray([" ".join(f"w{k}" for k in rng.integers(0, 50_000, 30)) for _ in range(3000)], dtype=object)
    columns = {"review": documents, "product": np.asarray(["books"] * 3000, dtype=object)}
    profile = build_profile(columns, reviews_config.features, np.full(3000, 0.5), 10)
    spec = profile["features"]["review"]
    assert len(spec["vocabulary"]) == VOCABULARY
    assert len(json.dumps(spec)) < 40_000
    assert spec["proportions"][-1] > 0.5  # most of these words are outside the kept vocabulary


def test_given_texts_in_new_words_then_text_drift_names_them_and_counts_the_feature_as_drifted(
    reviews_config, reviews_data
):
    training, _, drifted = reviews_data
    reference = _columns(training, reviews_config)
    profile = build_profile(reference, reviews_config.features, np.full(len(reference["review"]), 0.5), 10)
    clean = DriftAccumulator(profile)
    clean.update(reference, np.full(len(reference["review"]), 0.5))
    shifted = DriftAccumulator(profile)
    columns = _columns(drifted, reviews_config)
    shifted.update(columns, np.full(len(columns["review"]), 0.5))

    calm, drift = clean.summary(reviews_config.drift), shifted.summary(reviews_config.drift)

    assert calm.text["review"]["oov_share"] == 0.0 and "review" not in calm.drifted_features
    assert drift.drifted_features == ["review"] and drift.feature_psi["review"] > 1.0
    assert drift.text["review"]["oov_share"] > 0.15
    assert {"bussin", "mid", "ick"} & set(drift.text["review"]["new_words"])


def _columns(body: bytes, config) -> dict[str, np.ndarray]:
    rows = list(csv.reader(io.StringIO(body.decode())))
    chunk = convert_rows(rows[0], rows[1:], first_row=1, features=config.features, label=None, max_field_chars=None)
    return chunk.columns


@pytest.fixture
def reviews_env(aws, reviews_config, reviews_data):
    aws.put_object(Bucket=DATA, Key="training/reviews.csv", Body=reviews_data[0])
    train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=reviews_config)
    clients = Clients(aws, CountingCloudWatch(boto3.client("cloudwatch", region_name=REGION)))
    return clients, ScoringContext(ScoringEnvironment(DATA, MODELS, None, "MLOps"), reviews_config)


def test_given_a_drifted_review_batch_when_scored_then_the_text_drift_is_published_as_the_features_psi(
    reviews_env, reviews_data
):
    clients, settings = reviews_env
    outcome = score_job(put(clients.s3, "incoming/drifted.csv", reviews_data[2]), clients=clients, context=settings)
    assert outcome.status == "scored" and outcome.detail["scored"] == 1500
    feature_psi = [
        d
        for call in clients.cloudwatch.calls
        for d in call["MetricData"]
        if d["MetricName"] == "FeaturePSI" and {"Name": "Feature", "Value": "review"} in d["Dimensions"]
    ]
    assert len(feature_psi) == 1 and feature_psi[0]["Value"] > 1.0


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("", "missing"),
        ("word " * 500, "text_too_long"),
    ],
)
def test_given_a_bad_text_cell_when_scored_then_the_row_is_reported_and_the_rest_scored(
    reviews_env, reviews_data, cell, expected
):
    clients, settings = reviews_env
    good = reviews_data[1].decode().splitlines()
    body = "\n".join([*good[:100], f'X1,"{cell}",books', *good[100:]]) + "\n"
    outcome = score_job(put(clients.s3, "incoming/one-bad.csv", body.encode()), clients=clients, context=settings)
    assert outcome.status == "scored" and outcome.detail["bad_rows"] == 1 and outcome.detail["scored"] == 1000
    report = json.loads(clients.s3.get_object(Bucket=DATA, Key=outcome.detail["outputs"]["report"])["Body"].read())
    assert [e["kind"] for e in report["errors"]] == [expected] and report["errors"][0]["column"] == "review"


def test_given_a_10_mb_text_cell_when_scored_then_the_file_is_rejected_with_where_and_what_to_fix(
    reviews_env, reviews_data
):
    clients, settings = reviews_env
    good = reviews_data[1].decode().splitlines()
    body = "\n".join([*good[:50], f'X1,"{"a" * 10_000_000}",books', *good[50:]]) + "\n"
    outcome = score_job(put(clients.s3, "incoming/huge-cell.csv", body.encode()), clients=clients, context=settings)
    report = json.loads(clients.s3.get_object(Bucket=DATA, Key=outcome.detail["outputs"]["report"])["Body"].read())
    # A line over the reader's memory bound (8 MiB): the whole file is kept under rejected/ with the reason.
    assert outcome.status == "rejected" and report["kind"] == "line_too_long"
    assert 0 < report["where"]["byte"] <= len("\n".join(good[:50])) + 1 and "max_field_chars" in report["fix"]


def test_given_non_utf8_text_when_scored_then_the_file_is_rejected_saying_so(reviews_env, reviews_data):
    clients, settings = reviews_env
    good = reviews_data[1].splitlines()
    body = b"\n".join([*good[:10], b"X1,caf\xe9 au lait,kitchen", *good[10:]]) + b"\n"
    outcome = score_job(put(clients.s3, "incoming/latin1.csv", body), clients=clients, context=settings)
    report = json.loads(clients.s3.get_object(Bucket=DATA, Key=outcome.detail["outputs"]["report"])["Body"].read())
    assert outcome.status == "rejected" and "UTF-8" in report["error"] + report["fix"]


def test_given_labeled_reviews_in_new_words_when_retrained_with_the_examples_search_then_the_new_model_knows_them(
    aws, example_config, reviews_data
):
    training, _, drifted = reviews_data
    aws.put_object(Bucket=DATA, Key="training/reviews.csv", Body=training)
    before = train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=example_config)
    aws.put_object(Bucket=DATA, Key="feedback/drifted.csv", Body=drifted)

    after = train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=example_config)

    assert after["promoted"], after["decision"]
    names = {e["name"] for e in after["search"]["leaderboard"]}
    assert names == {"logistic regression", "linear SVM, calibrated", "random forest"}
    assert after["search"]["cv_fits"] == 30
    assert after["champion_metrics"]["roc_auc"] < 0.75 < after["metrics"]["roc_auc"]
    assert before["version"] != after["version"]


def test_given_a_text_model_then_its_predictions_file_has_the_ids_and_no_text(reviews_env, reviews_data):
    clients, settings = reviews_env
    outcome = score_job(put(clients.s3, "incoming/batch.csv", reviews_data[1]), clients=clients, context=settings)
    rows = read_csv(clients.s3, outcome.detail["outputs"]["predictions"])
    assert list(rows[0]) == ["review_id", "prediction", "score", "model_version"]
    assert {r["prediction"] for r in rows} == {"neg", "pos"}


def test_given_a_drifted_text_then_the_drift_alert_and_the_report_name_the_new_words(reviews_config, reviews_data):
    training, _, drifted = reviews_data
    reference = _columns(training, reviews_config)
    profile = build_profile(reference, reviews_config.features, np.full(len(reference["review"]), 0.5), 10)
    batch = DriftAccumulator(profile)
    columns = _columns(drifted, reviews_config)
    batch.update(columns, np.full(len(columns["review"]), 0.5))
    drift = batch.summary(reviews_config.drift).to_dict()
    receipt = {"outcome": "scored", "key": "incoming/d.csv", "model_version": "v1", "outputs": {}, "drift": drift}

    subject, message = drift_alert(receipt, pipeline="reviews")
    assert subject == "reviews: drift in d.csv"

    assert "review:" in message and "of words are new, e.g." in message and " mid" in message
    assert "new words: " in text_line(drift["text"]["review"])
    labels, expected, actual = chart_bars(profile["features"]["review"], drift["actual"]["review"])
    assert labels[-1] == "(words not in the vocabulary)" and len(labels) == len(expected) == len(actual)
