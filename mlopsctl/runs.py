"""Training runs on a deployed stack: start one as the operator, wait for it, and read what data it used."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from mlops_core.registry.store import UnknownVersion

from .stack import OpsError, Pipeline, wait_for


def start_training(
    pipeline: Pipeline, reason: str, backend: str | None = None, *, reproduce: str | None = None
) -> dict[str, Any]:
    """Ask the retraining function for a run, as an operator (skips the cooldown, never the lock); `backend` names
    one of the stack's training backends for this run (default: the stack's own); `reproduce` a run to train again
    from its recorded inputs instead (nothing is registered)."""
    event = {
        "source": "manual",
        "reason": reason,
        **({"backend": backend} if backend else {}),
        **({"reproduce": reproduce} if reproduce else {}),
    }
    response = pipeline.client("lambda").invoke(
        FunctionName=pipeline.outputs["RetrainingFunction"], Payload=json.dumps(event).encode()
    )
    payload = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        raise OpsError(
            f"the retraining function failed: {payload.get('errorMessage', payload)}",
            "see its logs with `mlops logs retraining`",
        )
    return payload


def wait_for_run(
    pipeline: Pipeline, run_id: str, *, timeout_s: float = 600, progress: Callable[[float], None] | None = None
) -> dict[str, Any]:
    """Wait until the run record says succeeded or failed; return it."""
    ledger = pipeline.ledger()

    def finished() -> dict[str, Any] | None:
        run = ledger.get(run_id)
        return run if run and run.get("status") in ("succeeded", "failed") else None

    return wait_for(f"training run {run_id}", finished, timeout_s=timeout_s, interval_s=2, progress=progress)


def run_files(pipeline: Pipeline, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-file data accounting of a finished run: from its record, else from its version's manifest."""
    files = run.get("files") or run.get("data")
    if files or not run.get("version"):
        return list(files or [])
    try:
        return list(pipeline.registry().manifest(run["version"]).get("data") or [])
    except (ClientError, UnknownVersion):
        return []
