"""Train a model version from the labeled data in the data bucket, register it, and gate its promotion.

The data: the most recent `training.window_files` labeled CSVs under training/ and feedback/ (the
labeled batches that scoring kept). The holdout is fresh: `model.holdout_share` of the rows, taken
from the newest files first (seeded shuffle within a file), because the newest data is what the
model will face; the candidate and the current champion are both scored on it, and the promotion
gate compares them. The reference profile for drift comes from the newest rows too (at least
`training.min_rows` of them).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import joblib
import numpy as np
import scipy
import sklearn
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from mlops_core import layout
from mlops_core.config import ProjectConfig
from mlops_core.csvdata import convert_rows
from mlops_core.drift import build_profile
from mlops_core.features import build_pipeline, features_from_schema, model_input, schema_dict
from mlops_core.promotion import decide
from mlops_core.registry import ChampionConflict, Registry


class TrainingDataError(ValueError):
    """The labeled data is missing or unusable; the message says what to fix."""


@dataclass
class LabeledData:
    columns: dict[str, np.ndarray]
    labels: np.ndarray
    files: list[dict[str, Any]]
    recency: np.ndarray  # index of the file each row came from, 0 = newest


def list_labeled_files(s3: Any, bucket: str, window: int) -> list[dict[str, Any]]:
    """The newest `window` labeled CSV objects under training/ and feedback/, newest first."""
    objects = []
    for prefix in (layout.TRAINING, layout.FEEDBACK):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            objects += [o for o in page.get("Contents", []) if o["Key"].endswith((".csv", ".csv.gz"))]

    # S3 times have one-second resolution; within a tie, feedback (what scoring saw in production)
    # counts as newer than files an operator placed under training/.
    def recency(o: dict[str, Any]) -> tuple:
        return (o["LastModified"], o["Key"].startswith(layout.FEEDBACK), o["Key"])

    return sorted(objects, key=recency, reverse=True)[:window]


def read_labeled_data(s3: Any, bucket: str, config: ProjectConfig) -> LabeledData:
    """Read and validate the window's files; rows with errors or no label are skipped and counted."""
    objects = list_labeled_files(s3, bucket, config.training.window_files)
    if not objects:
        raise TrainingDataError(f"no labeled CSV under s3://{bucket}/{layout.TRAINING} or {layout.FEEDBACK}")
    parts: list[dict[str, np.ndarray]] = []
    labels: list[np.ndarray] = []
    recency: list[np.ndarray] = []
    files = []
    for index, obj in enumerate(objects):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        sha = hashlib.sha256(body).hexdigest()
        if obj["Key"].endswith(".gz"):
            body = gzip.decompress(body)
        reader = csv.reader(io.StringIO(body.decode("utf-8-sig")))
        header = next(reader, [])
        missing = [n for n in [*config.feature_names, config.label] if n not in header]
        if missing:
            raise TrainingDataError(f"{obj['Key']} lacks column(s) {', '.join(missing)}")
        chunk = convert_rows(header, list(reader), first_row=1, features=config.features, label=config.label,
                             max_field_chars=config.scoring.max_field_chars)  # fmt: skip
        known = chunk.label >= 0
        parts.append({k: v[known] for k, v in chunk.columns.items()})
        labels.append(chunk.label[known].astype(np.int64))
        recency.append(np.full(int(known.sum()), index))
        files.append({"key": obj["Key"], "etag": obj["ETag"].strip('"'), "sha256": sha,
                      "rows": int(known.sum()), "skipped_rows": len(chunk.errors) + int((~known).sum())})  # fmt: skip
    columns = {name: np.concatenate([p[name] for p in parts]) for name in config.feature_names}
    data = LabeledData(columns, np.concatenate(labels), files, np.concatenate(recency))
    if len(data.labels) < config.training.min_rows:
        raise TrainingDataError(f"{len(data.labels)} labeled rows; training needs at least {config.training.min_rows}")
    if len(np.unique(data.labels)) < 2:
        raise TrainingDataError("the labeled data has a single class; training needs both 0 and 1")
    return data


