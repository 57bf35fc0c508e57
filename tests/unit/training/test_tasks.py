"""Every task end to end on moto: multiclass with named classes (iris), regression (diabetes), and the
rules of mlops_core.config.task: label reading, classes, metric directions, output columns."""

from __future__ import annotations

import dataclasses
import json
import tomllib

import boto3
import numpy as np
import pytest
from scoring.logic import Clients, ScoringContext, score_job

from mlops_core.config import ConfigError, PromotionSettings, parse_config
from mlops_core.config.task import Task, canonical_labels
from mlops_core.environment import ScoringEnvironment
from mlops_core.modeling.predictions import proba_columns
from mlops_core.registry.promotion import decide
from mlops_core.registry.store import Registry
from tests.unit.conftest import DATA, MODELS, REGION
from tests.unit.examples_loader import EXAMPLES, example_config, load_example
from tests.unit.lambdas.scoring.test_scoring import CountingCloudWatch, put, read_csv
from training.data import TrainingDataError
from training.train import train_and_register


@pytest.fixture(scope="module")
def iris_files(tmp_path_factory):
    training, batch, drifted = load_example("iris").write(tmp_path_factory.mktemp("iris"))
    return training.read_bytes(), batch.read_bytes(), drifted.read_bytes()


@pytest.fixture(scope="module")
def diabetes_files(tmp_path_factory):
    training, batch, drifted = load_example("diabetes").write(tmp_path_factory.mktemp("diabetes"))
    return training.read_bytes(), batch.read_bytes(), drifted.read_bytes()


def scoring_env(aws, config):
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="scoring")["QueueUrl"]
    clients = Clients(aws, CountingCloudWatch(boto3.client("cloudwatch", region_name=REGION)), sqs)
    return clients, ScoringContext(ScoringEnvironment(DATA, MODELS, queue_url, "MLOps"), config)


def train(aws, config, key: str, body: bytes) -> dict:
    aws.put_object(Bucket=DATA, Key=key, Body=body)
    return train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=config)


def drift_report(aws, outcome) -> dict:
    """The job's drift report: its counts, drift summary and labeled metrics."""
    key = outcome.detail["outputs"]["drift_report"]
    return json.loads(aws.get_object(Bucket=DATA, Key=key)["Body"].read())


def raw_config(name: str) -> dict:
    return tomllib.loads((EXAMPLES / name / "mlops.toml").read_text())


# ---------------------------------------------------------------------------- multiclass: iris
def test_given_iris_with_named_classes_when_trained_then_every_row_is_used_and_three_classes_are_learned(
    aws, iris_files
):
    result = train(aws, example_config("iris"), "training/iris.csv", iris_files[0])
    assert result["promoted"]
    (entry,) = result["files"]
    assert entry["rows"] == 120 and entry["skipped"] == {"bad_feature": 0, "bad_label": 0, "missing_label": 0}
    assert set(result["metrics"]) >= {"accuracy", "f1_macro", "log_loss", "recall", "rows"}
    assert set(result["metrics"]["recall"]) == {"setosa", "versicolor", "virginica"}


def test_given_an_iris_champion_when_batches_are_scored_then_class_columns_and_drift_speak_multiclass(aws, iris_files):
    config = example_config("iris")
    champion = train(aws, config, "training/iris.csv", iris_files[0])["version"]
    clients, settings = scoring_env(aws, config)
    clean = score_job(put(aws, "incoming/clean.csv", iris_files[1]), clients=clients, context=settings)
    rows = read_csv(aws, clean.detail["outputs"]["predictions"])
    assert list(rows[0]) == [
        "flower_id",
        *("prediction", "score", "proba_setosa", "proba_versicolor", "proba_virginica", "model_version"),
    ]
    assert {r["prediction"] for r in rows} == {"setosa", "versicolor", "virginica"}
    row = rows[0]
    probabilities = [float(row[c]) for c in ("proba_setosa", "proba_versicolor", "proba_virginica")]
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5) and float(row["score"]) == max(probabilities)
    assert drift_report(aws, clean)["drift"]["verdict"] is False and row["model_version"] == champion

    drifted = score_job(put(aws, "incoming/drifted.csv", iris_files[2]), clients=clients, context=settings)
    report = drift_report(aws, drifted)
    assert report["drift"]["verdict"] is True
    labeled = report["labeled"]
    assert labeled["rows"] == 300 and labeled["accuracy"] < config.drift.accuracy_floor
    assert set(labeled["recall"]) == {"setosa", "versicolor", "virginica"}
    assert clients.cloudwatch.metric_values("ModelAccuracy") == [labeled["accuracy"]]


