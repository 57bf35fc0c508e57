"""Lambda entry point of the training job (target localstack); `training.job.run_job` does the work."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3

from mlops_core.config import ProjectConfig, load_config
from mlops_core.environment import TrainingJobEnvironment
from mlops_core.observability import function_logger
from training.job import run_job

logger = function_logger("training")


@cache
def environment() -> tuple[TrainingJobEnvironment, ProjectConfig]:
    """The function's environment and the config, validated once per execution environment."""
    return TrainingJobEnvironment.from_environment(), load_config()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One training run; the retraining function passes the run id and trigger in the event."""
    env, config = environment()
    result = run_job(
        s3=boto3.client("s3"),
        cloudwatch=boto3.client("cloudwatch"),
        sns=boto3.client("sns"),
        data_bucket=env.data_bucket,
        models_bucket=env.models_bucket,
        config=config,
        namespace=env.namespace,
        alert_topic_arn=env.alert_topic_arn,
        run_id=event.get("run_id"),
        trigger=event.get("trigger"),
        conditional_deletes=env.conditional_deletes,
    )
    logger.info(
        "training run finished",
        extra={"run_id": result["run_id"], "version": result["version"], "promoted": result["promoted"]},
    )
    return result
