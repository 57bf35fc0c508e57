"""SageMaker's side of a training job, on a machine without SageMaker: the training image run in a local
container (podman or docker) on local AWS, started and ended as SageMaker starts and ends it.

`LocalTrainingJobs.create_training_job` takes the same request the SageMaker backend sends
(lambdas/retraining/backends.py), so the retraining function starts a local run with the code that starts
an AWS one. It lays out the job's /opt/ml folder, then hands it to a detached watcher
(`python -m training.local_jobs <folder>`) and returns at once, as CreateTrainingJob does. The watcher:

1. runs `<image> train` with the request's environment plus SageMaker's TRAINING_JOB_NAME and
   TRAINING_JOB_ARN, the folder mounted at /opt/ml (input/config/hyperparameters.json,
   resourceconfig.json and inputdataconfig.json written as SageMaker writes them; no channels: the
   image reads its data from S3 itself), as the image's own non-root user, on the host's network so it
   reaches local AWS on 127.0.0.1, within the request's MaxRuntimeInSeconds (then stopped, as SageMaker
   stops a job at its limit) and, when set, a memory limit;
2. ends the job Completed, Failed (the reason from /opt/ml/output/failure, or out of memory, or the exit
   code) or Stopped, writes it to `status.json` (DescribeTrainingJob's fields), and
3. puts SageMaker's "Training Job State Change" event on the default event bus, where the stack's rule
   sends a failed or stopped job to the training-ended function, as on AWS.

Differences from SageMaker, on purpose: credentials are the starter's (local AWS checks none), not the
role's; /opt/ml/model is not uploaded to S3OutputPath (the image registers its model itself and nothing
reads SageMaker's copy).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from mlops_core.containers import Engine, find_engine

STATE_CHANGE = "SageMaker Training Job State Change"
REQUEST_FILE = "request.json"
STATUS_FILE = "status.json"
STOP_GRACE_S = 10  # SIGTERM, then SIGKILL after this long (SageMaker waits 120 s; a local run has less to save)
OOM_EXIT = 137  # 128 + SIGKILL: what the kernel's out-of-memory killer leaves
# Passed through to the container from the starter's environment: how it reaches local AWS and who it is there.
AWS_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)


@dataclass(frozen=True)
class JobEnd:
    """How a job ended, in DescribeTrainingJob's terms."""

    status: str  # Completed | Failed | Stopped
    secondary: str  # Completed | Failed | MaxRuntimeExceeded
    failure_reason: str | None = None


def job_arn(name: str, *, region: str, account: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account}:training-job/{name.lower()}"


@dataclass
class LocalTrainingJobs:
    """The one SageMaker client call the backend makes, answered by a local container run."""

    jobs_dir: Path
    memory_mb: int | None = None
    region: str = "us-east-1"
    account: str = "000000000000"
    spawn: Callable[[list[str], Path], None] | None = None  # starts the watcher; default a detached process

    def create_training_job(self, **request: Any) -> dict[str, str]:
        """Lay out the job's /opt/ml folder and start its watcher; the job's ARN, as SageMaker answers."""
        name = request["TrainingJobName"]
        folder = self.jobs_dir / name
        if folder.exists():
            raise ValueError(f"training job {name} already exists ({folder})")
        arn = job_arn(name, region=self.region, account=self.account)
        lay_out(folder, request={**request, "TrainingJobArn": arn, "MemoryMb": self.memory_mb})
        (self.spawn or _spawn_detached)([sys.executable, "-m", "training.local_jobs", str(folder)], folder)
        return {"TrainingJobArn": arn}


def lay_out(folder: Path, *, request: Mapping[str, Any]) -> None:
    """/opt/ml as SageMaker prepares it, plus the request the watcher reads.

    model/ and output/ are world-writable: the image runs as its own non-root user, and the folder belongs
    to whoever started the job.
    """
    config = folder / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(request.get("HyperParameters", {})))
    (config / "inputdataconfig.json").write_text(json.dumps({}))
    hosts = {"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"}
    (config / "resourceconfig.json").write_text(json.dumps(hosts))
    for writable in (folder / "model", folder / "output", folder / "output" / "data"):
        writable.mkdir(parents=True, exist_ok=True)
        writable.chmod(0o777)
    (folder / REQUEST_FILE).write_text(json.dumps(request, indent=2))


def _spawn_detached(argv: list[str], folder: Path) -> None:
    """The watcher in a session of its own, so it outlives the function's process (a job outlives its start)."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    with (folder / "watcher.log").open("ab") as log:
        subprocess.Popen(  # noqa: S603  # our own module, by the running interpreter
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=environment, start_new_session=True
        )


def job_variables(request: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """The container's environment: the request's, SageMaker's own two, and how to reach local AWS."""
    return {
        **{key: environ[key] for key in AWS_VARIABLES if key in environ},
        **request.get("Environment", {}),
        "TRAINING_JOB_NAME": request["TrainingJobName"],
        "TRAINING_JOB_ARN": request["TrainingJobArn"],
    }


def run_command(engine: Engine, *, folder: Path, request: Mapping[str, Any], variables: Mapping[str, str]) -> list[str]:
    """The engine's `run` of the job's image, as SageMaker would start it.

    The variables are named, not valued: the engine copies them from its own environment, so no value (a
    credential, the trigger's JSON) lands in a command line.
    """
    memory_mb = request.get("MemoryMb")
    return [
        *engine.command,
        "run",
        f"--name={container_name(request['TrainingJobName'])}",
        "--network=host",  # local AWS listens on the host's 127.0.0.1
        f"--volume={folder.resolve()}:/opt/ml",
        *engine.run_options(),
        *([f"--memory={memory_mb}m", f"--memory-swap={memory_mb}m"] if memory_mb else []),
        *(f"--env={key}" for key in variables),
        request["AlgorithmSpecification"]["TrainingImage"],
        "train",
    ]


