"""Lambda entry point: the monitoring schedule's event (every `online.monitor_every_minutes`), or a manual
invocation; either closes every window that is due and not closed yet (lambdas/online_monitor/logic.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any

import boto3

from mlops_core.config import ProjectConfig, load_config
from mlops_core.environment import OnlineMonitorEnvironment
from mlops_core.observability import function_logger, put_metrics
from mlops_core.registry.runs import utcnow

from .logic import close_window, due_windows, window_metrics
from .store import WINDOW_FORMAT, WindowStore

logger = function_logger("online-monitor")


@cache
def environment() -> tuple[ProjectConfig, OnlineMonitorEnvironment, WindowStore, Any]:
    env, config = OnlineMonitorEnvironment.from_environment(), load_config()
    store = WindowStore(boto3.client("s3"), env.data_bucket)
    return config, env, store, boto3.client("cloudwatch")


def close_due_windows(now: datetime) -> list[dict[str, Any]]:
    """Close every due window; their reports (windows closed before are left out)."""
    config, env, store, cloudwatch = environment()
    reports = []
    for window in due_windows(now, config.online, store):
        report = close_window(window, store=store, settings=config.online, label=config.label)
        if report is None:
            continue
        end = datetime.strptime(window, WINDOW_FORMAT) + timedelta(seconds=config.online.window_seconds)
        put_metrics(cloudwatch, window_metrics(report, pipeline=config.name, at=end), namespace=env.namespace)
        logger.info("window closed", extra={k: v for k, v in report.items() if k != "unmatched"})
        reports.append(report)
    return reports


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    reports = close_due_windows(utcnow())
    return {"closed": [r["window"] for r in reports], "batches": [k for r in reports for k in r["batches"]]}
