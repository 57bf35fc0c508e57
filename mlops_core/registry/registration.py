"""A model trained elsewhere, as the registry keeps it: its reference file and its manifest.

`mlops register MODEL --reference FILE` (mlopsctl/register.py) reads the reference file here, with the
same reader, conversion and skipped-row rule as a training file (mlops_core/data/labeled.py); the model
is checked in another process (mlopsctl/modelcheck.py), and its predictions on the reference rows come
back. The manifest is then built like a trained version's: the schema, the drift profile of the
reference rows with the model's own predictions (for a binary task with labels, the calibration of the
label-free estimate too), a reference sample for the multivariate check, the holdout metrics when the
file has labels, and the model's origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ProjectConfig, Task
from ..data import FileRejected, FileRows, MissingColumns, stream_rows, too_large, too_many_skipped
from ..modeling import Predictions, schema_dict
from ..monitoring import build_profile, fit_calibration, reference_sample

NO_LABELS_NOTE = (
    "no label-free performance estimate: the model was registered with an unlabeled reference file; "
    "register it again with a labeled one to get it"
)


class ReferenceFileError(ValueError):
    """The reference file cannot be used; `fix` says what to do."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


@dataclass(frozen=True)
class Reference:
    """The reference file's good rows, its labels (None: the file has no label column) and its entry in the
    manifest's `data` (the rows used and skipped per reason, its SHA-256)."""

    columns: dict[str, np.ndarray]
    labels: np.ndarray | None
    entry: dict[str, Any]

    @property
    def rows(self) -> int:
        return int(self.entry["rows"])

    @property
    def labeled(self) -> bool:
        return self.labels is not None


def read_reference(path: Path, config: ProjectConfig) -> Reference:
    """Read a reference file as training reads its files (every row used or counted with its reason);
    ReferenceFileError when it is unreadable, skips too many rows, or has fewer than `training.min_rows`."""
    rows = FileRows()
    try:
        if path.stat().st_size > config.scoring.max_file_bytes:
            raise too_large(path.stat().st_size, config.scoring.max_file_bytes)
        with path.open("rb") as body:
            sha256 = stream_rows(body, key=path.name, config=config, into=rows, require_label=False)
    except FileRejected as rejected:
        message = f"reference file {path.name} was rejected ({rejected.kind}): {rejected}"
        raise ReferenceFileError(message, rejected.fix) from rejected
    except MissingColumns as exc:
        needs = f"the reference needs every feature column: {', '.join(config.feature_names)}"
        raise ReferenceFileError(str(exc), needs) from exc
    problem = too_many_skipped(rows, path.name, config.training.max_bad_row_share)
    if problem:
        raise ReferenceFileError(problem, "the reference rows are read as training data is: fix the rows listed")
    if rows.rows < config.training.min_rows:
        raise ReferenceFileError(
            f"reference file {path.name} has {rows.rows:,} usable rows; a drift profile needs at least "
            f"training.min_rows = {config.training.min_rows:,}",
            "give more rows the model was not trained on (a holdout)",
        )
    columns = {n: np.concatenate([c[n] for c in rows.columns]) for n in config.feature_names}
    labels = np.concatenate(rows.labels) if rows.labeled else None
    entry = {"key": path.name, "sha256": sha256, "labeled": rows.labeled, **rows.accounting()}
    return Reference(columns, labels, entry)


def registered_manifest(
    *,
    reference: Reference,
    config: ProjectConfig,
    config_file: dict[str, str],
    task: Task,
    predictions: Predictions,
    metrics: dict[str, Any],
    model: dict[str, Any],
    origin: dict[str, Any],
) -> dict[str, Any]:
    """The manifest of a registered model (the registry adds the version, the artifact key and SHA-256)."""
    return {
        "created_at": datetime.now(UTC).isoformat(),
        "run_id": None,
        "data": [reference.entry],
        "rows": {"train": None, "holdout": reference.rows if reference.labeled else 0, "profile": reference.rows},
        "estimator": model.get("estimator"),
        "params": None,
        "seed": None,
        "metrics": metrics,
        "schema": schema_dict(config, task),
        "profile": reference_profile(reference, config, task=task, predictions=predictions),
        "versions": {"sklearn": origin.get("sklearn"), "numpy": origin.get("numpy")},  # as found in the file
        "origin": origin,
        "config": config_file,  # `config_record`: the config it was checked and profiled with
    }


def reference_profile(
    reference: Reference, config: ProjectConfig, *, task: Task, predictions: Predictions
) -> dict[str, Any]:
    """The drift reference: every reference row's features, the model's predictions on them, for a binary
    task with labels the calibration of the label-free estimate, and the multivariate check's sample."""
    profile = build_profile(reference.columns, config.features, predictions.drift_values, config.drift.bins, task=task)
    if task.kind == "binary" and reference.labels is not None:
        profile["calibration"] = fit_calibration(predictions.drift_values, reference.labels == task.positive)
    elif task.kind == "binary":
        profile["calibration_note"] = NO_LABELS_NOTE
    columns, features = reference.columns, config.features
    sample = reference_sample(columns, features, rows=config.drift.reference_sample_rows, seed=config.model.seed)
    if sample is not None:
        profile["reference_sample"] = sample
    return profile
