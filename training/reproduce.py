"""Train a finished run again from exactly what it read, and say whether its model came out the same.

The run's manifest names every input file by key, S3 version id and SHA-256 (training/data.py), the config's
text and the seeds (training/provenance.py). A reproduction reads those object versions, parses that config,
fits and judges a candidate as the run did (training/train.py's `fit_candidate`), and compares it with the
registered model on the same holdout rows. It registers nothing and moves no pointer: it only reads the
registry.

Equal means bit for bit: the same data, config, seeds and library versions give the same fit on one machine.
Floating-point sums may still differ across machines or thread counts (BLAS, OpenMP), so predictions within
PREDICTION_TOLERANCE of each other are "reproduced within tolerance", said as such.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from mlops_core.config import ProjectConfig, recorded_config
from mlops_core.modeling.predictions import Predictions, Predictor
from mlops_core.registry.runs import RunLedger, utcnow
from mlops_core.registry.store import Registry

from .data import DataVersionGone, pinned_objects
from .provenance import code_record
from .train import Pinned, fit_candidate, library_versions

PREDICTION_TOLERANCE = 1e-9  # absolute, on probabilities, regression values and metrics


class NotReproducible(ValueError):
    """The run cannot be trained again as it was; the message says which input is missing."""


def reproduce_run(
    s3: Any, *, data_bucket: str, models_bucket: str, run_id: str, deployed: ProjectConfig
) -> dict[str, Any]:
    """Train run `run_id` again from its recorded inputs and compare; the comparison, for the run record.

    Raises NotReproducible (a run without a version, an input without a version id) or DataVersionGone.
    """
    registry = Registry(s3, models_bucket)
    version = _version_of(RunLedger(s3, models_bucket).get(run_id), run_id)
    manifest = registry.manifest(version)
    config = recorded_config(manifest["config"]) if "config" in manifest else deployed
    pinned = Pinned(
        training=pinned_objects(s3, data_bucket, _versioned(manifest, sources=("training", "feedback"))),
        holdout=pinned_objects(s3, data_bucket, holdout) if (holdout := _versioned(manifest, ("holdout",))) else None,
    )
    candidate = fit_candidate(s3, data_bucket=data_bucket, config=config, pinned=pinned)
    original, _ = registry.load_model(version)
    task = candidate.data.task
    rows = candidate.judged.x_holdout
    return {
        "reproduces": {"run_id": run_id, "version": version},
        **compare(
            metrics=(manifest["metrics"], candidate.judged.metrics),
            predictions=(
                _numbers(Predictor(original, task).predict(rows)),
                _numbers(Predictor(candidate.fitted.model, task).predict(rows)),
            ),
        ),
        "holdout_rows": len(candidate.judged.y_holdout),
        "changed": changed_since(manifest, deployed_code=str(code_record()["sha256"])),
    }


def run_reproduction(
    *,
    s3: Any,
    ledger: RunLedger,
    data_bucket: str,
    models_bucket: str,
    config: ProjectConfig,
    run_id: str,
    of: str,
) -> dict[str, Any]:
    """Reproduce run `of` as run `run_id`: its record says the verdict, or why it could not be reproduced.

    No metric and no alert: the operator who asked reads the record (`mlops reproduce` waits for it). The lock is
    released either way; a process that dies mid-run is ended like any run (lambdas/training_ended).
    """
    started = time.monotonic()
    try:
        result = reproduce_run(s3, data_bucket=data_bucket, models_bucket=models_bucket, run_id=of, deployed=config)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        ledger.record(run_id, status="failed", finished_at=utcnow().isoformat(), error=error, reproduces={"run_id": of})
        ledger.release(run_id)
        return {"run_id": run_id, "status": "failed", "error": error}
    seconds = round(time.monotonic() - started, 2)
    ledger.record(run_id, status="succeeded", finished_at=utcnow().isoformat(), seconds=seconds, reproduction=result)
    ledger.release(run_id)
    return {"run_id": run_id, "status": "succeeded", "seconds": seconds, "reproduction": result}


def compare(
    *, metrics: tuple[dict[str, Any], dict[str, Any]], predictions: tuple[np.ndarray, np.ndarray]
) -> dict[str, Any]:
    """The verdict on (original, reproduction): "reproduced", "reproduced within tolerance" or "differs", and why."""
    (was, now), (before, after) = metrics, predictions
    differences = [
        f"metric {name}: {was.get(name)} then, {now.get(name)} now"
        for name in sorted(set(was) | set(now))
        if not _same(was.get(name), now.get(name))
    ]
    if before.shape != after.shape:
        differences.append(f"holdout predictions: {before.shape} then, {after.shape} now")
        gap = float("inf")
    else:
        gap = float(np.max(np.abs(before - after))) if before.size else 0.0
    if gap > PREDICTION_TOLERANCE:
        differences.append(f"holdout predictions differ by up to {gap:.3g} (tolerance {PREDICTION_TOLERANCE:g})")
    exact = gap == 0 and all(was.get(name) == now.get(name) for name in was)
    verdict = "differs" if differences else "reproduced" if exact else "reproduced within tolerance"
    return {"verdict": verdict, "max_prediction_gap": gap, "differences": differences}


def changed_since(manifest: dict[str, Any], *, deployed_code: str) -> list[str]:
    """What differs between the run's code and libraries and this process's: the likely reasons for a difference."""
    changes = [
        f"{name} {then} then, {now} now"
        for name, then in manifest.get("versions", {}).items()
        if (now := library_versions().get(name)) is not None and then != now
    ]
    recorded_code = manifest.get("code", {}).get("sha256")
    if recorded_code and recorded_code != deployed_code:
        changes.append("the code (mlops_core, training, pipelines) changed since the run")
    return changes


def _same(then: Any, now: Any) -> bool:
    if isinstance(then, int | float) and isinstance(now, int | float):
        return math.isclose(then, now, rel_tol=0, abs_tol=PREDICTION_TOLERANCE)
    return bool(then == now)


def _numbers(predictions: Predictions) -> np.ndarray:
    """What a model says about each row, as numbers: every class's probability, or the predicted values."""
    return np.asarray(predictions.proba if predictions.proba is not None else predictions.predicted, dtype=float)


def _version_of(run: dict[str, Any] | None, run_id: str) -> str:
    if run is None:
        raise NotReproducible(f"no training run {run_id}: `mlops status` lists the recent runs")
    if not run.get("version"):
        raise NotReproducible(f"run {run_id} registered no model ({run.get('status')}): there is nothing to compare")
    return str(run["version"])


def _versioned(manifest: dict[str, Any], sources: tuple[str, ...]) -> list[dict[str, Any]]:
    """The manifest's files from `sources` that were read (not rejected); each must have its version id."""
    entries = [e for e in manifest.get("data", []) if e.get("source") in sources and "rejected" not in e]
    unpinned = [e["key"] for e in entries if not e.get("version_id")]
    if unpinned:
        raise NotReproducible(
            f"the run did not record which version of {', '.join(unpinned)} it read (trained before versions were "
            "recorded, or from a bucket without versioning)"
        )
    return entries


__all__ = ["DataVersionGone", "NotReproducible", "compare", "reproduce_run", "run_reproduction"]
