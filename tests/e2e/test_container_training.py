"""The training image, built and run here: a project with `[training] local_backend = "container"` on its own
stack, whose runs train in the image SageMaker runs on AWS (training/Dockerfile, built by `mlops image build`),
started and ended as SageMaker starts and ends a job (training/local_jobs.py).

In order, on one stack: two alarms at the same moment start one run, in the container, which succeeds and is
promoted; the scoring Lambda scores a batch with that model; the training Lambda, on the same data, config and
seeds, trains a model that predicts the same; a container killed for its memory leaves the champion, releases
the lock and tells people; a run that cannot train says why; and the first run, its training file since
overwritten, is reproduced (in the container again) from the object version it read, until that version is gone;
then everything is synced to a real MLflow server, whose champion predicts as the scoring Lambda does; and with
`[tracking] mlflow_uri` in the config, a run reaches MLflow through the commands alone.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import requests

from mlops_core.config import CONFIG_ENV, load_config
from mlopsctl import runs, stack
from mlopsctl.datagen import generate
from training.local_jobs import STATUS_FILE

from .conftest import ROOT, alert_naming, deploy_own_stack, mlops, subscribe_probe

PROJECT = "e2e-container"
# Inside the repository, as the image's build context needs (the folder is ignored by git).
CONFIG = ROOT / "tests" / "e2e" / "fixtures" / "generated" / PROJECT / "mlops.toml"


@pytest.fixture(scope="module")
def project(local_aws, request) -> Path:
    """The project's config, its training image built, its stack deployed (the stack, then the config, deleted
    after the module)."""
    text = (ROOT / "mlops.toml").read_text().replace('name = "mlops"', f'name = "{PROJECT}"', 1)
    text = text.replace("[training]\n", '[training]\nlocal_backend = "container"\n', 1)
    CONFIG.parent.mkdir(parents=True, exist_ok=True)
    CONFIG.write_text(text)
    request.addfinalizer(CONFIG.unlink)  # finalizers run last-in first-out: after the stack's removal
    built = mlops("image", "build", "--config", str(CONFIG), timeout=1200)
    print(built.stdout)  # base and image times and size, in the test log
    assert built.returncode == 0, built.stdout + built.stderr
    deploy_own_stack(request, CONFIG, "e2e-container")
    return CONFIG


@pytest.fixture(scope="module")
def pipeline(project) -> Iterator[stack.Pipeline]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CONFIG_ENV, str(project))
        yield stack.Pipeline.connect(ROOT, "localstack")


def alarm_event(name: str) -> bytes:
    """What CloudWatch sends a Lambda alarm action when `name` goes from OK to ALARM."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    alarm = {
        "alarmName": name,
        "state": {"value": "ALARM", "reason": "alarm storm test", "timestamp": now},
        "previousState": {"value": "OK", "reason": "", "timestamp": now},
        "configuration": {"metrics": []},
    }
    arn = f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}"
    return json.dumps(
        {"source": "aws.cloudwatch", "alarmArn": arn, "accountId": "000000000000", "time": now, "alarmData": alarm}
    ).encode()


def job_status(run_id: str) -> dict:
    """The local job's status once its watcher has ended it (the run record is written first, by the job)."""
    path = ROOT / ".local-aws" / "training-jobs" / run_id / STATUS_FILE

    def ended() -> dict | None:
        status = json.loads(path.read_text())
        return status if status["TrainingJobStatus"] != "InProgress" else None

    return stack.wait_for(f"job {run_id} to end", ended, timeout_s=60)


