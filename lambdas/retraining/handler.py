"""Lambda entry point: CloudWatch alarm events (ALARM transitions only), the retraining schedule's
EventBridge events, and manual triggers."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools.utilities.data_classes import CloudWatchAlarmEvent

from mlops_core.config import RetrainingSettings, load_config
from mlops_core.environment import RetrainingEnvironment
from mlops_core.observability import function_logger
from mlops_core.registry.failures import FailureAlerts
from mlops_core.registry.runs import RunLedger, utcnow

from .backends import TrainingBackend, backends_from_environment, pick_backend
from .logic import start_training

logger = function_logger("retraining")


@cache
def environment() -> tuple[RetrainingSettings, RunLedger, Mapping[str, TrainingBackend], FailureAlerts]:
    """The config, the run ledger, the backends and where failures are told, created once per execution environment."""
    env, config = RetrainingEnvironment.from_environment(), load_config()
    ledger = RunLedger(boto3.client("s3"), env.models_bucket, conditional_deletes=env.conditional_deletes)
    sns = boto3.client("sns") if env.alert_topic_arn else None
    alerts = FailureAlerts(boto3.client("cloudwatch"), sns, env.alert_topic_arn, config.name, env.namespace)
    return config.retraining, ledger, backends_from_environment(env, boto3.client), alerts


def parse_trigger(event: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """(trigger, force) for an event; trigger None when the event is not a reason to train.

    Alarm events start a run only on a transition into ALARM; OK and INSUFFICIENT_DATA are ignored.
    The schedule's events (`retraining.schedule`) start one like an alarm: within the cooldown, not.
    A manual trigger is {"source": "manual", "reason": "...", "backend": optional, "reproduce": optional} and
    skips the cooldown; its `backend` picks one of the stack's backends for this run (`mlops train --backend`),
    its `reproduce` names a run to train again (`mlops reproduce`).
    """
    if event.get("source") == "aws.cloudwatch":
        alarm = CloudWatchAlarmEvent(event)
        if alarm.alarm_data.state.value != "ALARM":
            return None, False
        return {
            "source": "alarm",
            "alarm": alarm.alarm_data.alarm_name,
            "reason": alarm.alarm_data.state.reason,
            "at": alarm.alarm_data.state.timestamp,
        }, False
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        rule = str((event.get("resources") or ["?"])[0]).rpartition("/")[2]
        trigger = {"source": "schedule", "rule": rule, "reason": f"scheduled by rule {rule}", "at": event.get("time")}
        return trigger, False
    if event.get("source") == "manual":
        trigger = {"source": "manual", "reason": str(event.get("reason", "started by hand"))}
        if event.get("reproduce"):  # `mlops reproduce`: the job trains that run again and registers nothing
            trigger["reproduce"] = str(event["reproduce"])
        return trigger, True
    raise ValueError(
        "unrecognised event: expected a CloudWatch alarm event, a scheduled EventBridge event or {'source': 'manual'}"
    )


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    trigger, force = parse_trigger(event)
    if trigger is None:
        logger.info("ignored: not an ALARM transition")
        return {"started": False, "reason": "not-an-alarm-transition"}
    settings, ledger, backends, alerts = environment()
    result = start_training(
        trigger=trigger,
        ledger=ledger,
        backend=pick_backend(backends, event.get("backend") if force else None),
        settings=settings,
        alerts=alerts,
        now=utcnow(),
        force=force,
    )
    logger.info("retraining decision", extra={**result, "trigger": trigger})
    return result