def container_name(job_name: str) -> str:
    return f"training-job-{job_name.lower()}"


def run_job(
    folder: Path, *, engine: Engine | None, environ: Mapping[str, str], run: RunContainer | None = None
) -> JobEnd:
    """Run the job laid out in `folder` to its end, and write its status; how it ended."""
    request = json.loads((folder / REQUEST_FILE).read_text())
    started = time.time()
    limit_s = int(request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", 3600))
    if engine is None:
        end = JobEnd("Failed", "Failed", "ClientError: no container engine here: install podman or docker")
    else:
        _write_status(folder, request, JobEnd("InProgress", "Training"), started=started)
        variables = job_variables(request, environ)
        command = run_command(engine, folder=folder, request=request, variables=variables)
        exit_code = (run or run_container)(command, {**environ, **variables}, limit_s, engine, request)
        oom_killed = exit_code not in (0, None) and _oom_killed(engine, request)
        end = judge(exit_code, failure=_read_failure(folder), oom_killed=oom_killed, limit_s=limit_s)
        _engine(engine, "rm", "--force", container_name(request["TrainingJobName"]))
    _write_status(folder, request, end, started=started)
    return end


RunContainer = Callable[[list[str], Mapping[str, str], int, Engine, Mapping[str, Any]], "int | None"]


def judge(exit_code: int | None, *, failure: str | None, oom_killed: bool, limit_s: int) -> JobEnd:
    """How SageMaker would report a container's end: None is a job stopped at its time limit.

    The reason a job wrote to /opt/ml/output/failure wins; else out of memory; else the exit code.
    """
    if exit_code is None:
        return JobEnd(
            "Stopped", "MaxRuntimeExceeded", f"the job ran past MaxRuntimeInSeconds={limit_s} and was stopped"
        )
    if exit_code == 0:
        return JobEnd("Completed", "Completed")
    if failure:
        return JobEnd("Failed", "Failed", f"AlgorithmError: {failure}")
    if oom_killed or exit_code == OOM_EXIT:
        return JobEnd(
            "Failed", "Failed", f"OutOfMemory: the container was killed past its memory limit (exit {exit_code})"
        )
    return JobEnd("Failed", "Failed", f"AlgorithmError: exit code {exit_code}, and no reason in /opt/ml/output/failure")


def state_change_event(request: Mapping[str, Any], end: JobEnd) -> dict[str, Any]:
    """The EventBridge entry SageMaker puts when a job ends (the fields the stack's rule and function read)."""
    detail = {
        "TrainingJobName": request["TrainingJobName"],
        "TrainingJobArn": request["TrainingJobArn"],
        "TrainingJobStatus": end.status,
        "SecondaryStatus": end.secondary,
        "RoleArn": request.get("RoleArn"),
        "StoppingCondition": request.get("StoppingCondition", {}),
        **({"FailureReason": end.failure_reason} if end.failure_reason else {}),
    }
    return {
        "Source": "aws.sagemaker",
        "DetailType": STATE_CHANGE,
        "Resources": [request["TrainingJobArn"]],
        "Detail": json.dumps(detail),
    }


def run_container(
    command: list[str], environ: Mapping[str, str], limit_s: int, engine: Engine, request: Mapping[str, Any]
) -> int | None:
    """The container's exit code, or None when it ran past `limit_s` and was stopped."""
    process = subprocess.Popen(command, env=dict(environ))  # noqa: S603  # the engine, with our own arguments
    try:
        return process.wait(timeout=limit_s)
    except subprocess.TimeoutExpired:
        _engine(engine, "stop", f"--time={STOP_GRACE_S}", container_name(request["TrainingJobName"]))
        process.wait()
        return None


def _engine(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*engine.command, *args], capture_output=True, text=True, check=False)  # noqa: S603


def _oom_killed(engine: Engine, request: Mapping[str, Any]) -> bool:
    name = container_name(request["TrainingJobName"])
    return _engine(engine, "inspect", "--format", "{{.State.OOMKilled}}", name).stdout.strip() == "true"


def _read_failure(folder: Path) -> str | None:
    path = folder / "output" / "failure"
    if not path.is_file():
        return None
    return path.read_text(errors="replace").strip()[:1024] or None


def _write_status(folder: Path, request: Mapping[str, Any], end: JobEnd, *, started: float) -> None:
    status = {
        "TrainingJobName": request["TrainingJobName"],
        "TrainingJobArn": request["TrainingJobArn"],
        "TrainingJobStatus": end.status,
        "SecondaryStatus": end.secondary,
        "FailureReason": end.failure_reason,
        "TrainingStartTime": started,
        "TrainingEndTime": None if end.status == "InProgress" else time.time(),
    }
    (folder / STATUS_FILE).write_text(json.dumps(status, indent=2))


def main(argv: list[str]) -> int:
    """The watcher: run the job in `argv[0]`, then tell its end as SageMaker does. 0 if the job completed."""
    folder = Path(argv[0])
    end = run_job(folder, engine=find_engine(), environ=os.environ)
    request = json.loads((folder / REQUEST_FILE).read_text())
    boto3.client("events").put_events(Entries=[state_change_event(request, end)])
    print(json.dumps({"job": request["TrainingJobName"], "status": end.status, "reason": end.failure_reason}))
    return 0 if end.status == "Completed" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
