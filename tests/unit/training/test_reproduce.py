"""Data versions pinned and runs trained again from them (training/data.py, provenance.py, reproduce.py),
against moto S3 with the data bucket versioned as the stack has it."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from mlops_core.config import config_record, recorded_config
from mlops_core.registry.runs import RunLedger
from mlops_core.registry.store import Registry
from mlopsctl.commands.provenance import reproduction_lines
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS, run_training_job
from training.data import DataVersionGone
from training.provenance import code_record
from training.reproduce import PREDICTION_TOLERANCE, NotReproducible, compare, reproduce_run

BASE = "training/base.csv"


def job(aws, config, *, run_id: str = "run-1", reproduce: str | None = None) -> dict:
    """One run of the training job (the code both backends run), or a reproduction of run `reproduce`."""
    return run_training_job(
        aws, config, run_id=run_id, trigger={"source": "manual", **({"reproduce": reproduce} if reproduce else {})}
    )


@pytest.fixture(autouse=True)
def _no_metrics(monkeypatch):
    monkeypatch.setattr("training.job.put_metrics", lambda *args, **kwargs: None)


def reproduce(aws, config, run_id: str = "run-1") -> dict:
    return reproduce_run(aws, data_bucket=DATA, models_bucket=MODELS, run_id=run_id, deployed=config)


def test_given_a_run_then_its_manifest_pins_each_file_version_the_config_the_code_and_the_libraries(aws, config):
    put = aws.put_object(Bucket=DATA, Key=BASE, Body=generate(1500, seed=1))
    held = aws.put_object(Bucket=DATA, Key="holdout/reference.csv", Body=generate(400, seed=9))
    manifest = Registry(aws, MODELS).manifest(job(aws, config)["version"])
    files = {entry["key"]: entry for entry in manifest["data"]}
    assert files[BASE]["version_id"] == put["VersionId"] and files[BASE]["source"] == "training"
    assert files["holdout/reference.csv"]["version_id"] == held["VersionId"]
    assert manifest["config"] == config_record() and recorded_config(manifest["config"]) == config
    assert manifest["code"] == code_record() and len(manifest["code"]["sha256"]) == 64
    assert {"python", "sklearn", "numpy", "scipy", "pandas", "joblib"} <= set(manifest["versions"])


def test_given_the_training_file_overwritten_when_reproduced_then_the_old_version_is_read_and_all_is_identical(
    aws, config
):
    aws.put_object(Bucket=DATA, Key=BASE, Body=generate(1500, seed=1))
    version = job(aws, config)["version"]
    aws.put_object(Bucket=DATA, Key=BASE, Body=generate(1500, seed=2))  # other rows, same key
    result = reproduce(aws, config)
    assert result["verdict"] == "reproduced" and result["max_prediction_gap"] == 0, result
    assert result["reproduces"] == {"run_id": "run-1", "version": version}
    assert result["differences"] == [] and result["changed"] == [] and result["holdout_rows"] == 300
    assert Registry(aws, MODELS).champion().version == version  # nothing registered, nothing moved
    assert len(Registry(aws, MODELS).versions()) == 1


def test_given_a_changed_config_when_reproduced_then_the_recorded_one_is_used(aws, config):
    aws.put_object(Bucket=DATA, Key=BASE, Body=generate(1500, seed=1))
    job(aws, config)
    other = dataclasses.replace(config, model=dataclasses.replace(config.model, seed=config.model.seed + 1))
    assert reproduce(aws, other)["verdict"] == "reproduced"


def test_given_a_read_version_deleted_when_reproduced_then_not_reproducible_naming_the_key_and_version(aws, config):
    put = aws.put_object(Bucket=DATA, Key=BASE, Body=generate(1500, seed=1))
    job(aws, config)
    aws.put_object(Bucket=DATA, Key=BASE, Body=generate(1500, seed=2))
    aws.delete_object(Bucket=DATA, Key=BASE, VersionId=put["VersionId"])  # as the lifecycle rule would expire it
    with pytest.raises(DataVersionGone, match=f"s3://{DATA}/{BASE} version {put['VersionId']} is gone"):
        reproduce(aws, config)


def test_given_a_reproduction_through_the_job_then_its_record_says_the_verdict_and_the_lock_is_free(aws, config):
    aws.put_object(Bucket=DATA, Key=BASE, Body=generate(1500, seed=1))
    job(aws, config)
    ledger = RunLedger(aws, MODELS)
    result = job(aws, config, run_id="run-2", reproduce="run-1")
    record = ledger.get("run-2")
    assert result["status"] == record["status"] == "succeeded"
    assert record["reproduction"]["verdict"] == "reproduced" and ledger.current_lock() is None
    assert "version" not in record and len(Registry(aws, MODELS).versions()) == 1
    lines = reproduction_lines(record["reproduction"])
    assert (
        lines[0].startswith("reproduced: run-1 (version v") and "holdout predictions on 300 rows identical" in lines[0]
    )


@pytest.mark.parametrize(
    ("run_id", "message"),
    [("run-missing", "no training run run-missing"), ("run-failed", "run run-failed registered no model (failed)")],
)
def test_given_a_run_without_a_model_when_reproduced_through_the_job_then_failed_saying_why(
    aws, config, run_id, message
):
    ledger = RunLedger(aws, MODELS)
    ledger.record("run-failed", status="failed", error="TrainingDataError: no rows")
    job(aws, config, run_id="run-r", reproduce=run_id)
    record = ledger.get("run-r")
    assert record["status"] == "failed" and message in record["error"] and ledger.current_lock() is None


def test_given_an_old_manifest_without_version_ids_when_reproduced_then_not_reproducible_saying_so(aws, config):
    aws.put_object(Bucket=DATA, Key=BASE, Body=generate(1500, seed=1))
    version = job(aws, config)["version"]
    registry = Registry(aws, MODELS)
    old = registry.manifest(version)
    for entry in old["data"]:
        entry.pop("version_id")
    for key in ("config", "code"):
        old.pop(key)
    aws.put_object(Bucket=MODELS, Key=f"models/{version}/manifest.json", Body=json.dumps(old))
    with pytest.raises(NotReproducible, match=f"did not record which version of {BASE} it read"):
        reproduce(aws, config)


@pytest.mark.parametrize(
    ("metrics", "predictions", "verdict"),
    [
        (({"auc": 0.8}, {"auc": 0.8}), ([0.1, 0.9], [0.1, 0.9]), "reproduced"),
        (({"auc": 0.8}, {"auc": 0.8 + 1e-12}), ([0.1, 0.9], [0.1, 0.9 + 1e-12]), "reproduced within tolerance"),
        (({"auc": 0.8}, {"auc": 0.7}), ([0.1, 0.9], [0.1, 0.9]), "differs"),
        (({"auc": 0.8}, {"auc": 0.8}), ([0.1, 0.9], [0.1, 0.8]), "differs"),
        (({"auc": 0.8}, {"auc": 0.8}), ([0.1, 0.9], [0.1]), "differs"),
    ],
)
def test_given_an_original_and_a_reproduction_then_compared_exactly_or_within_the_stated_tolerance(
    metrics, predictions, verdict
):
    result = compare(metrics=metrics, predictions=tuple(np.asarray(p) for p in predictions))
    assert result["verdict"] == verdict
    assert bool(result["differences"]) == (verdict == "differs")
    assert PREDICTION_TOLERANCE == 1e-9
