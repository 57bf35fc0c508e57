"""Decide whether to start a training run, and start it: trigger -> cooldown -> lock -> backend."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mlops_core.config import RetrainingSettings
from mlops_core.registry.failures import TellsFailures
from mlops_core.registry.runs import RunLedger, new_run_id

from .backends import TrainingBackend


def start_training(
    *,
    trigger: dict[str, Any],
    ledger: RunLedger,
    backend: TrainingBackend,
    settings: RetrainingSettings,
    alerts: TellsFailures,
    now: datetime,
    force: bool = False,
) -> dict[str, Any]:
    """Start a run unless one is running or the last one started within the cooldown.

    Returns {"started": bool, "reason": ..., "run_id": ...}. `force` (a manual trigger) skips the
    cooldown but never the lock. If the backend cannot start, the run is recorded as failed, the lock
    is released and the failure told (`TrainingFailures`, the alerts topic) before the error propagates.
    """
    if not force:
        recent = ledger.in_cooldown(cooldown_seconds=settings.cooldown_seconds, now=now)
        if recent is not None:
            return {"started": False, "reason": "cooldown", "run_id": recent["run_id"]}
    run_id = new_run_id(now)
    if not ledger.acquire(run_id, ttl_seconds=settings.lock_ttl_seconds, now=now):
        holder = ledger.current_lock()
        return {"started": False, "reason": "locked", "run_id": holder.owner if holder else None}
    ledger.record(run_id, status="started", started_at=now.isoformat(), trigger=trigger, backend=backend.name)
    try:
        handle = backend.start(run_id, trigger)
    except Exception as exc:
        error = f"could not start: {type(exc).__name__}: {exc}"
        ledger.record(run_id, status="failed", finished_at=now.isoformat(), error=error)
        ledger.release(run_id)
        alerts.tell(run_id, error)
        raise
    ledger.record(run_id, backend_handle=handle)
    return {"started": True, "reason": "started", "run_id": run_id}
