"""Lambda entry point: API Gateway's proxy events for POST /predict and POST /feedback.

Every answer is JSON: 200 with the predictions, 202 for accepted labels, a 4xx naming what to fix, 503
while no champion exists, or 500 with the request id (the stack trace goes to the log, never to the caller).
Then the request is captured for monitoring (lambdas/online/capture.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from scoring import alerts
from scoring.models import NoChampionYet

from mlops_core.config import ProjectConfig, load_config
from mlops_core.environment import OnlineEnvironment
from mlops_core.observability import function_logger
from mlops_core.registry.runs import utcnow
from mlops_core.registry.store import Registry

from . import logic
from .capture import Capture, S3Capture
from .request import Refusal, Request, read_request
from .serving import ServingModels

logger = function_logger("online")


@dataclass(frozen=True)
class Endpoint:
    """What every request uses, built once per execution environment."""

    config: ProjectConfig
    models: ServingModels
    capture: Capture


@cache
def endpoint() -> Endpoint:
    env, config = OnlineEnvironment.from_environment(), load_config()
    s3 = boto3.client("s3")
    alert = alerts.to_topic(
        boto3.client("sns") if env.alert_topic_arn else None, env.alert_topic_arn, pipeline=config.name
    )
    models = ServingModels(Registry(s3, env.models_bucket), refresh_seconds=config.online.refresh_seconds, alert=alert)
    return Endpoint(config, models, S3Capture(s3, env.data_bucket, window_seconds=config.online.window_seconds))


def answer(request: Request, service: Endpoint) -> logic.Answer:
    config = service.config
    if request.route == "/feedback":
        return logic.feedback(request, id_column=config.online.id_column, label=config.label, task=config.task)
    serving = service.models.current()
    return logic.predict(
        request, serving=serving, settings=config.online, max_field_chars=config.scoring.max_field_chars
    )


def respond(event: dict[str, Any], service: Endpoint) -> tuple[str, logic.Answer]:
    """(route, answer) of one request; never raises."""
    settings = service.config.online
    route = "?"
    try:
        request = read_request(event, max_body_bytes=settings.max_body_bytes, max_records=settings.max_records)
        route = request.route
        return route, answer(request, service)
    except Refusal as refusal:
        return route, logic.Answer(refusal.status, json.dumps(refusal.body()), {"error": refusal.error})
    except NoChampionYet as exc:
        body = {"error": "no_champion", "message": str(exc), "fix": "train and promote a model first"}
        return route, logic.Answer(503, json.dumps(body), {"error": "no_champion"})
    except Exception:
        logger.exception("request failed")
        body = {"error": "internal", "message": "the request failed; its id is in the log", "fix": ""}
        return route, logic.Answer(500, json.dumps(body), {"error": "internal"})


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    received, started = utcnow(), time.perf_counter()
    service = endpoint()
    route, result = respond(event, service)
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    request_id = str((event.get("requestContext") or {}).get("requestId") or getattr(context, "aws_request_id", ""))
    result = keep(service, route, received=received, request_id=request_id, result=result, latency_ms=latency_ms)
    return {
        "statusCode": result.status,
        "headers": {"Content-Type": "application/json"},
        "body": result.body,
    }


def keep(
    service: Endpoint, route: str, *, received: Any, request_id: str, result: logic.Answer, latency_ms: float
) -> logic.Answer:
    """Capture the request (its records only when sampled); the answer to send.

    A /predict capture that fails is logged as an error with the request's id, and the caller still gets the
    answer: monitoring must not take the endpoint down. Accepted labels exist only in their capture: if it
    fails they were not stored, and the caller is told to send them again (503) rather than that they were.
    """
    record: dict[str, Any] = {"status": result.status, "latency_ms": latency_ms}
    if route == "/feedback" or logic.sampled(request_id, service.config.online.capture_share):
        record.update(result.capture)
    else:
        record.update({k: v for k, v in result.capture.items() if k in ("model_version", "records", "error")})
    try:
        service.capture.keep(
            route=route if route != "?" else "/predict", received=received, request_id=request_id, record=record
        )
    except Exception:
        logger.exception("the request was answered but not captured", extra={"request_id": request_id})
        if route == "/feedback" and result.status == 202:
            body = {"error": "not_stored", "message": "the labels were not stored", "fix": "send them again"}
            return logic.Answer(503, json.dumps(body))
    return result
