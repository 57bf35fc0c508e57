"""Train a model version from the labeled data in the data bucket, register it, and gate its promotion.

The data: the most recent `training.window_files` labeled CSVs under training/ and as many under
feedback/ (the labeled batches that scoring kept, bounded: training/sources.py). The holdout is
fresh: `model.holdout_share` of the rows, taken from the newest files first (seeded shuffle within a
file), because the newest data is what the model will face; the candidate and the current champion
are both scored on it, and the promotion gate compares them. A second, reference holdout that no
upload can change judges them too: the files under holdout/, or else `model.holdout_share` of the
curated training/ rows, the same rows in every run (`row_draws`), so no model is fitted on them. The
reference profile for drift comes from the newest rows (at least `training.min_rows` of them).

Reading the data (and reporting files that cannot be read) is `training/data.py`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import platform
import time
from datetime import UTC, datetime
from typing import Any, NamedTuple

import joblib
import numpy as np
import pandas as pd
import scipy
import sklearn

from mlops_core.config import ProjectConfig, config_record
from mlops_core.config.task import Task, fit_targets
from mlops_core.modeling.pipeline import model_input, schema_dict
from mlops_core.modeling.predictions import Predictions, Predictor
from mlops_core.modeling.predictions import metrics as metrics_of
from mlops_core.monitoring.drift import build_profile
from mlops_core.monitoring.multivariate import reference_sample
from mlops_core.monitoring.performance_estimate import fit_calibration
from mlops_core.registry.gate import ReferenceHoldout, gate_promotion
from mlops_core.registry.store import Registry
from mlops_core.storage import layout

from .data import LabeledData, TrainingDataError, read_labeled_data, read_reference_holdout
from .provenance import code_record
from .search import FitPlan, Fitted


def train_and_register(
    s3: Any, *, data_bucket: str, models_bucket: str, config: ProjectConfig, run_id: str | None = None
) -> dict[str, Any]:
    """Train, evaluate, register a new version, and promote it if it passes the gate."""
    candidate = fit_candidate(s3, data_bucket=data_bucket, config=config)
    data, judged, fitted = candidate.data, candidate.judged, candidate.fitted
    registry = Registry(s3, models_bucket)
    version = registry.publish(
        _artifact(fitted.model), _manifest(data, candidate.config, run_id=run_id, judged=judged, fitted=fitted)
    )
    gate = gate_promotion(
        registry,
        version=version,
        metrics=judged.metrics,
        x_holdout=judged.x_holdout,
        y_holdout=judged.y_holdout,
        task=data.task,
        config=candidate.config,
        run_id=run_id,
        notes=() if judged.reference else [f"no reference holdout: no rows under {layout.HOLDOUT} nor curated rows"],
        reference=judged.reference,
    )
    candidate.timings["total_s"] = _seconds_since(candidate.started)
    return {
        "version": version,
        "metrics": judged.metrics,
        "decision": gate.record,
        "promoted": gate.promoted,
        "pending": gate.pending,
        "champion_metrics": gate.champion_metrics,
        "timings": candidate.timings,
        "files": judged.files,
        "rows": judged.rows,
        "search": fitted.search,
    }


class Candidate(NamedTuple):
    """A fitted, judged candidate, not yet registered; `config` has the categories found in the data."""

    config: ProjectConfig
    data: LabeledData
    fitted: Fitted
    judged: Judged
    timings: dict[str, float]
    started: float


def fit_candidate(s3: Any, *, data_bucket: str, config: ProjectConfig, pinned: Pinned | None = None) -> Candidate:
    """Read the data (the window, or exactly the `pinned` object versions), fit and judge a candidate."""
    started = time.monotonic()
    fit_plan = FitPlan.of(config)  # your pipeline and every candidate built first: a bad one stops the run here
    data = read_labeled_data(s3, data_bucket, config, pinned=pinned.training if pinned else None)
    held = read_reference_holdout(s3, data_bucket, config, pinned=pinned.holdout if pinned else None)
    if data.features and data.features != config.features:  # categories found in the data: the model is built with them
        config = dataclasses.replace(config, features=data.features)
        fit_plan = FitPlan.of(config)
    timings = {"read_s": _seconds_since(started)}
    x = model_input(data.columns, config.features)
    split = split_holdout(data, config, curated_reference=held is None)
    fit_started = time.monotonic()
    fitted = fit_plan.fit(config, x.iloc[split.train], fit_targets(data.labels[split.train], data.task), data.task)
    timings["fit_s"] = _seconds_since(fit_started)
    judged = evaluate_candidate(fitted.model, data, x, split, held=held, config=config)
    return Candidate(config, data, fitted, judged, timings, started)


class Pinned(NamedTuple):
    """The exact object versions a run reads instead of listing its window (`training.data.pinned_objects`)."""

    training: list[dict[str, Any]]  # training/ and feedback/, in the recorded order
    holdout: list[dict[str, Any]] | None  # holdout/; None: the run had none


class Judged(NamedTuple):
    """What a fitted candidate is judged and described by: its holdout metrics, the holdout rows the gate
    scores the champion on, the drift profile, the reference holdout, and the rows and files it came from."""

    metrics: dict[str, float]
    x_holdout: pd.DataFrame
    y_holdout: np.ndarray
    profile: dict[str, Any]
    reference: ReferenceHoldout | None
    rows: dict[str, Any]
    files: list[dict[str, Any]]


def evaluate_candidate(
    model: Any, data: LabeledData, x: pd.DataFrame, split: Split, *, held: LabeledData | None, config: ProjectConfig
) -> Judged:
    """The candidate on its fresh holdout (metrics, drift profile, calibration) and on the reference holdout."""
    x_holdout, y_holdout = x.iloc[split.holdout], data.labels[split.holdout]
    holdout = Predictor(model, data.task).predict(x_holdout)
    profile, profile_rows = reference_profile(data, config, holdout=holdout)
    if data.task.kind == "binary":  # the label-free estimate (CBPE) is for binary classifiers
        profile["calibration"] = fit_calibration(holdout.drift_values, y_holdout == data.task.positive)
    reference = reference_holdout(model, data, x, split, held=held, config=config)
    rows = {
        "train": len(split.train),
        "holdout": len(split.holdout),
        "reference": len(reference.y) if reference else 0,
        "profile": profile_rows,
        "by_source": data.rows_by_source(),
    }
    files = [*data.files, *(held.files if held else [])]
    metrics = metrics_of(data.task, y_holdout, holdout)
    return Judged(metrics, x_holdout, y_holdout, profile, reference, rows, files)


class Split(NamedTuple):
    train: np.ndarray
    holdout: np.ndarray
    reference: np.ndarray  # curated rows held out as the reference holdout (empty when holdout/ is)


def split_holdout(data: LabeledData, config: ProjectConfig, *, curated_reference: bool = False) -> Split:
    """Hold out `model.holdout_share` of the rows, newest file first, and within a file the rows with the
    lowest `row_draws`; with `curated_reference`, also the reference holdout: every curated row whose draw
    is below that share, in every run, so no model is ever fitted on it. With curated data alone, the
    two holdouts are nearly the same rows."""
    share = config.model.holdout_share
    draws = row_draws(data, config.model.seed)
    order = np.lexsort((draws, data.recency))
    n_holdout = max(1, int(len(order) * share))
    holdout = np.sort(order[:n_holdout])
    reference = np.flatnonzero(data.curated & (draws < share)) if curated_reference else np.empty(0, np.int64)
    train = np.setdiff1d(np.arange(len(order)), np.union1d(holdout, reference))
    return Split(train=train, holdout=holdout, reference=reference)


def row_draws(data: LabeledData, seed: int) -> np.ndarray:
    """A uniform draw in [0, 1) per row, fixed by the seed, the row's file key and its place in the file: the
    same row gets the same draw in every run, so the rows it holds out stay held out."""
    draws = np.empty(len(data.labels))
    for index, entry in enumerate(data.files):
        rows = data.recency == index
        key = int.from_bytes(hashlib.sha256(entry["key"].encode()).digest()[:8], "big")
        draws[rows] = np.random.default_rng([seed, key]).random(int(rows.sum()))
    return draws


def reference_holdout(
    model: Any, data: LabeledData, x: pd.DataFrame, split: Split, *, held: LabeledData | None, config: ProjectConfig
) -> ReferenceHoldout | None:
    """The rows the gate's second decision reads (holdout/, else the curated rows of `split.reference`) with
    the candidate's metrics on them; None when there are none."""
    if held is not None:
        _check_reference_classes(held, data.task)
        x_ref, y_ref, source = model_input(held.columns, config.features), held.labels, layout.HOLDOUT
    elif len(split.reference):
        x_ref, y_ref, source = x.iloc[split.reference], data.labels[split.reference], layout.TRAINING
    else:
        return None
    return ReferenceHoldout(x_ref, y_ref, evaluate(model, x_ref, y_ref, data.task), source)


