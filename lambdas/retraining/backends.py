"""Where a training run executes: a SageMaker training job (AWS) or the training Lambda (LocalStack)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Protocol


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
    """Runs the training image (training/Dockerfile) as a SageMaker training job named after the run."""

    sagemaker_client: Any
    image_uri: str
    role_arn: str
    instance_type: str
    max_runtime_s: int
    output_path: str
    environment: dict[str, str]
    name: str = "sagemaker"

    def start(self, run_id: str, trigger: dict[str, Any]) -> dict[str, Any]:
        response = self.sagemaker_client.create_training_job(
            TrainingJobName=run_id,
            AlgorithmSpecification={"TrainingImage": self.image_uri, "TrainingInputMode": "File"},
            RoleArn=self.role_arn,
            OutputDataConfig={"S3OutputPath": self.output_path},
            ResourceConfig={"InstanceType": self.instance_type, "InstanceCount": 1, "VolumeSizeInGB": 10},
            StoppingCondition={"MaxRuntimeInSeconds": self.max_runtime_s},
            Environment={**self.environment, "RUN_ID": run_id, "TRIGGER": json.dumps(trigger)[:1000]},
        )
        return {"training_job_arn": response["TrainingJobArn"]}


def backend_from_environment(make_client) -> TrainingBackend:
    """The backend named by TRAINING_BACKEND, configured from the function's environment."""
    env = os.environ
    backend = env.get("TRAINING_BACKEND", "lambda")
    if backend == "lambda":
        return LambdaBackend(make_client("lambda"), env["TRAINING_FUNCTION_NAME"])
    if backend == "sagemaker":
        job_env = {k: env[k] for k in ("DATA_BUCKET", "MODELS_BUCKET", "METRICS_NAMESPACE", "ALERT_TOPIC_ARN")}
        return SageMakerBackend(
            make_client("sagemaker"),
            image_uri=env["TRAINING_IMAGE_URI"],
            role_arn=env["SAGEMAKER_ROLE_ARN"],
            instance_type=env.get("SAGEMAKER_INSTANCE_TYPE", "ml.m5.large"),
            max_runtime_s=int(env.get("SAGEMAKER_MAX_RUNTIME_S", "3600")),
            output_path=f"s3://{env['MODELS_BUCKET']}/sagemaker-output/",
            environment=job_env,
        )
    raise ValueError(f"TRAINING_BACKEND must be lambda or sagemaker, not {backend!r}")
