"""Train a model version from the labeled data in the data bucket, register it, and gate its promotion.

The data: the most recent `training.window_files` labeled CSVs under training/ and feedback/ (the
labeled batches that scoring kept). The holdout is fresh: `model.holdout_share` of the rows, taken
from the newest files first (seeded shuffle within a file), because the newest data is what the
model will face; the candidate and the current champion are both scored on it, and the promotion
gate compares them. The reference profile for drift comes from the newest rows too (at least
`training.min_rows` of them).

Each file streams through the same CSV reader as scoring, with the same guards (size limit, gzip
bombs, line length, UTF-8, binary files): a file the reader rejects is reported in the manifest's
`data` and the run goes on with the other files.
"""

from __future__ import annotations

import hashlib
import io
import platform
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, NamedTuple

import joblib
import numpy as np
import scipy
import sklearn
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from mlops_core import layout
from mlops_core.config import ProjectConfig
from mlops_core.csvdata import Chunk, convert_rows
from mlops_core.csvreader import READ_BUFFER_BYTES, CsvRows, FileRejected
from mlops_core.drift import build_profile
from mlops_core.features import build_pipeline, features_from_schema, model_input, schema_dict
from mlops_core.promotion import decide
from mlops_core.registry import Champion, ChampionConflict, Registry


class TrainingDataError(ValueError):
    """The labeled data is missing or unusable; the message says what to fix."""


@dataclass
class LabeledData:
    columns: dict[str, np.ndarray]
    labels: np.ndarray
    files: list[dict[str, Any]]
    recency: np.ndarray  # index of the file each row came from, 0 = newest


def train_and_register(
    s3: Any, *, data_bucket: str, models_bucket: str, config: ProjectConfig, run_id: str | None = None
) -> dict[str, Any]:
    """Train, evaluate, register a new version, and promote it if it passes the gate."""
    started = time.monotonic()
    data = read_labeled_data(s3, data_bucket, config)
    timings = {"read_s": _seconds_since(started)}
    x = model_input(data.columns, config.features)
    split = split_holdout(data, config)
    fit_started = time.monotonic()
    model = build_pipeline(config).fit(x[split.train], data.labels[split.train])
    timings["fit_s"] = _seconds_since(fit_started)
    x_holdout, y_holdout = x[split.holdout], data.labels[split.holdout]
    metrics = evaluate(model, x_holdout, y_holdout, config.positive_class)
    profile, profile_rows = reference_profile(model, data, x, config)
    rows = {"train": len(split.train), "holdout": len(split.holdout), "profile": profile_rows}
    registry = Registry(s3, models_bucket)
    manifest = _manifest(data, config, run_id=run_id, rows=rows, metrics=metrics, profile=profile)
    version = registry.publish(_artifact(model), manifest)
    gate = gate_promotion(
        registry,
        version=version,
        metrics=metrics,
        x_holdout=x_holdout,
        y_holdout=y_holdout,
        config=config,
        run_id=run_id,
    )
    timings["total_s"] = _seconds_since(started)
    return {
        "version": version,
        "metrics": metrics,
        "decision": gate.record,
        "promoted": gate.promoted,
        "champion_metrics": gate.champion_metrics,
        "timings": timings,
        "files": data.files,
    }


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
    """Read and validate the window's files; rows with errors or no label are skipped and counted,
    files the CSV reader rejects are reported in `files` and left out."""
    objects = list_labeled_files(s3, bucket, config.training.window_files)
    if not objects:
        raise TrainingDataError(f"no labeled CSV under s3://{bucket}/{layout.TRAINING} or {layout.FEEDBACK}")
    read = [read_labeled_file(s3, bucket=bucket, obj=obj, config=config) for obj in objects]
    return _checked([rows for _, rows in read], [entry for entry, _ in read], config)