def test_given_two_alarms_at_the_same_moment_then_one_training_run_in_the_container_which_succeeds(project, pipeline):
    seeded = mlops("--config", str(project), "seed", "--rows", "2000")
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    function, lambda_client = pipeline.outputs["RetrainingFunction"], pipeline.client("lambda")
    alarms = [pipeline.outputs["DriftedFeatureShareAlarm"], pipeline.outputs["PredictionDriftScoreAlarm"]]

    def alarm(name: str) -> dict:
        return json.loads(lambda_client.invoke(FunctionName=function, Payload=alarm_event(name))["Payload"].read())

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(alarm, alarms))

    started = [r for r in responses if r.get("started")]
    assert len(started) == 1, responses
    assert {r["reason"] for r in responses if not r.get("started")} <= {"locked", "cooldown"}
    run = runs.wait_for_run(pipeline, started[0]["run_id"], timeout_s=600)
    assert run["status"] == "succeeded" and run["trigger"]["source"] == "alarm", run
    assert run["backend"] == "container" and run["backend_handle"]["training_job_arn"].endswith(run["run_id"].lower())
    assert job_status(run["run_id"])["TrainingJobStatus"] == "Completed"
    assert run["promoted"] and pipeline.registry().champion().version == run["version"]


def test_given_the_containers_champion_then_the_scoring_lambda_scores_a_batch_with_it(project, pipeline, tmp_path):
    champion = pipeline.registry().champion().version
    batch = tmp_path / "container-batch.csv"
    batch.write_bytes(generate(500, seed=11, with_label=False))
    scored = mlops("--config", str(project), "score", str(batch))
    assert scored.returncode == 0, scored.stdout + scored.stderr
    assert f"scored 500 of 500 rows with model {champion}" in scored.stdout


def test_given_the_same_data_config_and_seeds_then_the_training_lambda_trains_a_model_that_predicts_the_same(
    project, pipeline
):
    registry = pipeline.registry()
    in_container = registry.champion().version
    trained = mlops("--config", str(project), "train", "--backend", "lambda", "--reason", "e2e: the same, in Lambda")
    assert trained.returncode == 0, trained.stdout + trained.stderr
    in_lambda = re.search(r"version (v\S+)", trained.stdout).group(1)
    run_id = re.search(r"training run (run-\S+) started \(lambda\)", trained.stdout).group(1)
    assert pipeline.ledger().get(run_id)["backend"] == "lambda"

    ledger = pipeline.ledger()
    for backend, run in (
        ("container", ledger.get(registry.manifest(in_container)["run_id"])),
        ("lambda", ledger.get(run_id)),
    ):
        wall = datetime.fromisoformat(run["finished_at"]) - datetime.fromisoformat(run["started_at"])
        print(f"{backend}: started -> finished {wall.total_seconds():.1f} s, of which the job {run['seconds']} s")
    (model_c, manifest_c), (model_l, manifest_l) = registry.load_model(in_container), registry.load_model(in_lambda)
    assert manifest_c["metrics"] == manifest_l["metrics"]  # computed on the run's holdout
    rows = pd.read_csv(io.BytesIO(generate(2000, seed=23, with_label=False)))
    features = [f.name for f in load_config(project).features]
    assert (model_c.predict_proba(rows[features]) == model_l.predict_proba(rows[features])).all()


def test_given_a_container_killed_for_its_memory_then_the_champion_stays_the_lock_is_released_and_people_are_told(
    project, pipeline
):
    champion = pipeline.registry().champion().version
    probe = subscribe_probe(pipeline, "container-alerts-probe")
    lambda_client, function = pipeline.client("lambda"), pipeline.outputs["RetrainingFunction"]
    variables = lambda_client.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    lambda_client.update_function_configuration(
        FunctionName=function, Environment={"Variables": {**variables, "LOCAL_TRAINING_MEMORY_MB": "64"}}
    )
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function)
    try:
        trained = mlops("--config", str(project), "train", "--backend", "container", "--reason", "e2e: 64 MB")
    finally:
        lambda_client.update_function_configuration(FunctionName=function, Environment={"Variables": variables})
    assert trained.returncode == 1, trained.stdout + trained.stderr
    assert "ended without reporting: the SageMaker job failed: OutOfMemory" in trained.stderr, trained.stderr
    run_id = re.search(r"training run (run-\S+) started", trained.stdout).group(1)
    assert job_status(run_id)["TrainingJobStatus"] == "Failed"
    assert pipeline.registry().champion().version == champion and pipeline.ledger().current_lock() is None
    assert "champion is unchanged" in alert_naming(pipeline, probe, run_id)


