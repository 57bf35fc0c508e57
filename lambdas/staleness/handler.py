"""Lambda entry point of the staleness function, started by its EventBridge schedule (infra/staleness.py)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3

from mlops_core.config import load_config
from mlops_core.environment import StalenessEnvironment
from mlops_core.observability import function_logger
from mlops_core.registry.runs import utcnow
from mlops_core.registry.store import Registry

from .logic import publish_champion_age

logger = function_logger("staleness")


@cache
def environment() -> tuple[StalenessEnvironment, str, Registry, Any]:
    """The environment, the pipeline's name, the registry and a CloudWatch client, once per execution environment."""
    env = StalenessEnvironment.from_environment()
    registry = Registry(boto3.client("s3"), env.models_bucket)
    return env, load_config().name, registry, boto3.client("cloudwatch")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Publish the champion's age (the event, a scheduled tick, carries nothing the function needs)."""
    env, pipeline, registry, cloudwatch = environment()
    result = publish_champion_age(
        registry=registry, cloudwatch=cloudwatch, pipeline=pipeline, namespace=env.namespace, now=utcnow()
    )
    logger.info("champion age", extra=result)
    return result