def test_given_a_drifted_labeled_iris_batch_in_feedback_when_retrained_then_the_gate_promotes_by_accuracy(
    aws, iris_files
):
    config = example_config("iris")
    first = train(aws, config, "training/iris.csv", iris_files[0])
    clients, settings = scoring_env(aws, config)
    score_job(put(aws, "incoming/drifted.csv", iris_files[2]), clients=clients, context=settings)
    second = train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=config)
    assert second["promoted"], second["decision"]
    assert second["decision"]["champion"] == first["version"]
    assert second["metrics"]["accuracy"] > second["champion_metrics"]["accuracy"]


def test_given_a_label_outside_the_configured_classes_when_trained_then_it_is_counted_with_its_value(aws, iris_files):
    body = iris_files[0].replace(b",setosa\n", b",Setosa?\n", 3)
    config = dataclasses.replace(
        example_config("iris"), training=dataclasses.replace(example_config("iris").training, max_bad_row_share=0.1)
    )
    result = train(aws, config, "training/iris.csv", body)
    (entry,) = result["files"]
    assert entry["rows"] == 117 and entry["skipped"]["bad_label"] == 3 and entry["bad_labels"] == {"Setosa?": 3}


def test_given_more_bad_labels_than_the_share_when_trained_then_the_run_fails_naming_file_counts_and_values(
    aws, iris_files
):
    body = iris_files[0].replace(b",virginica\n", b",virginca\n")
    with pytest.raises(TrainingDataError, match=r"training/iris\.csv: \d+ of 120 rows skipped.*bad_label.*'virginca'"):
        train(aws, example_config("iris"), "training/iris.csv", body)


def test_given_classes_found_in_the_data_when_labels_mix_numbers_and_text_then_the_run_fails_clearly(aws, iris_files):
    raw = raw_config("iris")
    del raw["label"]["classes"]
    body = iris_files[0].replace(b",setosa\n", b",1\n", 2)
    with pytest.raises(TrainingDataError, match=r"mixes numbers \(1\) and text"):
        train(aws, parse_config(raw), "training/iris.csv", body)


def test_given_classes_found_in_the_data_when_a_batch_brings_a_new_class_then_it_is_scored_counted_and_kept(
    aws, iris_files
):
    raw = raw_config("iris")
    del raw["label"]["classes"]
    config = parse_config(raw)
    version = train(aws, config, "training/iris.csv", iris_files[0])["version"]
    manifest_schema = Registry(aws, MODELS).manifest(version)["schema"]
    assert (
        manifest_schema["classes"] == ["setosa", "versicolor", "virginica"] and manifest_schema["classes_found_in_data"]
    )
    clients, settings = scoring_env(aws, config)
    body = iris_files[2].replace(b",setosa\n", b",hybrid\n")
    outcome = score_job(put(aws, "incoming/new-class.csv", body), clients=clients, context=settings)
    assert outcome.status == "scored" and outcome.detail["bad_rows"] == 0
    hybrids = body.count(b",hybrid\n")
    assert drift_report(aws, outcome)["labeled"]["unseen_classes"] == {"hybrid": hybrids}
    feedback = aws.get_object(Bucket=DATA, Key=outcome.detail["outputs"]["feedback"])["Body"].read()
    assert feedback.count(b",hybrid\r\n") == hybrids


