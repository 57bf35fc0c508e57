"""The local stand-in for SageMaker's training jobs (training/local_jobs.py), with a recording container engine."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from retraining.backends import SageMakerBackend

from mlops_core.containers import Engine
from mlops_core.environment import TrainingJobEnvironment
from training.local_jobs import (
    REQUEST_FILE,
    STATE_CHANGE,
    STATUS_FILE,
    LocalTrainingJobs,
    judge,
    run_job,
    state_change_event,
)

ENGINE = Engine("podman", ("podman", "--runtime", "runc"))
IMAGE = "localhost/serverless-mlops-training-churn:latest"
JOB = TrainingJobEnvironment(data_bucket="data", models_bucket="models", alert_topic_arn="arn:topic")
ENVIRON = {"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_ACCESS_KEY_ID": "AKIDLOCALONLY", "HOME": "/root"}


def start(tmp_path: Path, *, memory_mb: int | None = None, max_runtime_s: int = 600) -> tuple[Path, list]:
    """A run started by the SageMaker backend with the local client; its job folder and the watcher's argv."""
    spawned: list = []
    jobs = LocalTrainingJobs(tmp_path, memory_mb=memory_mb, spawn=lambda argv, folder: spawned.append((argv, folder)))
    backend = SageMakerBackend(
        jobs,
        image_uri=IMAGE,
        role_arn="arn:aws:iam::000000000000:role/job",
        instance_type="ml.m5.large",
        max_runtime_s=max_runtime_s,
        output_path="s3://models/sagemaker-output/",
        job=JOB,
        name="container",
    )
    handle = backend.start("run-20261206T220000Z-abc123", {"source": "manual", "reason": "by hand"})
    assert handle["training_job_arn"].endswith(":training-job/run-20261206t220000z-abc123")
    return tmp_path / "run-20261206T220000Z-abc123", spawned


class Container:
    """Stands in for the engine's `run`: records the command and environment, then acts as the job would."""

    def __init__(self, exit_code: int | None, failure: str | None = None) -> None:
        self.exit_code, self.failure, self.calls = exit_code, failure, []

    def __call__(self, command, environ, limit_s, engine, request):
        self.calls.append({"command": command, "environ": environ, "limit_s": limit_s})
        if self.failure is not None:
            mount = Path(next(a for a in command if a.startswith("--volume=")).split("=", 1)[1].split(":")[0])
            (mount / "output" / "failure").write_text(self.failure)
        return self.exit_code


