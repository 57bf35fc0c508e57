"""Scoring blanks and new categories, on the fast and the precise path alike: imputed blanks and
categories with unknown = "score" are scored (the new values named in the drift report), blanks and
categories under "reject" stay bad rows with their reason."""

from __future__ import annotations

import dataclasses
import io
import os

import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from mlops_core.registry.store import Registry
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS, REGION
from tests.unit.data.test_fastpath import score_both_ways
from tests.unit.training.test_missing import with_blanks
from training.train import train_and_register


@pytest.fixture(scope="module")
def forgiving(config):
    """tenure_months and contract impute blanks, contract scores new categories; the others reject both."""
    features = tuple(
        dataclasses.replace(f, missing="impute", unknown="score" if f.is_categorical else "reject")
        if f.name in ("tenure_months", "contract")
        else f
        for f in config.features
    )
    return dataclasses.replace(config, features=features)


@pytest.fixture(scope="module")
def trained_forgiving(forgiving) -> tuple[bytes, dict]:
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=DATA)
        s3.create_bucket(Bucket=MODELS)
        s3.put_object(Bucket=DATA, Key="training/gaps.csv", Body=with_blanks(2000, 0.2))
        result = train_and_register(s3, data_bucket=DATA, models_bucket=MODELS, config=forgiving)
        manifest = Registry(s3, MODELS).manifest(result["version"])
        artifact = s3.get_object(Bucket=MODELS, Key=manifest["artifact_key"])["Body"].read()
    return artifact, manifest


def batch(edit) -> bytes:
    """A generated unlabeled batch of 1,000 rows, changed by `edit(frame, rows)` where `rows` is every tenth row."""
    frame = pd.read_csv(io.BytesIO(generate(1000, seed=5)), dtype=str, keep_default_na=False).drop(columns="churned")
    edit(frame, np.arange(1000) % 10 == 0)
    return frame.to_csv(index=False).encode()


def both(body: bytes, trained, config, tmp_path):
    fast, precise = score_both_ways(
        body, name="incoming/b.csv", trained=trained, config=config, chunk_rows=250, tmp_path=tmp_path
    )
    assert fast == precise
    return fast


def test_given_blanks_in_imputed_features_when_scored_then_every_row_is_scored_on_both_paths(
    trained_forgiving, forgiving, tmp_path
):
    def blanks(frame, rows):
        frame.loc[rows, "tenure_months"] = ""
        frame.loc[rows, "contract"] = " "

    outcome = both(batch(blanks), trained_forgiving, forgiving, tmp_path)

    assert outcome[0] == "scored" and outcome[1][:3] == (1000, 1000, [])
    assert outcome[5]["new_categories"] == {}  # a blank is not a new category


def test_given_blanks_in_a_reject_feature_when_scored_then_their_rows_are_bad_with_the_reason(
    trained_forgiving, forgiving, tmp_path
):
    def blanks(frame, rows):
        frame.loc[rows, "payment_method"] = ""

    outcome = both(batch(blanks), trained_forgiving, forgiving, tmp_path)

    assert outcome[0] == "scored" and outcome[1][:2] == (1000, 900)
    assert outcome[1][3] == {"missing": 100}
    first = outcome[1][2][0]
    assert first["column"] == "payment_method" and 'missing = "impute"' in first["fix"]


def test_given_new_categories_in_a_score_feature_when_scored_then_scored_and_named_most_frequent_first(
    trained_forgiving, forgiving, tmp_path
):
    def new(frame, rows):
        frame.loc[rows, "contract"] = np.where(np.arange(rows.sum()) % 4 == 0, "weekly", "lifetime")

    outcome = both(batch(new), trained_forgiving, forgiving, tmp_path)

    assert outcome[0] == "scored" and outcome[1][:3] == (1000, 1000, [])
    assert outcome[5]["new_categories"] == {
        "contract": [{"value": "lifetime", "rows": 75}, {"value": "weekly", "rows": 25}]
    }


def test_given_new_categories_in_a_reject_feature_when_scored_then_their_rows_are_bad_as_before(
    trained_forgiving, forgiving, tmp_path
):
    def new(frame, rows):
        frame.loc[rows, "payment_method"] = "crypto"

    outcome = both(batch(new), trained_forgiving, forgiving, tmp_path)

    assert outcome[0] == "scored" and outcome[1][:2] == (1000, 900)
    assert outcome[1][3] == {"unknown_category": 100} and outcome[5]["new_categories"] == {}
    first = outcome[1][2][0]
    assert "'crypto'" in first["message"] and 'unknown = "score"' in first["fix"]


IMPUTED = ("tenure_months", "contract")


def training_shares(manifest: dict) -> dict[str, float]:
    return {name: manifest["profile"]["features"][name]["quality"]["missing_share"] for name in IMPUTED}


def blank_at(frame: pd.DataFrame, shares: dict[str, float]) -> None:
    """Blank each imputed column in about its share of the rows, as training saw it."""
    rng = np.random.default_rng(7)
    for name, share in shares.items():
        frame.loc[rng.random(len(frame)) < share, name] = ""


def test_given_an_upstream_bug_that_blanks_an_imputed_column_when_scored_then_the_verdict_names_it(
    trained_forgiving, forgiving, tmp_path
):
    shares = training_shares(trained_forgiving[1])

    def blank_all(frame, rows):
        blank_at(frame, shares)
        frame["tenure_months"] = ""

    outcome = both(batch(blank_all), trained_forgiving, forgiving, tmp_path)
    drift = outcome[5]

    assert outcome[0] == "scored" and outcome[1][:3] == (1000, 1000, [])  # imputed: every row still scored
    reference = shares["tenure_months"]
    assert 0 < reference < 0.5 and drift["verdict"] is True
    assert drift["quality_drifted_features"] == ["tenure_months"] and "tenure_months" in drift["drifted_features"]
    assert f"data quality: tenure_months: 100% missing (reference {reference:.0%})" in drift["reasons"]
    assert drift["quality"]["tenure_months"]["missing_share"] == 1.0


def test_given_a_batch_with_the_training_share_of_blanks_when_scored_then_no_quality_drift(
    trained_forgiving, forgiving, tmp_path
):
    shares = training_shares(trained_forgiving[1])

    drift = both(batch(lambda frame, rows: blank_at(frame, shares)), trained_forgiving, forgiving, tmp_path)[5]

    assert drift["quality_drifted_features"] == []
    assert all(abs(drift["quality"][name]["missing_share"] - shares[name]) < 0.05 for name in IMPUTED)
    assert all(0.1 < share < 0.3 for share in shares.values())  # training's blanks: 20% of the cells