def _check_reference_classes(held: LabeledData, task: Task) -> None:
    unknown = set(np.unique(held.labels).tolist()) - set(task.classes) if task.is_classification else set()
    if unknown:
        raise TrainingDataError(
            f"the reference holdout under {layout.HOLDOUT} has class(es) {sorted(unknown)} that the training "
            f"data lacks ({', '.join(task.classes)}): it can only judge classes the model can predict"
        )


def evaluate(model: Any, x: pd.DataFrame, y: np.ndarray, task: Task) -> dict[str, Any]:
    """Holdout metrics of the task (see mlops_core.modeling.predictions.metrics)."""
    return metrics_of(task, y, Predictor(model, task).predict(x))


def reference_profile(data: LabeledData, config: ProjectConfig, *, holdout: Predictions) -> tuple[dict, int]:
    """The drift reference: the newest files' feature distributions, the model's predictions on the
    holdout (rows it was not fitted on), and a bounded sample of the rows for the multivariate check
    (none when drift.reference_sample_rows is 0); (profile, feature rows)."""
    recent = _profile_rows(data.recency, config.training.min_rows)
    columns = {k: v[recent] for k, v in data.columns.items()}
    profile = build_profile(columns, config.features, holdout.drift_values, config.drift.bins, task=data.task)
    sample = reference_sample(columns, config.features, rows=config.drift.reference_sample_rows, seed=config.model.seed)
    if sample is not None:
        profile["reference_sample"] = sample
    return profile, int(recent.sum())