def read_labeled_file(
    s3: Any, *, bucket: str, obj: dict[str, Any], config: ProjectConfig
) -> tuple[dict[str, Any], FileRows]:
    """One object's labeled rows and its entry in the manifest; a rejected file has no rows."""
    entry = {"key": obj["Key"], "etag": obj["ETag"].strip('"')}
    rows = FileRows()
    try:
        sha256 = _stream_rows(s3, bucket=bucket, obj=obj, config=config, into=rows)
    except FileRejected as rejected:
        problem = {"kind": rejected.kind, "error": str(rejected), "fix": rejected.fix, **rejected.where}
        # Rows read before the rejection are dropped with the file.
        return {**entry, "rejected": problem, "rows": 0, "skipped_rows": rows.rows + rows.skipped}, FileRows()
    return {**entry, "sha256": sha256, "rows": rows.rows, "skipped_rows": rows.skipped}, rows


def _stream_rows(s3: Any, *, bucket: str, obj: dict[str, Any], config: ProjectConfig, into: FileRows) -> str:
    """Stream one object through the shared CSV reader, chunk by chunk, into `into`; its SHA-256."""
    key, limits = obj["Key"], config.scoring
    if obj["Size"] > limits.max_file_bytes:  # no need to download it to know
        raise FileRejected(
            "too_large",
            f"the file is {obj['Size']:,} bytes; the limit is {limits.max_file_bytes:,}",
            fix="split it into smaller files",
        )
    with closing(s3.get_object(Bucket=bucket, Key=key)["Body"]) as body:
        hashing = HashingReader(body)
        reader = CsvRows(
            io.BufferedReader(hashing),
            key=key,
            gzipped=key.endswith(".gz"),
            max_bytes=limits.max_file_bytes,
            max_field_chars=limits.max_field_chars,
        )
        header = reader.next_row() or []
        missing = [n for n in [*config.feature_names, config.label] if n not in header]
        if missing:
            raise TrainingDataError(f"{key} lacks column(s) {', '.join(missing)}")
        first = 1
        for batch in reader.chunks(limits.chunk_rows):
            # Field lengths were enforced by the CSV parser (field_size_limit): no second check.
            into.add(
                convert_rows(
                    header, batch, first_row=first, features=config.features, label=config.label, max_field_chars=None
                )
            )
            first += len(batch)
        return hashing.hexdigest()


@dataclass
class FileRows:
    """One file's labeled rows, column-wise; the raw text is dropped chunk by chunk."""

    columns: list[dict[str, np.ndarray]] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    rows: int = 0
    skipped: int = 0

    def add(self, chunk: Chunk) -> None:
        """Keep the chunk's good rows that have a label; count the others as skipped."""
        if chunk.label is None:  # no good row in the chunk (the header has the label)
            self.skipped += len(chunk.errors)
            return
        known = chunk.label >= 0
        self.columns.append({k: v[known] for k, v in chunk.columns.items()})
        self.labels.append(chunk.label[known].astype(np.int64))
        self.rows += int(known.sum())
        self.skipped += len(chunk.errors) + int((~known).sum())