def evaluate(model: Any, x: np.ndarray, y: np.ndarray, positive_class: int) -> dict[str, float]:
    """Holdout metrics: ROC AUC, accuracy, log loss."""
    classes = list(model.classes_)
    scores = model.predict_proba(x)[:, classes.index(positive_class)]
    predicted = (scores >= 0.5).astype(int) if positive_class == 1 else (scores < 0.5).astype(int)
    return {
        "roc_auc": round(float(roc_auc_score(y == positive_class, scores)), 6),
        "accuracy": round(float(accuracy_score(y, predicted)), 6),
        "log_loss": round(float(log_loss(y == positive_class, scores, labels=[False, True])), 6),
        "rows": len(y),
    }


def _profile_rows(recency: np.ndarray, minimum: int) -> np.ndarray:
    """A mask of the newest files' rows, at least `minimum` of them (or all rows)."""
    counts = np.bincount(recency)
    newest = int(np.searchsorted(np.cumsum(counts), minimum)) if counts.sum() > minimum else len(counts)
    return recency <= newest


def train_and_register(
    s3: Any, *, data_bucket: str, models_bucket: str, config: ProjectConfig, run_id: str | None = None
) -> dict[str, Any]:
    """Train, evaluate, register a new version, and promote it if it passes the gate."""
    timings: dict[str, float] = {}
    started = t0 = time.monotonic()
    data = read_labeled_data(s3, data_bucket, config)
    timings["read_s"] = round(time.monotonic() - t0, 3)

    x = model_input(data.columns, config.features)
    rng = np.random.default_rng(config.model.seed)
    # Newest file first, shuffled within each file: the holdout is the freshest data.
    order = np.lexsort((rng.random(len(data.labels)), data.recency))
    n_holdout = max(1, int(len(order) * config.model.holdout_share))
    holdout, train = np.sort(order[:n_holdout]), np.sort(order[n_holdout:])

    t0 = time.monotonic()
    model = build_pipeline(config).fit(x[train], data.labels[train])
    timings["fit_s"] = round(time.monotonic() - t0, 3)
    metrics = evaluate(model, x[holdout], data.labels[holdout], config.positive_class)

    recent = _profile_rows(data.recency, config.training.min_rows)
    classes = list(model.classes_)
    scores = model.predict_proba(x[recent])[:, classes.index(config.positive_class)]
    profile = build_profile({k: v[recent] for k, v in data.columns.items()}, config.features, scores,
                            config.drift.bins)  # fmt: skip

    registry = Registry(s3, models_bucket)
    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=3)
    manifest = {
        "created_at": datetime.now(UTC).isoformat(),
        "run_id": run_id,
        "data": data.files,
        "rows": {"train": len(train), "holdout": len(holdout), "profile": int(recent.sum())},
        "estimator": config.model.estimator,
        "params": config.model.params,
        "seed": config.model.seed,
        "metrics": metrics,
        "schema": schema_dict(config),
        "profile": profile,
        "versions": {"python": platform.python_version(), "sklearn": sklearn.__version__,
                     "numpy": np.__version__, "scipy": scipy.__version__, "joblib": joblib.__version__},
    }  # fmt: skip
    version = registry.publish(buffer.getvalue(), manifest)

    champion = registry.champion()
    champion_metrics = None
    notes = []
    if champion is not None:
        champion_model, champion_manifest = registry.load_model(champion.version)
        if features_from_schema(champion_manifest["schema"]) == config.features:
            champion_metrics = evaluate(champion_model, x[holdout], data.labels[holdout], config.positive_class)
        else:
            notes.append(f"champion {champion.version} has another feature schema: compared on the floor only")
    decision = decide(metrics, champion_metrics, config.promotion)
    record = {"kind": "promote" if decision.promote else "reject", "version": version, "run_id": run_id,
              "champion": champion.version if champion else None, "reasons": decision.reasons + notes,
              "candidate_metrics": metrics, "champion_metrics": champion_metrics}  # fmt: skip
    promoted = False
    if decision.promote:
        try:
            registry.promote(version, expected=champion, decision=record)
            promoted = True
        except ChampionConflict as exc:
            record = {**record, "kind": "conflict", "reasons": [*record["reasons"], str(exc)]}
    registry.record_decision(record)
    timings["total_s"] = round(time.monotonic() - started, 3)
    return {"version": version, "metrics": metrics, "decision": record, "promoted": promoted,
            "champion_metrics": champion_metrics, "timings": timings}  # fmt: skip
