"""One CSV of (labeled) rows, streamed through the shared reader and conversion, every row counted.

Training reads its files with it (training/data.py) and `mlops register` its reference file
(mlops_core/registry/registration.py), so a file is judged the same way in both: the reader's guards (size
limit, gzip bombs, line length, UTF-8, binary files), each cell converted or reported, and each row
used or counted as skipped with its reason (a bad feature, a bad label with its values listed, a
missing label). Whether a file skipped too many rows is for the caller to decide (`too_many_skipped`
words the problem).
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from ..config import ProjectConfig
from .convert import Chunk, RowError, convert_rows
from .reader import READ_BUFFER_BYTES, ByteStream, CsvRows

SKIP_REASONS = ("bad_feature", "bad_label", "missing_label")
MAX_LISTED_LABELS = 10


class MissingColumns(ValueError):
    """The file's header lacks a feature column (or the label column, where one is required)."""


@dataclass
class FileRows:
    """One file's rows, column-wise (the raw text is dropped chunk by chunk), and every other row counted
    under the reason it was skipped (see `skip_reasons`).

    `labeled` (the default) keeps only the rows with a label; False (a file without a label column)
    keeps every good row.
    """

    columns: list[dict[str, np.ndarray]] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    rows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    bad_labels: Counter[str] = field(default_factory=Counter)
    unlisted: Counter[tuple[str, str]] = field(default_factory=Counter)  # (feature, value) not in its categories
    labeled: bool = True

    def add(self, chunk: Chunk, label: str) -> None:
        """Keep the chunk's good rows (that have a label, when labeled); count the others by reason."""
        self.skipped.update(skip_reasons(chunk.errors, label))
        self.bad_labels.update(e.value or "" for e in chunk.errors if e.kind == "bad_label")
        self.unlisted.update((e.column or "", e.value or "") for e in chunk.errors if e.kind == "unknown_category")
        if not self.labeled:
            if len(chunk):
                self.columns.append(chunk.columns)
                self.rows += len(chunk)
            return
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
        if self.unlisted:
            entry["unlisted_categories"] = [
                {"feature": f, "value": v, "rows": n} for (f, v), n in self.unlisted.most_common(MAX_LISTED_LABELS)
            ]
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


def stream_rows(
    body: ByteStream, *, key: str, config: ProjectConfig, into: FileRows, require_label: bool = True
) -> str:
    """Stream one file through the shared CSV reader, chunk by chunk, into `into`; the file's SHA-256.

    Raises FileRejected (the reader's guards) and MissingColumns. Without `require_label`, a file whose
    header has no label column is read as unlabeled (`into.labeled` becomes False).
    """
    limits = config.scoring
    hashing = HashingReader(body)
    reader = CsvRows(
        io.BufferedReader(hashing),
        key=key,
        gzipped=key.endswith(".gz"),
        max_bytes=limits.max_file_bytes,
        max_field_chars=limits.max_field_chars,
    )
    header = reader.next_row() or []
    required = [*config.feature_names, config.label] if require_label else config.feature_names
    missing = [n for n in required if n not in header]
    if missing:
        raise MissingColumns(f"{key} lacks column(s) {', '.join(missing)}")
    into.labeled = config.label in header
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


def too_many_skipped(rows: FileRows, key: str, share: float) -> str | None:
    """The problem, in words, when a file skipped more than `share` of its rows (that many is a problem to
    fix, not noise); None when it did not."""
    seen = rows.rows + rows.skipped_rows
    if not seen or rows.skipped_rows / seen <= share:
        return None
    reasons = ", ".join(f"{n:,} {reason}" for reason, n in rows.skipped.most_common() if n)
    values = f"; bad label values: {', '.join(map(repr, rows.bad_labels))}" if rows.bad_labels else ""
    if rows.unlisted:
        listed = ", ".join(f"{f} {v!r} ({n:,})" for (f, v), n in rows.unlisted.most_common(MAX_LISTED_LABELS))
        values += f"; values not in their feature's categories: {listed}"
    return (
        f"{key}: {rows.skipped_rows:,} of {seen:,} rows skipped ({rows.skipped_rows / seen:.1%}; {reasons}{values}); "
        f"the limit is training.max_bad_row_share = {share:.0%}: fix the file, list every class in [label] classes, "
        'or list the values in the feature\'s categories (or set unknown = "score")'
    )


class HashingReader(io.RawIOBase):
    """A byte stream that hashes what is read through it: the object's SHA-256 without a second download."""

    def __init__(self, raw: IO[bytes] | ByteStream) -> None:
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