class HashingReader(io.RawIOBase):
    """A byte stream that hashes what is read through it: the object's SHA-256 without a second download."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        self.sha256.update(data)
        buffer[: len(data)] = data
        return len(data)

    def hexdigest(self) -> str:
        """The SHA-256 of the whole stream: reads (and hashes) whatever the CSV parser left unread."""
        while self.read(READ_BUFFER_BYTES):
            pass
        return self.sha256.hexdigest()


def _checked(per_file: list[FileRows], files: list[dict[str, Any]], config: ProjectConfig) -> LabeledData:
    """The combined rows, if there are enough of both classes to train on."""
    total = sum(rows.rows for rows in per_file)
    if total < config.training.min_rows:
        raise TrainingDataError(
            f"{total} labeled rows; training needs at least {config.training.min_rows}{_rejections(files)}"
        )
    data = _combine(per_file, files, config.feature_names)
    if len(np.unique(data.labels)) < 2:
        raise TrainingDataError(f"the labeled data has a single class; training needs both 0 and 1{_rejections(files)}")
    return data


def _combine(per_file: list[FileRows], files: list[dict[str, Any]], names: list[str]) -> LabeledData:
    """All files' rows as one set of columns, with the index of each row's file (0 = newest)."""
    parts = [(i, c, y) for i, rows in enumerate(per_file) for c, y in zip(rows.columns, rows.labels, strict=True)]
    return LabeledData(
        columns={name: np.concatenate([columns[name] for _, columns, _ in parts]) for name in names},
        labels=np.concatenate([labels for _, _, labels in parts]),
        files=files,
        recency=np.concatenate([np.full(len(labels), index) for index, _, labels in parts]),
    )


def _rejections(files: list[dict[str, Any]], shown: int = 5) -> str:
    """What a data error message adds about rejected files ("" when none was)."""
    rejected = [f"{f['key']} ({f['rejected']['kind']}: {f['rejected']['error']})" for f in files if "rejected" in f]
    if not rejected:
        return ""
    more = f"; and {len(rejected) - shown} more" if len(rejected) > shown else ""
    return f"; {len(rejected)} of {len(files)} file(s) rejected: {'; '.join(rejected[:shown])}{more}"


class Split(NamedTuple):
    train: np.ndarray
    holdout: np.ndarray


def split_holdout(data: LabeledData, config: ProjectConfig) -> Split:
    """Hold out `model.holdout_share` of the rows, newest file first and shuffled (seeded) within each file."""
    rng = np.random.default_rng(config.model.seed)
    order = np.lexsort((rng.random(len(data.labels)), data.recency))
    n_holdout = max(1, int(len(order) * config.model.holdout_share))
    return Split(train=np.sort(order[n_holdout:]), holdout=np.sort(order[:n_holdout]))


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


def reference_profile(model: Any, data: LabeledData, x: np.ndarray, config: ProjectConfig) -> tuple[dict, int]:
    """The drift reference profile from the newest files' rows and the model's scores; (profile, rows)."""
    recent = _profile_rows(data.recency, config.training.min_rows)
    classes = list(model.classes_)
    scores = model.predict_proba(x[recent])[:, classes.index(config.positive_class)]
    columns = {k: v[recent] for k, v in data.columns.items()}
    return build_profile(columns, config.features, scores, config.drift.bins), int(recent.sum())


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
        "estimator": config.model.estimator,
        "params": config.model.params,
        "seed": config.model.seed,
        "metrics": metrics,
        "schema": schema_dict(config),
        "profile": profile,
        "versions": versions,
    }


@dataclass
class GateOutcome:
    record: dict[str, Any]  # the decision as the registry's history keeps it
    promoted: bool
    champion_metrics: dict[str, float] | None


def gate_promotion(
    registry: Registry,
    *,
    version: str,
    metrics: dict[str, float],
    x_holdout: np.ndarray,
    y_holdout: np.ndarray,
    config: ProjectConfig,
    run_id: str | None,
) -> GateOutcome:
    """Score the champion on the candidate's holdout, decide, promote if the gate passes, record the decision."""
    champion = registry.champion()
    champion_metrics, notes = _champion_metrics(registry, champion, x_holdout, y_holdout, config)
    decision = decide(metrics, champion_metrics, config.promotion)
    record: dict[str, Any] = {
        "kind": "promote" if decision.promote else "reject",
        "version": version,
        "run_id": run_id,
        "champion": champion.version if champion else None,
        "reasons": decision.reasons + notes,
        "candidate_metrics": metrics,
        "champion_metrics": champion_metrics,
    }
    promoted = False
    if decision.promote:
        try:
            registry.promote(version, expected=champion, decision=record)
            promoted = True
        except ChampionConflict as exc:
            record = {**record, "kind": "conflict", "reasons": [*record["reasons"], str(exc)]}
    registry.record_decision(record)
    return GateOutcome(record, promoted, champion_metrics)


def _champion_metrics(
    registry: Registry, champion: Champion | None, x: np.ndarray, y: np.ndarray, config: ProjectConfig
) -> tuple[dict[str, float] | None, list[str]]:
    """The champion's metrics on the holdout, or None (no champion, or another feature schema) with a note why."""
    if champion is None:
        return None, []
    model, manifest = registry.load_model(champion.version)
    if features_from_schema(manifest["schema"]) != config.features:
        return None, [f"champion {champion.version} has another feature schema: compared on the floor only"]
    return evaluate(model, x, y, config.positive_class), []


def _seconds_since(start: float) -> float:
    return round(time.monotonic() - start, 3)
