"""One training run as an operator sees it: train and register, record the outcome, release the
run lock, publish metrics, and tell people when it failed. The SageMaker container and the training
Lambda both call `run_job`, so the two backends run identical code.
"""

from __future__ import annotations

import json
import time
import traceback
from typing import Any

from mlops_core.config import ProjectConfig
from mlops_core.runs import RunLedger, new_run_id, utcnow

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
) -> dict[str, Any]:
    """Run one training job end to end; re-raises a training failure after reporting it."""
    ledger = RunLedger(s3, models_bucket)
    run_id = run_id or new_run_id(utcnow())
    if ledger.get(run_id) is None:  # started by hand, not through the retraining function
        ledger.record(run_id, status="started", started_at=utcnow().isoformat(),
                      trigger=trigger or {"source": "manual"}, backend="direct")  # fmt: skip
    dims = [{"Name": "Pipeline", "Value": config.name}]
    started = time.monotonic()
    try:
        result = train_and_register(s3, data_bucket=data_bucket, models_bucket=models_bucket,
                                    config=config, run_id=run_id)  # fmt: skip
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        ledger.record(run_id, status="failed", finished_at=utcnow().isoformat(), error=error,
                      traceback=traceback.format_exc(limit=8))  # fmt: skip
        ledger.release(run_id)
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=[
            {"MetricName": "TrainingRuns", "Dimensions": dims, "Value": 1, "Unit": "Count"},
            {"MetricName": "TrainingFailures", "Dimensions": dims, "Value": 1, "Unit": "Count"},
        ])  # fmt: skip
        if sns is not None and alert_topic_arn:
            sns.publish(TopicArn=alert_topic_arn, Subject=f"{config.name}: training run {run_id} failed"[:100],
                        Message=f"Training run {run_id} failed; the champion is unchanged.\n\n{error}")  # fmt: skip
        raise
    seconds = round(time.monotonic() - started, 2)
    ledger.record(run_id, status="succeeded", finished_at=utcnow().isoformat(), seconds=seconds,
                  version=result["version"], promoted=result["promoted"], metrics=result["metrics"],
                  decision=result["decision"])  # fmt: skip
    ledger.release(run_id)
    metrics = [
        {"MetricName": "TrainingRuns", "Dimensions": dims, "Value": 1, "Unit": "Count"},
        {"MetricName": "TrainingFailures", "Dimensions": dims, "Value": 0, "Unit": "Count"},
        {"MetricName": "ModelPromotions", "Dimensions": dims, "Value": int(result["promoted"]), "Unit": "Count"},
    ]
    if result["promoted"]:
        metrics.append({"MetricName": "ChampionVersion", "Dimensions": dims,
                        "Value": _version_number(result["version"])})  # fmt: skip
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=metrics)
    return {**json.loads(json.dumps(result, default=str)), "run_id": run_id, "seconds": seconds}
