"""Train a model version from the labeled data in the data bucket, register it, and gate its promotion.

The data: the most recent `training.window_files` labeled CSVs under training/ and feedback/ (the
labeled batches that scoring kept). The holdout is fresh: `model.holdout_share` of the rows, taken
from the newest files first (seeded shuffle within a file), because the newest data is what the
model will face; the candidate and the current champion are both scored on it, and the promotion
gate compares them. The reference profile for drift comes from the newest rows too (at least
`training.min_rows` of them).

Reading the data (and reporting files that cannot be read) is `training/data.py`.
"""

from __future__ import annotations

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

from mlops_core.config.project import ProjectConfig
from mlops_core.config.task import Task, fit_targets
from mlops_core.modeling.pipeline import model_input, schema_dict
from mlops_core.modeling.predictions import Predictions, Predictor
from mlops_core.modeling.predictions import metrics as metrics_of
from mlops_core.monitoring.drift import build_profile
from mlops_core.monitoring.multivariate import reference_sample
from mlops_core.monitoring.performance_estimate import fit_calibration
from mlops_core.registry.gate import gate_promotion
from mlops_core.registry.store import Registry

from .data import LabeledData, read_labeled_data
from .search import FitPlan, Fitted


def train_and_register(
    s3: Any, *, data_bucket: str, models_bucket: str, config: ProjectConfig, run_id: str | None = None
) -> dict[str, Any]:
    """Train, evaluate, register a new version, and promote it if it passes the gate."""
    started = time.monotonic()
    fit_plan = FitPlan.of(config)  # your pipeline and every candidate built first: a bad one stops the run here
    data = read_labeled_data(s3, data_bucket, config)
    timings = {"read_s": _seconds_since(started)}
    x = model_input(data.columns, config.features)
    split = split_holdout(data, config)
    fit_started = time.monotonic()
    fitted = fit_plan.fit(config, x.iloc[split.train], fit_targets(data.labels[split.train], data.task), data.task)
    model = fitted.model
    timings["fit_s"] = _seconds_since(fit_started)
    x_holdout, y_holdout = x.iloc[split.holdout], data.labels[split.holdout]
    holdout = Predictor(model, data.task).predict(x_holdout)
    metrics = metrics_of(data.task, y_holdout, holdout)
    profile, profile_rows = reference_profile(data, config, holdout=holdout)
    if data.task.kind == "binary":  # the label-free estimate (CBPE) is for binary classifiers
        profile["calibration"] = fit_calibration(holdout.drift_values, y_holdout == data.task.positive)
    rows = {"train": len(split.train), "holdout": len(split.holdout), "profile": profile_rows}
    registry = Registry(s3, models_bucket)
    manifest = _manifest(data, config, run_id=run_id, rows=rows, metrics=metrics, profile=profile, fitted=fitted)
    version = registry.publish(_artifact(model), manifest)
    gate = gate_promotion(
        registry,
        version=version,
        metrics=metrics,
        x_holdout=x_holdout,
        y_holdout=y_holdout,
        task=data.task,
        config=config,
        run_id=run_id,
    )
    timings["total_s"] = _seconds_since(started)
    return {
        "version": version,
        "metrics": metrics,
        "decision": gate.record,
        "promoted": gate.promoted,
        "pending": gate.pending,
        "champion_metrics": gate.champion_metrics,
        "timings": timings,
        "files": data.files,
        "search": fitted.search,
    }


class Split(NamedTuple):
    train: np.ndarray
    holdout: np.ndarray


def split_holdout(data: LabeledData, config: ProjectConfig) -> Split:
    """Hold out `model.holdout_share` of the rows, newest file first and shuffled (seeded) within each file."""
    rng = np.random.default_rng(config.model.seed)
    order = np.lexsort((rng.random(len(data.labels)), data.recency))
    n_holdout = max(1, int(len(order) * config.model.holdout_share))
    return Split(train=np.sort(order[n_holdout:]), holdout=np.sort(order[:n_holdout]))


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
    rows: dict[str, int],
    metrics: dict[str, float],
    profile: dict[str, Any],
    fitted: Fitted,
) -> dict[str, Any]:
    versions = {
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }
    return {
        "created_at": datetime.now(UTC).isoformat(),
        "run_id": run_id,
        "data": data.files,
        "rows": rows,
        "estimator": fitted.estimator,
        "params": fitted.params,
        "pipeline": config.model.pipeline,  # the user's own pipeline function, if any
        "search": fitted.search,  # the leaderboard of the model search, if any (training/search.py)
        "seed": config.model.seed,
        "metrics": metrics,
        "schema": schema_dict(config, data.task),
        "profile": profile,
        "versions": versions,
    }


def _seconds_since(start: float) -> float:
    return round(time.monotonic() - start, 3)