def test_given_a_run_started_by_the_sagemaker_backend_then_opt_ml_is_laid_out_as_sagemaker_does(tmp_path):
    folder, spawned = start(tmp_path)
    config = folder / "input" / "config"
    assert json.loads((config / "hyperparameters.json").read_text()) == {}
    assert json.loads((config / "resourceconfig.json").read_text())["current_host"] == "algo-1"
    assert json.loads((config / "inputdataconfig.json").read_text()) == {}
    for writable in ("model", "output", "output/data"):
        assert (folder / writable).stat().st_mode & 0o777 == 0o777  # the image's own user writes there
    request = json.loads((folder / REQUEST_FILE).read_text())
    assert request["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}
    [(argv, spawned_folder)] = spawned
    assert argv[1:] == ["-m", "training.local_jobs", str(folder)] and spawned_folder == folder


def test_given_a_job_name_taken_when_created_again_then_refused_and_nothing_started(tmp_path):
    start(tmp_path)
    with pytest.raises(ValueError, match="already exists"):
        start(tmp_path)


def test_given_a_completed_container_then_run_as_sagemaker_would_and_the_status_says_completed(tmp_path):
    folder, _ = start(tmp_path, memory_mb=512)
    container = Container(exit_code=0)
    end = run_job(folder, engine=ENGINE, environ=ENVIRON, run=container)
    assert (end.status, end.failure_reason) == ("Completed", None)
    [call] = container.calls
    command = call["command"]
    assert command[:4] == ["podman", "--runtime", "runc", "run"]
    assert command[-2:] == [IMAGE, "train"]
    assert f"--volume={folder.resolve()}:/opt/ml" in command and "--network=host" in command
    assert {"--memory=512m", "--memory-swap=512m"} <= set(command)
    assert not any("AKIDLOCALONLY" in arg or "4566" in arg for arg in command)  # values travel in the environment
    names = {arg.removeprefix("--env=") for arg in command if arg.startswith("--env=")}
    passed = {name: call["environ"][name] for name in names}
    assert passed["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566" and "HOME" not in passed
    assert passed["TRAINING_JOB_NAME"] == "run-20261206T220000Z-abc123"
    job = TrainingJobEnvironment.from_environment(passed)
    assert (job.run_id, job.trigger, job.data_bucket) == (
        "run-20261206T220000Z-abc123",
        {"source": "manual", "reason": "by hand"},
        "data",
    )
    assert call["limit_s"] == 600
    assert json.loads((folder / STATUS_FILE).read_text())["TrainingJobStatus"] == "Completed"


def test_given_a_job_that_wrote_its_failure_then_failed_with_that_reason(tmp_path):
    folder, _ = start(tmp_path)
    end = run_job(folder, engine=ENGINE, environ=ENVIRON, run=Container(1, failure="ValueError: no usable rows\n"))
    assert (end.status, end.failure_reason) == ("Failed", "AlgorithmError: ValueError: no usable rows")
    status = json.loads((folder / STATUS_FILE).read_text())
    assert status["FailureReason"] == end.failure_reason and status["TrainingEndTime"] is not None


def test_given_no_engine_then_the_job_fails_saying_what_to_install(tmp_path):
    folder, _ = start(tmp_path)
    end = run_job(folder, engine=None, environ=ENVIRON, run=Container(0))
    assert end.status == "Failed" and "install podman or docker" in str(end.failure_reason)


@pytest.mark.parametrize(
    ("exit_code", "failure", "oom", "expected"),
    [
        (0, None, False, ("Completed", "Completed", None)),
        (
            None,
            None,
            False,
            ("Stopped", "MaxRuntimeExceeded", "the job ran past MaxRuntimeInSeconds=60 and was stopped"),
        ),
        (1, "KeyError: 'x'", False, ("Failed", "Failed", "AlgorithmError: KeyError: 'x'")),
        (
            137,
            None,
            True,
            ("Failed", "Failed", "OutOfMemory: the container was killed past its memory limit (exit 137)"),
        ),
        (
            137,
            None,
            False,
            ("Failed", "Failed", "OutOfMemory: the container was killed past its memory limit (exit 137)"),
        ),
        (137, "MemoryError: ", True, ("Failed", "Failed", "AlgorithmError: MemoryError: ")),
        (3, None, False, ("Failed", "Failed", "AlgorithmError: exit code 3, and no reason in /opt/ml/output/failure")),
    ],
)
def test_given_how_a_container_ended_then_judged_as_sagemaker_reports_it(exit_code, failure, oom, expected):
    end = judge(exit_code, failure=failure, oom_killed=oom, limit_s=60)
    assert (end.status, end.secondary, end.failure_reason) == expected


def test_given_a_failed_job_then_its_event_is_what_the_stacks_rule_and_the_training_ended_function_read(tmp_path):
    from training_ended.handler import parse_ending

    folder, _ = start(tmp_path)
    end = run_job(folder, engine=ENGINE, environ=ENVIRON, run=Container(137))
    entry = state_change_event(json.loads((folder / REQUEST_FILE).read_text()), end)
    assert (entry["Source"], entry["DetailType"]) == ("aws.sagemaker", STATE_CHANGE)
    event = {"source": entry["Source"], "detail-type": entry["DetailType"], "detail": json.loads(entry["Detail"])}
    assert event["detail"]["RoleArn"] == "arn:aws:iam::000000000000:role/job"  # the rule matches on it
    ending = parse_ending(event)
    assert ending is not None and ending.run_id == "run-20261206T220000Z-abc123" and "OutOfMemory" in ending.reason


def test_given_a_container_past_its_time_limit_then_the_engine_is_asked_to_stop_it_and_the_run_is_none(tmp_path):
    from training.local_jobs import run_container

    asked = tmp_path / "asked"
    engine = Engine("podman", ("sh", "-c", f'echo "$@" >> {asked}; pkill -f "sleep 7.5"', "engine"))
    request = {"TrainingJobName": "run-x"}
    assert run_container(["sleep", "7.5"], {"PATH": os.environ["PATH"]}, 1, engine, request) is None
    assert asked.read_text().split() == ["stop", "--time=10", "training-job-run-x"]


def test_given_a_container_within_its_time_limit_then_its_exit_code():
    from training.local_jobs import run_container

    engine = Engine("podman", ("false",))  # never asked
    assert (
        run_container(["sh", "-c", "exit 3"], {"PATH": os.environ["PATH"]}, 30, engine, {"TrainingJobName": "x"}) == 3
    )
