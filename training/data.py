"""The labeled data a training run learns from: listed, streamed through the shared CSV reader, counted.

The most recent `training.window_files` labeled CSVs under training/ and feedback/ (the labeled
batches that scoring kept). Each file streams through the same CSV reader as scoring, with the
same guards (size limit, gzip bombs, line length, UTF-8, binary files): a file the reader rejects
is reported in the manifest's `data` and the run goes on with the other files.

No row is dropped without a word: each file's entry counts the rows used and the rows skipped per
reason (a bad feature, a bad label with its values listed, a missing label), and a file that skips
more than `training.max_bad_row_share` of its rows fails the run with those counts.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from mlops_core import layout
from mlops_core.config import ProjectConfig
from mlops_core.csvdata import Chunk, RowError, convert_rows
from mlops_core.csvreader import READ_BUFFER_BYTES, CsvRows, FileRejected, too_large
from mlops_core.tasks import Task


class TrainingDataError(ValueError):
    """The labeled data is missing or unusable; the message says what to fix."""


@dataclass
class LabeledData:
    columns: dict[str, np.ndarray]
    labels: np.ndarray  # class names (canonical text) or numbers (regression)
    files: list[dict[str, Any]]
    recency: np.ndarray  # index of the file each row came from, 0 = newest
    task: Task = field(default_factory=Task)  # the configured task with its classes fixed (found in the data)


def list_labeled_files(s3: Any, bucket: str, window: int) -> list[dict[str, Any]]:
    """The newest `window` labeled CSV objects under training/ and feedback/, newest first."""
    objects = []
    for prefix in (layout.TRAINING, layout.FEEDBACK):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            objects += [o for o in page.get("Contents", []) if o["Key"].endswith(layout.CSV_SUFFIXES)]

    # S3 times have one-second resolution; within a tie, feedback (what scoring saw in production)
    # counts as newer than files an operator placed under training/.
    def recency(o: dict[str, Any]) -> tuple:
        return (o["LastModified"], o["Key"].startswith(layout.FEEDBACK), o["Key"])

    return sorted(objects, key=recency, reverse=True)[:window]


def read_labeled_data(s3: Any, bucket: str, config: ProjectConfig) -> LabeledData:
    """Read and validate the window's files: every row is used or counted as skipped with its reason,
    files the CSV reader rejects are reported in `files` and left out; the classes are fixed."""
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
        # Rows read before the rejection are dropped with the file (and counted, not as used).
        return {**entry, "rejected": problem, "rows": 0, "skipped_rows": rows.rows + rows.skipped_rows}, FileRows()
    return {**entry, "sha256": sha256, **rows.accounting()}, rows


def _stream_rows(s3: Any, *, bucket: str, obj: dict[str, Any], config: ProjectConfig, into: FileRows) -> str:
    """Stream one object through the shared CSV reader, chunk by chunk, into `into`; its SHA-256."""
    key, limits = obj["Key"], config.scoring
    if obj["Size"] > limits.max_file_bytes:  # no need to download it to know
        raise too_large(obj["Size"], limits.max_file_bytes)
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
            chunk = convert_rows(
                header,
                batch,
                first_row=first,
                features=config.features,
                label=config.label,
                task=config.task,
                max_field_chars=None,
            )
            into.add(chunk, config.label)
            first += len(batch)
        return hashing.hexdigest()


SKIP_REASONS = ("bad_feature", "bad_label", "missing_label")
MAX_LISTED_LABELS = 10


@dataclass
class FileRows:
    """One file's labeled rows, column-wise (the raw text is dropped chunk by chunk), and every other
    row counted under the reason it was skipped (see `skip_reasons`)."""

    columns: list[dict[str, np.ndarray]] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    bad_labels: Counter[str] = field(default_factory=Counter)

    def add(self, chunk: Chunk, label: str) -> None:
        """Keep the chunk's good rows that have a label; count the others by reason."""
        self.skipped.update(skip_reasons(chunk.errors, label))
        self.bad_labels.update(e.value or "" for e in chunk.errors if e.kind == "bad_label")
        if chunk.label is None:  # no good row in the chunk (the header has the label)
            return
        known = chunk.labeled
        self.columns.append({k: v[known] for k, v in chunk.columns.items()})
        self.labels.append(chunk.label[known])
        self.rows += int(known.sum())
        self.skipped["missing_label"] += int((~known).sum())

    @property
    def skipped_rows(self) -> int:
        return sum(self.skipped.values())

    def accounting(self) -> dict[str, Any]:
        """The file's entry in the run record: rows used, skipped rows per reason, the bad label values."""
        entry: dict[str, Any] = {
            "rows": self.rows,
            "skipped_rows": self.skipped_rows,
            "skipped": {reason: self.skipped[reason] for reason in SKIP_REASONS},
        }
        if self.bad_labels:
            entry["bad_labels"] = dict(self.bad_labels.most_common(MAX_LISTED_LABELS))
        return entry


def skip_reasons(errors: list[RowError], label: str) -> Counter[str]:
    """Each row with errors counted once: `bad_feature` when any feature cell (or the row's shape) is
    wrong, else `bad_label`."""
    reasons: dict[int, str] = {}
    for e in errors:
        if e.column == label and e.kind == "bad_label":
            reasons.setdefault(e.row, "bad_label")
        else:
            reasons[e.row] = "bad_feature"
    return Counter(reasons.values())


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
    """The combined rows, if no file skipped too many and there are enough rows of every class."""
    for rows, entry in zip(per_file, files, strict=True):
        _check_skipped(rows, entry["key"], config.training.max_bad_row_share)
    total = sum(rows.rows for rows in per_file)
    if total < config.training.min_rows:
        raise TrainingDataError(
            f"{total} labeled rows; training needs at least {config.training.min_rows}{_rejections(files)}"
        )
    data = _combine(per_file, files, config.feature_names)
    try:
        data.task = config.task.with_classes(np.unique(data.labels).tolist() if config.task.is_classification else [])
    except ValueError as exc:
        raise TrainingDataError(f"{exc}{_rejections(files)}") from exc
    _check_every_class(data)
    return data


def _check_skipped(rows: FileRows, key: str, share: float) -> None:
    """Fail the run when a file skipped more than `share` of its rows: that many is a problem to fix, not noise."""
    seen = rows.rows + rows.skipped_rows
    if not seen or rows.skipped_rows / seen <= share:
        return
    reasons = ", ".join(f"{n:,} {reason}" for reason, n in rows.skipped.most_common() if n)
    values = f"; bad label values: {', '.join(map(repr, rows.bad_labels))}" if rows.bad_labels else ""
    raise TrainingDataError(
        f"{key}: {rows.skipped_rows:,} of {seen:,} rows skipped ({rows.skipped_rows / seen:.1%}; {reasons}{values}); "
        f"the limit is training.max_bad_row_share = {share:.0%}: fix the file, or list every class in [label] classes"
    )


def _check_every_class(data: LabeledData) -> None:
    """Every class of a classification task needs training rows: a model cannot predict a class it never saw."""
    if not data.task.is_classification:
        return
    found = set(np.unique(data.labels).tolist())
    absent = [c for c in data.task.classes if c not in found]
    if absent:
        raise TrainingDataError(
            f"class(es) {', '.join(map(repr, absent))} have no labeled rows; training needs rows of every class "
            f"({', '.join(data.task.classes)}){_rejections(data.files)}"
        )


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
