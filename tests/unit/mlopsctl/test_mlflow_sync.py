"""`mlops mlflow sync` against moto S3 and MLflow's own SQLite store (the client, no server): runs, datasets,
the leaderboard, registered versions with their tags, the aliases; idempotent, and completed after a failure."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlops_core.registry.store import Registry
from mlops_core.storage import layout
from mlops_core.storage.lock import ObjectLock
from mlopsctl import mlflow_sync, mlflow_version
from mlopsctl.datagen import generate
from mlopsctl.stack import Pipeline
from tests.unit.conftest import DATA, MODELS, REGION, run_training_job


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """One MLflow SQLite store for the module (creating its tables takes seconds); each test has its own names."""
    return tmp_path_factory.mktemp("mlflow")


@dataclass(frozen=True)
class Tracking:
    uri: str
    name: str  # the test's own experiment and registered model


@pytest.fixture
def tracking(store, monkeypatch, request) -> Tracking:
    monkeypatch.chdir(store)  # MLflow's SQLite store puts artifacts under ./mlruns
    return Tracking(f"sqlite:///{store / 'mlflow.db'}", request.node.name[-60:])


@pytest.fixture
def pipeline(aws, monkeypatch) -> Pipeline:
    monkeypatch.setattr("training.job.put_metrics", lambda *args, **kwargs: None)
    return Pipeline({"DataBucket": DATA, "ModelsBucket": MODELS}, boto3.Session(region_name=REGION), None)


def two_runs(aws, config) -> list[dict]:
    """Two training runs on other data: two versions, the first promoted (the second may or may not be)."""
    results = []
    for index in (1, 2):
        aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(1200, seed=index))
        results.append(
            run_training_job(aws, config, run_id=f"run-{index}", trigger={"source": "manual", "reason": f"r{index}"})
        )
    return results


def sync(pipeline: Pipeline, tracking: Tracking) -> mlflow_sync.SyncReport:
    return mlflow_sync.sync(pipeline, tracking_uri=tracking.uri, experiment=tracking.name, model_name=tracking.name)


def test_given_two_runs_when_synced_then_runs_versions_and_the_champion_alias_are_in_mlflow_and_again_adds_nothing(
    aws, config, pipeline, tracking
):
    results = two_runs(aws, config)
    report = sync(pipeline, tracking)
    # Versions sort by their id, whose second two quick runs may share: compare as sets.
    assert report.runs == ["run-1", "run-2"] and sorted(report.versions) == sorted(r["version"] for r in results)
    champion = Registry(aws, MODELS).champion().version
    assert report.aliases == {"champion": champion, "challenger": None}

    client = MlflowClient(tracking.uri)
    experiment = client.get_experiment_by_name(tracking.name).experiment_id
    runs = {r.data.tags["mlops.run_id"]: r for r in client.search_runs([experiment])}
    assert set(runs) == {"run-1", "run-2"}
    first = runs["run-1"]
    manifest = Registry(aws, MODELS).manifest(results[0]["version"])
    assert first.data.metrics["roc_auc"] == pytest.approx(manifest["metrics"]["roc_auc"])
    assert first.data.tags["mlops.version"] == results[0]["version"] and first.data.tags["mlops.trigger"] == "manual"
    assert first.data.tags["mlops.config_sha256"] == manifest["config"]["sha256"]
    [dataset] = [d.dataset for d in first.inputs.dataset_inputs]
    assert dataset.name == "training/base.csv" and dataset.digest == manifest["data"][0]["sha256"][:36]
    assert manifest["data"][0]["version_id"] in dataset.source

    versions = {v.tags["mlops.version"]: v for v in client.search_model_versions(f"name = '{tracking.name}'")}
    assert set(versions) == {r["version"] for r in results}
    assert client.get_model_version_by_alias(tracking.name, "champion").tags["mlops.version"] == champion

    again = sync(pipeline, tracking)
    assert again.added == 0 and len(client.search_runs([experiment])) == 2


def test_given_the_champion_in_mlflow_then_pyfunc_predicts_as_the_registry_model(aws, config, pipeline, tracking):
    import mlflow

    two_runs(aws, config)
    sync(pipeline, tracking)
    mlflow.set_tracking_uri(tracking.uri)
    loaded = mlflow.pyfunc.load_model(f"models:/{tracking.name}@champion")
    model, _ = Registry(aws, MODELS).load_model(Registry(aws, MODELS).champion().version)
    rows = pd.read_csv(io.BytesIO(generate(300, seed=7, with_label=False)))[config.feature_names]
    numeric = [f.name for f in config.features if f.type == "numeric"]
    rows[numeric] = rows[numeric].astype(float)  # the model's input: numbers as float64 (the signature says so)
    assert (np.asarray(loaded.predict(rows)) == model.predict(rows)).all()


def test_given_a_sync_that_failed_half_way_then_the_next_completes_it_without_duplicates(
    aws, config, pipeline, tracking, monkeypatch
):
    two_runs(aws, config)
    real = mlflow_version.log_model
    calls = []

    def fail_second(run_id, manifest, pipeline_):
        calls.append(run_id)
        if len(calls) == 2:
            raise mlflow_sync.MlflowException("the server went away")
        return real(run_id, manifest, pipeline_)

    monkeypatch.setattr(mlflow_version, "log_model", fail_second)
    with pytest.raises(mlflow_sync.SyncError, match="the server went away"):
        sync(pipeline, tracking)
    monkeypatch.setattr(mlflow_version, "log_model", real)
    report = sync(pipeline, tracking)
    assert report.runs == ["run-2"]  # run-1 was complete; run-2's half-logged run was replaced
    client = MlflowClient(tracking.uri)
    experiment = client.get_experiment_by_name(tracking.name).experiment_id
    tags = [r.data.tags["mlops.run_id"] for r in client.search_runs([experiment])]
    assert sorted(tags) == ["run-1", "run-2"]
    assert len(client.search_model_versions(f"name = '{tracking.name}'")) == 2


def test_given_no_tracking_server_then_a_clear_error_naming_it(pipeline):
    with pytest.raises(mlflow_sync.SyncError, match=r"the MLflow tracking server at http://127\.0\.0\.1:9 failed"):
        mlflow_sync.sync(pipeline, tracking_uri="http://127.0.0.1:9", experiment="x", model_name="x")


def test_given_a_run_in_progress_then_it_and_its_version_wait_for_the_sync_after_it_ends(
    aws, config, pipeline, tracking
):
    results = two_runs(aws, config)
    ledger = pipeline.ledger()
    ended = ledger.get("run-2")
    ledger.record("run-2", status="started")  # as an alarm's run reads while it trains: its version is written

    first = sync(pipeline, tracking)
    assert (first.runs, first.versions) == (["run-1"], [results[0]["version"]])

    ledger.record("run-2", status=ended["status"])
    second = sync(pipeline, tracking)
    assert (second.runs, second.versions) == (["run-2"], [results[1]["version"]])
    client = MlflowClient(tracking.uri)
    [run] = client.search_runs(
        [client.get_experiment_by_name(tracking.name).experiment_id], "tags.`mlops.run_id` = 'run-2'"
    )
    assert run.info.status == "FINISHED" and run.data.metrics


def test_given_another_sync_running_then_this_one_says_so_logs_nothing_and_a_sync_after_it_logs_each_run_once(
    aws, config, pipeline, tracking
):
    two_runs(aws, config)
    lock = ObjectLock(aws, MODELS, layout.TRACKING_LOCK_KEY)
    assert lock.acquire("sync-other", ttl_seconds=60, now=datetime.now(UTC))

    with pytest.raises(mlflow_sync.SyncError, match=r"another MLflow sync of this stack is running \(sync-other\)"):
        sync(pipeline, tracking)
    client = MlflowClient(tracking.uri)
    assert client.get_experiment_by_name(tracking.name) is None  # nothing touched

    assert lock.release("sync-other")
    assert sync(pipeline, tracking).runs == ["run-1", "run-2"]
    assert lock.current() is None  # a sync leaves no lock behind


def test_given_a_sync_that_fails_then_it_leaves_no_lock(aws, config, pipeline, tracking, monkeypatch):
    two_runs(aws, config)
    monkeypatch.setattr(mlflow_version, "log_model", lambda *args: (_ for _ in ()).throw(MlflowException("gone")))
    with pytest.raises(mlflow_sync.SyncError, match="gone"):
        sync(pipeline, tracking)
    assert ObjectLock(aws, MODELS, layout.TRACKING_LOCK_KEY).current() is None