def test_given_a_binary_task_when_the_data_holds_three_classes_then_the_run_fails_naming_them(aws, iris_files):
    raw = raw_config("iris")
    raw["label"] = {"column": "species", "task": "binary"}
    raw["promotion"]["metric"] = "roc_auc"
    with pytest.raises(TrainingDataError, match=r"binary task needs exactly 2 classes.*'setosa', 'versicolor'"):
        train(aws, parse_config(raw), "training/iris.csv", iris_files[0])


# ---------------------------------------------------------------------------- regression: diabetes
def test_given_diabetes_when_trained_then_it_is_a_regressor_judged_by_rmse_lower_is_better(aws, diabetes_files):
    result = train(aws, example_config("diabetes"), "training/diabetes.csv", diabetes_files[0])
    assert result["promoted"] and set(result["metrics"]) == {"rmse", "mae", "r2", "rows"}
    assert "ceiling" in result["decision"]["reasons"][0]


def test_given_a_diabetes_champion_when_batches_are_scored_then_values_are_predicted_and_mae_published(
    aws, diabetes_files
):
    config = example_config("diabetes")
    train(aws, config, "training/diabetes.csv", diabetes_files[0])
    clients, settings = scoring_env(aws, config)
    clean = score_job(put(aws, "incoming/clean.csv", diabetes_files[1]), clients=clients, context=settings)
    rows = read_csv(aws, clean.detail["outputs"]["predictions"])
    assert list(rows[0]) == ["patient_id", "prediction", "model_version"]
    assert all(25 <= float(r["prediction"]) <= 346 for r in rows)
    assert drift_report(aws, clean)["drift"]["verdict"] is False
    drifted = drift_report(
        aws, score_job(put(aws, "incoming/drifted.csv", diabetes_files[2]), clients=clients, context=settings)
    )
    assert drifted["drift"]["verdict"] is True and drifted["labeled"]["mae"] > config.drift.max_error
    assert clients.cloudwatch.metric_values("ModelMeanAbsoluteError") == [drifted["labeled"]["mae"]]
    assert clients.cloudwatch.metric_values("ModelAccuracy") == []


def test_given_regression_labels_that_are_not_finite_numbers_then_each_is_a_bad_label_with_its_value(
    aws, diabetes_files
):
    lines = diabetes_files[0].decode().splitlines()
    for k, bad in enumerate(("NaN", "inf", "lots"), start=1):
        lines[k] = lines[k].rsplit(",", 1)[0] + "," + bad
    lines[4] = lines[4].rsplit(",", 1)[0] + ","  # an empty label is missing, not bad
    result = train(aws, example_config("diabetes"), "training/diabetes.csv", ("\n".join(lines) + "\n").encode())
    (entry,) = result["files"]
    assert entry["skipped"] == {"bad_feature": 0, "bad_label": 3, "missing_label": 1} and entry["rows"] == 346
    assert entry["bad_labels"] == {"NaN": 1, "inf": 1, "lots": 1}


def test_given_a_drifted_labeled_diabetes_batch_when_retrained_then_the_lower_rmse_is_promoted(aws, diabetes_files):
    config = example_config("diabetes")
    train(aws, config, "training/diabetes.csv", diabetes_files[0])
    clients, settings = scoring_env(aws, config)
    score_job(put(aws, "incoming/drifted.csv", diabetes_files[2]), clients=clients, context=settings)
    second = train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=config)
    assert second["promoted"], second["decision"]
    assert second["metrics"]["rmse"] < second["champion_metrics"]["rmse"]


# ---------------------------------------------------------------------------- the rules
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["label"].update(task="binary"), r"binary task needs exactly 2 classes"),
        (lambda r: r["label"].update(task="ranking"), r"task must be one of binary, multiclass, regression"),
        (lambda r: r["label"].update(positive_class="setosa"), r"positive_class applies to a binary task only"),
        (lambda r: r["promotion"].update(metric="rmse"), r"metric 'rmse' does not fit a multiclass task"),
        (lambda r: r["drift"].update(max_error=3.0), r"max_error applies to a regression task"),
        (lambda r: r["label"].update(classes=["a", "a", "b"]), r"classes has duplicates"),
        (lambda r: r["model"].update(estimator="sklearn.linear_model.Ridge", params={}), r"is not a classifier"),
    ],
)
def test_given_a_config_that_does_not_fit_its_task_then_one_clear_error(change, message):
    raw = raw_config("iris")
    change(raw)
    with pytest.raises(ConfigError, match=message):
        config = parse_config(raw)
        from mlops_core.modeling.pipeline import build_pipeline

        build_pipeline(config)


