"""Where a training run executes: a SageMaker training job (AWS), or on LocalStack the training Lambda or the
training image in a local container started as SageMaker starts it (training/local_jobs.py)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from mlops_core.environment import (
    Backend,
    ContainerBackendEnvironment,
    LambdaBackendEnvironment,
    RetrainingEnvironment,
    SageMakerBackendEnvironment,
    TrainingJobEnvironment,
)
from mlops_core.storage import layout
from training.local_jobs import LocalTrainingJobs

SAGEMAKER_ENV_VALUE_CHARS = 512  # CreateTrainingJob's limit on one environment value


class TrainingBackend(Protocol):
    name: str

    def start(self, run_id: str, trigger: dict[str, Any]) -> dict[str, Any]:
        """Start the run; return what identifies it in the backend."""
        ...


@dataclass
class LambdaBackend:
    """Runs the training entrypoint in the training function, invoked asynchronously."""

    lambda_client: Any
    function_name: str
    name: str = "lambda"

    def start(self, run_id: str, trigger: dict[str, Any]) -> dict[str, Any]:
        response = self.lambda_client.invoke(
            FunctionName=self.function_name,
            InvocationType="Event",
            Payload=json.dumps({"run_id": run_id, "trigger": trigger}).encode(),
        )
        return {"function": self.function_name, "status_code": response["StatusCode"]}


@dataclass
class SageMakerBackend:
    """Runs the training image (training/Dockerfile) as a SageMaker training job named after the run.

    The container backend is this one with a local stand-in for SageMaker's client (`LocalTrainingJobs`).
    """

    sagemaker_client: Any
    image_uri: str
    role_arn: str
    instance_type: str
    max_runtime_s: int
    output_path: str
    job: TrainingJobEnvironment  # the job's environment, completed per run with its id and trigger
    name: str = "sagemaker"

    def start(self, run_id: str, trigger: dict[str, Any]) -> dict[str, Any]:
        job = replace(self.job, run_id=run_id, trigger=fit_trigger(trigger, SAGEMAKER_ENV_VALUE_CHARS))
        response = self.sagemaker_client.create_training_job(
            TrainingJobName=run_id,
            AlgorithmSpecification={"TrainingImage": self.image_uri, "TrainingInputMode": "File"},
            RoleArn=self.role_arn,
            OutputDataConfig={"S3OutputPath": self.output_path},
            ResourceConfig={"InstanceType": self.instance_type, "InstanceCount": 1, "VolumeSizeInGB": 10},
            StoppingCondition={"MaxRuntimeInSeconds": self.max_runtime_s},
            Environment=job.as_environment(),
        )
        return {"training_job_arn": response["TrainingJobArn"]}


def fit_trigger(trigger: dict[str, Any], limit: int) -> dict[str, Any]:
    """The trigger with its free-text reason shortened until its JSON fits in `limit` characters.

    (Cutting the JSON itself would hand the job an unparseable TRIGGER.)
    """
    fitted, reason = dict(trigger), str(trigger.get("reason", ""))
    while (over := len(json.dumps(fitted)) - limit) > 0 and reason:
        reason = reason[: -(over + 3)] if over + 3 < len(reason) else ""
        fitted["reason"] = f"{reason}..."
    return fitted


def backends_from_environment(
    env: RetrainingEnvironment, make_client: Callable[[str], Any]
) -> dict[str, TrainingBackend]:
    """Every backend `env` names (the default first), each configured from its own environment record."""
    return {name: _backend(name, env, make_client) for name in env.available}


def _backend(name: Backend, env: RetrainingEnvironment, make_client: Callable[[str], Any]) -> TrainingBackend:
    if name == "lambda":
        function = LambdaBackendEnvironment.from_environment()
        return LambdaBackend(make_client("lambda"), function.training_function_name)
    sagemaker = SageMakerBackendEnvironment.from_environment()
    client = _local_jobs(ContainerBackendEnvironment.from_environment()) if name == "container" else None
    return SageMakerBackend(
        client or make_client("sagemaker"),
        image_uri=sagemaker.image_uri,
        role_arn=sagemaker.role_arn,
        instance_type=sagemaker.instance_type,
        max_runtime_s=sagemaker.max_runtime_s,
        output_path=f"s3://{env.models_bucket}/{layout.SAGEMAKER_OUTPUT}",
        job=TrainingJobEnvironment.from_environment(),
        name=name,
    )


def _local_jobs(local: ContainerBackendEnvironment) -> LocalTrainingJobs:
    return LocalTrainingJobs(Path(local.jobs_dir), memory_mb=local.memory_mb)


def pick_backend(backends: Mapping[str, TrainingBackend], name: object = None) -> TrainingBackend:
    """The backend a manual run names, or the default (the first) when it names none."""
    if name is None:
        return next(iter(backends.values()))
    if not isinstance(name, str) or name not in backends:
        raise ValueError(f"unknown training backend {name!r}: this stack has {', '.join(backends)}")
    return backends[name]
