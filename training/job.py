"""One training run as an operator sees it: train and register, record the outcome, release the
run lock, publish metrics, and tell people when it failed. The SageMaker container and the training
Lambda both call `run_job`, so the two backends run identical code.
"""

from __future__ import annotations

import json
import time
import traceback
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mlops_core.config import ProjectConfig
from mlops_core.observability import (
    CHAMPION_VERSION,
    MODEL_PROMOTIONS,
    TRAINING_FAILURES,
    TRAINING_RUNS,
    datum,
    put_metrics,
)
from mlops_core.registry.approval import pending_alert
from mlops_core.registry.failures import FailureAlerts
from mlops_core.registry.runs import RunLedger, new_run_id, utcnow

from .reproduce import run_reproduction
from .train import train_and_register


def _version_number(version: str) -> float:
    """The version id's UTC timestamp as a number (v20261122T231500Z-ab12cd -> 20261122231500)."""
    digits = "".join(ch for ch in version.split("-", maxsplit=1)[0] if ch.isdigit())
    return float(digits or 0)


def run_job(
    *,
    s3: Any,
    cloudwatch: Any,
    sns: Any | None,
    data_bucket: str,
    models_bucket: str,
    config: ProjectConfig,
    namespace: str,
    alert_topic_arn: str | None,
    run_id: str | None = None,
    trigger: dict[str, Any] | None = None,
    conditional_deletes: bool = True,
) -> dict[str, Any]:
    """Run one training job end to end; re-raises a training failure after reporting it.

    `conditional_deletes`: whether S3 honours DeleteObject's IfMatch (see `RunLedger`).
    """
    ledger = RunLedger(s3, models_bucket, conditional_deletes=conditional_deletes)
    run_id = run_id or new_run_id(utcnow())
    if ledger.get(run_id) is None:  # started by hand, not through the retraining function
        ledger.record(
            run_id,
            status="started",
            started_at=utcnow().isoformat(),
            trigger=trigger or {"source": "manual"},
            backend="direct",
        )
    if trigger and trigger.get("reproduce"):  # `mlops reproduce`: train again, compare, register nothing
        return run_reproduction(
            s3=s3,
            ledger=ledger,
            data_bucket=data_bucket,
            models_bucket=models_bucket,
            config=config,
            run_id=run_id,
            of=str(trigger["reproduce"]),
        )
    started = time.monotonic()
    try:
        result = train_and_register(
            s3, data_bucket=data_bucket, models_bucket=models_bucket, config=config, run_id=run_id
        )
    except Exception as exc:
        _report_failure(
            exc,
            run_id,
            ledger=ledger,
            cloudwatch=cloudwatch,
            sns=sns,
            alert_topic_arn=alert_topic_arn,
            config=config,
            namespace=namespace,
        )
        raise
    seconds = round(time.monotonic() - started, 2)
    _report_success(result, run_id, seconds, ledger=ledger, cloudwatch=cloudwatch, config=config, namespace=namespace)
    if result.get("pending") and sns is not None and alert_topic_arn:
        _announce_pending(result["pending"], run_id, ledger=ledger, sns=sns, topic_arn=alert_topic_arn, config=config)
    return {**json.loads(json.dumps(result, default=str)), "run_id": run_id, "seconds": seconds}


def _report_success(
    result: dict[str, Any],
    run_id: str,
    seconds: float,
    *,
    ledger: RunLedger,
    cloudwatch: Any,
    config: ProjectConfig,
    namespace: str,
) -> None:
    """Record the finished run (with the files it read), release its lock, and publish its metrics."""
    outcome = {k: result[k] for k in ("version", "promoted", "metrics", "decision", "files")}
    outcome["pending"] = bool(result.get("pending"))
    if result.get("search"):  # the model search's leaderboard (training/search.py), for `mlops status`
        outcome["search"] = result["search"]
    ledger.record(run_id, status="succeeded", finished_at=utcnow().isoformat(), seconds=seconds, **outcome)
    ledger.release(run_id)
    put_metrics(cloudwatch, _success_metrics(config.name, result), namespace=namespace)


def _announce_pending(
    record: dict[str, Any], run_id: str, *, ledger: RunLedger, sns: Any, topic_arn: str, config: ProjectConfig
) -> None:
    """Tell people a candidate awaits approval. The candidate is already held (and `mlops status` lists
    it), so a failed publish is recorded in the run rather than failing a run that succeeded."""
    subject, message = pending_alert(record, config)
    try:
        sns.publish(TopicArn=topic_arn, Subject=subject, Message=message)
    except (BotoCoreError, ClientError) as exc:
        ledger.record(run_id, pending_alert_error=f"{type(exc).__name__}: {exc}")


def _report_failure(
    exc: Exception,
    run_id: str,
    *,
    ledger: RunLedger,
    cloudwatch: Any,
    sns: Any | None,
    alert_topic_arn: str | None,
    config: ProjectConfig,
    namespace: str,
) -> None:
    """Record the failed run, release its lock, count it, and alert (called while handling `exc`)."""
    error = f"{type(exc).__name__}: {exc}"
    ledger.record(
        run_id, status="failed", finished_at=utcnow().isoformat(), error=error, traceback=traceback.format_exc(limit=8)
    )
    ledger.release(run_id)
    FailureAlerts(cloudwatch, sns, alert_topic_arn, config.name, namespace).tell(run_id, error)


def _success_metrics(pipeline: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    data = [
        datum(TRAINING_RUNS, 1, pipeline=pipeline),
        datum(TRAINING_FAILURES, 0, pipeline=pipeline),
        datum(MODEL_PROMOTIONS, int(result["promoted"]), pipeline=pipeline),
    ]
    if result["promoted"]:
        data.append(datum(CHAMPION_VERSION, _version_number(result["version"]), pipeline=pipeline))
    return data