def test_given_training_data_that_cannot_train_then_the_container_writes_why_and_the_run_record_and_alert_say_it(
    project, pipeline
):
    champion = pipeline.registry().champion().version
    probe = subscribe_probe(pipeline, "container-failure-probe")
    unlabeled = generate(50, seed=60, with_label=False)
    broken = [f"training/zz-unlabeled-{i:02d}.csv" for i in range(20)]  # the whole window: no label column
    for key in broken:
        pipeline.s3.put_object(Bucket=pipeline.data_bucket, Key=key, Body=unlabeled)
    try:
        trained = mlops("--config", str(project), "train", "--backend", "container", "--reason", "e2e: no labels")
    finally:
        pipeline.s3.delete_objects(Bucket=pipeline.data_bucket, Delete={"Objects": [{"Key": k} for k in broken]})
    assert trained.returncode == 1 and "TrainingDataError" in trained.stderr, trained.stdout + trained.stderr
    run_id = re.search(r"training run (run-\S+) started", trained.stdout).group(1)
    failure = (ROOT / ".local-aws" / "training-jobs" / run_id / "output" / "failure").read_text()
    assert failure.startswith("TrainingDataError")
    status = job_status(run_id)
    assert status["TrainingJobStatus"] == "Failed" and status["FailureReason"] == f"AlgorithmError: {failure.strip()}"
    run = pipeline.ledger().get(run_id)
    assert run["status"] == "failed" and "TrainingDataError" in run["error"] and "ended_by" not in run  # it reported
    assert pipeline.registry().champion().version == champion and pipeline.ledger().current_lock() is None
    assert "champion is unchanged" in alert_naming(pipeline, probe, run_id)