def test_given_a_regression_config_with_classes_or_a_classification_metric_then_it_is_refused():
    raw = raw_config("diabetes")
    raw["label"]["classes"] = [1, 2]
    with pytest.raises(ConfigError, match="classes do not apply to a regression task"):
        parse_config(raw)
    raw = raw_config("diabetes")
    raw["promotion"]["metric"] = "accuracy"
    with pytest.raises(ConfigError, match="does not fit a regression task; use one of rmse, mae, r2"):
        parse_config(raw)


def test_given_label_cells_then_whole_numbers_lose_their_decimal_part_and_text_is_stripped():
    assert canonical_labels([" 1", "1.0", "0", "-2.0", "1.5", "setosa ", "", "nan"]).tolist() == [
        "1",
        "1",
        "0",
        "-2",
        "1.5",
        "setosa",
        "",
        "nan",
    ]


@pytest.mark.parametrize(
    ("metric", "candidate", "champion", "promote"),
    [
        ("rmse", 50.0, 51.0, True),  # lower is better
        ("rmse", 52.5, 51.0, True),  # within the tolerance above the champion
        ("rmse", 54.0, 51.0, False),  # beyond it
        ("rmse", 80.0, None, False),  # above the ceiling
        ("r2", 0.45, 0.46, True),
        ("r2", 0.40, 0.46, False),
    ],
)
def test_given_a_metric_direction_when_the_gate_decides_then_tolerance_and_floor_follow_it(
    metric, candidate, champion, promote
):
    floor = 75.0 if metric == "rmse" else 0.3
    tolerance = 2.0 if metric == "rmse" else 0.02
    settings = PromotionSettings(metric=metric, tolerance=tolerance, floor=floor)
    decision = decide({metric: candidate}, None if champion is None else {metric: champion}, settings)
    assert decision.promote is promote


def test_given_class_names_that_are_not_column_safe_then_proba_columns_are_safe_and_unique():
    assert proba_columns(("setosa", "Iris virginica", "a,b", "a;b", "0")) == [
        "proba_setosa",
        "proba_Iris_virginica",
        "proba_a_b",
        "proba_a_b_2",
        "proba_0",
    ]


def test_given_a_manifest_from_before_tasks_then_it_reads_as_binary_zero_one_with_configured_classes():
    task = Task.from_schema({"features": [], "label": "churned", "positive_class": 1})
    assert task == Task("binary", ("0", "1"), "1", found_in_data=False)
    assert np.array_equal(task.label_reading.classes, ("0", "1"))


def test_given_a_multiclass_task_with_two_classes_when_scored_then_prediction_drift_bins_the_classes(aws, iris_files):
    lines = iris_files[0].decode().splitlines()
    two = "\n".join(line for line in lines if not line.endswith(",setosa")) + "\n"
    raw = raw_config("iris")
    raw["label"]["classes"] = ["versicolor", "virginica"]
    raw["training"]["min_rows"] = 50
    config = parse_config(raw)
    train(aws, config, "training/two.csv", two.encode())
    clients, settings = scoring_env(aws, config)
    batch = "\n".join(line.rsplit(",", 1)[0] for line in two.splitlines()) + "\n"
    outcome = score_job(put(aws, "incoming/two.csv", (batch * 2).encode()), clients=clients, context=settings)
    drift = drift_report(aws, outcome)["drift"]
    assert drift["verdict"] is False and drift["prediction_psi"] < 0.1
    rows = read_csv(aws, outcome.detail["outputs"]["predictions"])
    assert list(rows[0])[1:] == ["prediction", "score", "proba_versicolor", "proba_virginica", "model_version"]
