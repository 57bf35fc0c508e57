"""Lambda entry point of the training job (target localstack); `training.job.run_job` does the work."""

from __future__ import annotations

from typing import Any

import boto3

from mlops_core.config import load_config
from mlops_core.observability import function_logger
from mlops_core.settings import TrainingJobEnvironment
from training.job import run_job

logger = function_logger("training")
CONFIG = load_config()
# Read once at cold start: a missing variable fails the init with its name, not the first run.
ENV = TrainingJobEnvironment.from_environment()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One training run; the retraining function passes the run id and trigger in the event."""
    result = run_job(
        s3=boto3.client("s3"),
        cloudwatch=boto3.client("cloudwatch"),
        sns=boto3.client("sns"),
        data_bucket=ENV.data_bucket,
        models_bucket=ENV.models_bucket,
        config=CONFIG,
        namespace=ENV.namespace,
        alert_topic_arn=ENV.alert_topic_arn,
        run_id=event.get("run_id"),
        trigger=event.get("trigger"),
    )
    logger.info(
        "training run finished",
        extra={"run_id": result["run_id"], "version": result["version"], "promoted": result["promoted"]},
    )
    return result