def _profile_rows(recency: np.ndarray, minimum: int) -> np.ndarray:
    """A mask of the newest files' rows, at least `minimum` of them (or all rows)."""
    counts = np.bincount(recency)
    newest = int(np.searchsorted(np.cumsum(counts), minimum)) if counts.sum() > minimum else len(counts)
    return recency <= newest


def _artifact(model: Any) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=3)
    return buffer.getvalue()


def _manifest(
    data: LabeledData,
    config: ProjectConfig,
    *,
    run_id: str | None,
    judged: Judged,
    fitted: Fitted,
) -> dict[str, Any]:
    return {
        "created_at": datetime.now(UTC).isoformat(),
        "run_id": run_id,
        "data": judged.files,
        "rows": judged.rows,
        "estimator": fitted.estimator,
        "params": fitted.params,
        "pipeline": config.model.pipeline,  # the user's own pipeline function, if any
        "search": fitted.search,  # the leaderboard of the model search, if any (training/search.py)
        "seed": config.model.seed,
        "metrics": judged.metrics,
        "schema": schema_dict(config, data.task),
        "profile": judged.profile,
        "versions": library_versions(),
        "config": config_record(),  # its text and SHA-256, and the code's digest: what `mlops reproduce` needs
        "code": code_record(),
    }


def library_versions() -> dict[str, str]:
    """Python's version and each library's that decides what a fit computes."""
    return {
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
    }


def _seconds_since(start: float) -> float:
    return round(time.monotonic() - start, 3)
