"""End a run that could not report its own end: record -> lock -> TrainingFailures and the alerts topic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mlops_core.registry.failures import TellsFailures
from mlops_core.registry.runs import RunLedger


@dataclass(frozen=True)
class Ending:
    """How a run ended, as its backend tells it."""

    run_id: str
    reason: str  # what happened, for the run record and the alert
    source: Literal["lambda", "sagemaker"]  # the training function's on-failure destination, or a SageMaker event


def end_unreported_run(*, ending: Ending, ledger: RunLedger, alerts: TellsFailures, now: datetime) -> dict[str, Any]:
    """Mark the run failed if its record still says started; release its lock and tell the failure.

    A run that reported its own end is left as it is: the training job reports a failure it caught and then
    fails its invocation (so its on-failure destination fires too), and both sources may deliver an event twice.
    The record's conditional write lets one invocation end the run, so the failure is told once; should telling
    fail, this invocation fails with the record already failed and the lock released.
    """
    error = f"ended without reporting: {ending.reason}"
    ended = ledger.end_if_started(
        ending.run_id, status="failed", finished_at=now.isoformat(), error=error, ended_by=ending.source
    )
    if ended is None:
        existing = ledger.get(ending.run_id)
        reason = "unknown-run" if existing is None else "already-ended"
        return {"failed": False, "reason": reason, "run_id": ending.run_id}
    released = ledger.release(ending.run_id)
    alerts.tell(ending.run_id, error)
    return {"failed": True, "reason": "ended-without-reporting", "run_id": ending.run_id, "lock_released": released}