def test_given_its_training_file_overwritten_then_the_first_run_is_reproduced_from_the_old_version_until_it_is_gone(
    project, pipeline
):
    versions = pipeline.registry().versions()
    first = versions[0]
    [read] = [entry for entry in first["data"] if entry["source"] == "training"]
    pipeline.s3.put_object(Bucket=pipeline.data_bucket, Key=read["key"], Body=generate(2000, seed=99))

    reproduced = mlops("--config", str(project), "reproduce", first["run_id"])
    assert reproduced.returncode == 0, reproduced.stdout + reproduced.stderr
    assert f"reproduced: {first['run_id']} (version {first['version']})" in reproduced.stdout
    assert "holdout predictions on 400 rows identical" in reproduced.stdout and "(container)" in reproduced.stdout
    assert len(pipeline.registry().versions()) == len(versions)  # nothing registered

    pipeline.s3.delete_object(Bucket=pipeline.data_bucket, Key=read["key"], VersionId=read["version_id"])
    gone = mlops("--config", str(project), "reproduce", first["run_id"])
    assert gone.returncode == 1, gone.stdout + gone.stderr
    assert f"{read['key']} version {read['version_id']} is gone" in gone.stderr


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory) -> Iterator[str]:
    """A real MLflow tracking server from PyPI on 127.0.0.1, its store in SQLite in a temporary folder."""
    folder = tmp_path_factory.mktemp("mlflow")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}", "--artifacts-destination", str(folder)]
    with (folder / "server.log").open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        stack.wait_for("the MLflow server", lambda: _answers(f"{uri}/health"), timeout_s=120)
        yield uri
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def test_given_the_stacks_runs_when_synced_to_mlflow_then_runs_versions_and_alias_are_there_and_pyfunc_scores_alike(
    project, pipeline, mlflow_server, tmp_path
):
    import mlflow
    from mlflow import MlflowClient

    synced = mlops("--config", str(project), "mlflow", "sync", "--tracking-uri", mlflow_server, timeout=900)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    registry, client = pipeline.registry(), MlflowClient(mlflow_server)
    versions, champion = registry.versions(), registry.champion().version
    assert f"{len(versions)} version(s) added" in synced.stdout and f"@champion -> {champion}" in synced.stdout

    experiment = client.get_experiment_by_name(PROJECT).experiment_id
    runs = {r.data.tags["mlops.run_id"]: r for r in client.search_runs([experiment], "tags.`mlops.run_id` != ''")}
    for manifest in versions:
        run = runs[manifest["run_id"]]
        assert run.data.tags["mlops.version"] == manifest["version"]
        assert run.data.metrics["roc_auc"] == pytest.approx(manifest["metrics"]["roc_auc"])
    assert {r.data.tags["mlops.status"] for r in runs.values()} >= {"succeeded", "failed"}  # the OOM run too
    registered = {v.tags["mlops.version"] for v in client.search_model_versions(f"name = '{PROJECT}'")}
    assert registered == {m["version"] for m in versions}
    assert client.get_model_version_by_alias(PROJECT, "champion").tags["mlops.version"] == champion

    again = mlops("--config", str(project), "mlflow", "sync", "--tracking-uri", mlflow_server, timeout=900)
    assert "0 run(s) and 0 version(s) added" in again.stdout, again.stdout + again.stderr

    batch = tmp_path / "mlflow-batch.csv"
    batch.write_bytes(generate(300, seed=31, with_label=False))
    scored = mlops("--config", str(project), "score", str(batch))
    key = re.search(rf"predictions: s3://{pipeline.data_bucket}/(\S+)", scored.stdout).group(1)
    served = pd.read_csv(io.BytesIO(pipeline.s3.get_object(Bucket=pipeline.data_bucket, Key=key)["Body"].read()))
    mlflow.set_tracking_uri(mlflow_server)
    rows = pd.read_csv(batch)[[f.name for f in load_config(project).features]]
    numeric = [f.name for f in load_config(project).features if f.type == "numeric"]
    rows[numeric] = rows[numeric].astype(float)
    predicted = mlflow.pyfunc.load_model(f"models:/{PROJECT}@champion").predict(rows)
    assert [str(p) for p in predicted] == [str(p) for p in served["prediction"]]


def test_given_tracking_in_the_config_then_runs_reach_mlflow_after_the_commands_without_a_sync_command(
    project, pipeline, mlflow_server
):
    from mlflow import MlflowClient

    project.write_text(f'{project.read_text()}\n[tracking]\nmlflow_uri = "{mlflow_server}"\n')  # the CLI's side only
    started = mlops("--config", str(project), "train", "--no-wait", "--backend", "lambda", "--reason", "e2e: tracked")
    assert started.returncode == 0, started.stdout + started.stderr
    run_id = re.search(r"training run (run-\S+) started", started.stdout).group(1)
    run = runs.wait_for_run(pipeline, run_id, timeout_s=600)

    shown = mlops("--config", str(project), "status")  # the command after the run, as after an alarm's run
    assert shown.returncode == 0, shown.stdout + shown.stderr
    client = MlflowClient(mlflow_server)
    experiment = client.get_experiment_by_name(PROJECT).experiment_id
    [logged] = client.search_runs([experiment], f"tags.`mlops.run_id` = '{run_id}'")  # once, never unfinished
    assert logged.info.status == "FINISHED" and logged.data.tags["mlops.version"] == run["version"]
    assert f"synced to MLflow at {mlflow_server}" in started.stderr + shown.stderr  # said on stderr
    registered = {v.tags["mlops.version"] for v in client.search_model_versions(f"name = '{PROJECT}'")}
    assert run["version"] in registered
