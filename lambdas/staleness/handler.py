"""Lambda entry point of the staleness function, started by its EventBridge schedule (infra/staleness.py)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3

from mlops_core.config import load_config
from mlops_core.observability import function_logger
from mlops_core.registry import Registry
from mlops_core.runs import utcnow
from mlops_core.settings import StalenessEnvironment

from .logic import publish_champion_age

logger = function_logger("staleness")


@cache
def environment() -> tuple[StalenessEnvironment, str, Registry, Any]:
    """The environment, the pipeline's name, the registry and a CloudWatch client, once per execution environment."""
    settings = StalenessEnvironment.from_environment()
    registry = Registry(boto3.client("s3"), settings.models_bucket)
    return settings, load_config().name, registry, boto3.client("cloudwatch")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Publish the champion's age (the event, a scheduled tick, carries nothing the function needs)."""
    settings, pipeline, registry, cloudwatch = environment()
    result = publish_champion_age(
        registry=registry, cloudwatch=cloudwatch, pipeline=pipeline, namespace=settings.namespace, now=utcnow()
    )
    logger.info("champion age", extra=result)
    return result
