"""Lambda entry point of the training-ended function. Two sources invoke it (infra/training.py): the training
function's on-failure destination (target localstack) and the rule on SageMaker Training Job State Change,
Failed or Stopped (target aws)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3

from mlops_core.config import load_config
from mlops_core.environment import TrainingEndedEnvironment
from mlops_core.observability import function_logger
from mlops_core.registry.failures import FailureAlerts
from mlops_core.registry.runs import RunLedger, utcnow

from .logic import Ending, end_unreported_run

logger = function_logger("training-ended")

SAGEMAKER_STATE_CHANGE = "SageMaker Training Job State Change"


@cache
def environment() -> tuple[RunLedger, FailureAlerts]:
    """The run ledger and where failures are told, created once per execution environment."""
    env, config = TrainingEndedEnvironment.from_environment(), load_config()
    ledger = RunLedger(boto3.client("s3"), env.models_bucket, conditional_deletes=env.conditional_deletes)
    sns = boto3.client("sns") if env.alert_topic_arn else None
    return ledger, FailureAlerts(boto3.client("cloudwatch"), sns, env.alert_topic_arn, config.name, env.namespace)


def parse_ending(event: dict[str, Any]) -> Ending | None:
    """How the event says a run ended; None when it names no run, or a job that did not fail or stop."""
    if "requestContext" in event and "requestPayload" in event:
        return _from_lambda_destination(event)
    if event.get("source") == "aws.sagemaker" and event.get("detail-type") == SAGEMAKER_STATE_CHANGE:
        return _from_sagemaker(event["detail"])
    raise ValueError(
        "unrecognised event: expected a Lambda on-failure destination record or a SageMaker Training Job "
        "State Change event"
    )


def _from_lambda_destination(record: dict[str, Any]) -> Ending | None:
    """An asynchronous invocation of the training function that failed (a timeout, out of memory, a raise)."""
    payload = record.get("requestPayload")
    run_id = payload.get("run_id") if isinstance(payload, dict) else None
    if not run_id:  # invoked by hand without a run id: run_job made one up and reported on it itself
        return None
    condition = record["requestContext"].get("condition", "?")
    if condition == "EventAgeExceeded":
        reason = "the training function never ran it: the invocation waited in Lambda's queue past its maximum age"
        return Ending(run_id, reason, "lambda")
    response = record.get("responsePayload")
    error = response if isinstance(response, dict) else {}
    said = ": ".join(str(error[k]) for k in ("errorType", "errorMessage") if error.get(k))
    return Ending(run_id, f"the training function failed ({condition}): {said or 'no error message'}", "lambda")


def _from_sagemaker(detail: dict[str, Any]) -> Ending | None:
    """A training job that failed or was stopped (at its time limit, or by StopTrainingJob)."""
    status, secondary = detail.get("TrainingJobStatus"), detail.get("SecondaryStatus")
    run_id = str(detail.get("TrainingJobName", ""))
    if status not in ("Failed", "Stopped") or not run_id:
        return None
    if secondary == "MaxRuntimeExceeded":
        limit = detail.get("StoppingCondition", {}).get("MaxRuntimeInSeconds", "?")
        reason = f"the SageMaker job was stopped at its time limit, {limit} s (retraining.max_runtime_seconds)"
    elif status == "Stopped":
        reason = "the SageMaker job was stopped (StopTrainingJob)"
    else:
        reason = f"the SageMaker job failed: {detail.get('FailureReason') or 'no failure reason'}"
    return Ending(run_id, reason, "sagemaker")


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ending = parse_ending(event)
    if ending is None:
        logger.info("ignored: no run that failed or stopped")
        return {"failed": False, "reason": "not-a-failed-run"}
    ledger, alerts = environment()
    result = end_unreported_run(ending=ending, ledger=ledger, alerts=alerts, now=utcnow())
    logger.info("training run ended", extra={**result, "why": ending.reason})
    return result
