"""Lambda entry point of the training job (target localstack); `training.job.run_job` does the work."""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger

from mlops_core.config import load_config
from training.job import run_job

logger = Logger()
CONFIG = load_config()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    result = run_job(
        s3=boto3.client("s3"),
        cloudwatch=boto3.client("cloudwatch"),
        sns=boto3.client("sns"),
        data_bucket=os.environ["DATA_BUCKET"],
        models_bucket=os.environ["MODELS_BUCKET"],
        config=CONFIG,
        namespace=os.environ.get("METRICS_NAMESPACE", "MLOps"),
        alert_topic_arn=os.environ.get("ALERT_TOPIC_ARN"),
        run_id=event.get("run_id"),
        trigger=event.get("trigger"),
    )
    logger.info("training run finished", extra={"run_id": result["run_id"], "version": result["version"],
                                                "promoted": result["promoted"]})  # fmt: skip
    return result
