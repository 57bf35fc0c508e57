"""What `mlops init` infers from a CSV: each column's type (or why it is left out) and the label's task.

The file is read through the project's own reader (mlops_core.data.CsvRows: the binary, UTF-8, line and
quoting guards) and only its head: at most SAMPLE_BYTES, SAMPLE_ROWS rows and SAMPLE_CELLS cells, so a
10 GB file (or one with 500 columns) is sampled, not loaded. Pure: no printing, no writing (see
mlopsctl/initwrite.py for the file, mlopsctl/commands/init.py for the command).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_core.config import canonical_label, order_classes
from mlops_core.data import ByteStream, CsvRows, FileRejected

SAMPLE_BYTES = 64 << 20
SAMPLE_ROWS = 100_000
SAMPLE_CELLS = 5_000_000  # rows x columns held at once: a wide file is sampled on fewer rows
FIELD_CHARS = 1 << 20  # the longest cell read; scoring's own bound is written to the config if a text needs it
MAX_CATEGORIES = 100  # more distinct short values: not a category but an id-like code (left out)
MAX_CLASSES = 20  # a label with more distinct whole numbers is a regression target
TEXT_MIN_WORDS = 5  # a free-form text has at least this many words per cell on average
BLANK_WARNING = 0.5  # a feature blank in more rows than this is named: is the column really filled in?
POSITIVE = ("yes", "1", "true", "pos", "positive", "y", "t")
ID_NAME = re.compile(r"(?i:(^|[_\s.-])(id|uuid|guid)$)|[a-z](Id|ID)$")  # id, sample_id, customerId


class InferError(Exception):
    """The file or the options cannot give a config; the message names the fix."""


@dataclass(frozen=True)
class Column:
    """One column's verdict: a feature type, or left out (`kind` "id", "empty", "constant"), and why."""

    name: str
    kind: str  # "numeric", "categorical", "text", "id", "empty", "constant"
    reason: str
    blank_share: float = 0.0
    categories: tuple[str, ...] = ()
    longest: int = 0

    @property
    def is_feature(self) -> bool:
        return self.kind in ("numeric", "categorical", "text")


@dataclass(frozen=True)
class Label:
    """The label column's task, its classes and positive class, and why."""

    name: str
    task: str
    reason: str
    classes: tuple[str, ...] = ()
    positive: str | None = None
    max_error: float | None = None  # regression: the mean absolute error of always predicting the median
    blank_share: float = 0.0


@dataclass(frozen=True)
class Inference:
    path: Path
    rows: int
    sampled: bool
    label: Label
    columns: tuple[Column, ...]
    ragged_rows: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def features(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.is_feature)


class _Head:
    """The first `limit` bytes of a stream, ended after the last line break within them (no cut row)."""

    def __init__(self, raw: ByteStream, limit: int) -> None:
        self.raw, self.left, self.cut = raw, limit, False

    def read(self, size: int = -1, /) -> bytes:
        if self.left <= 0:
            return b""
        want = self.left if size < 0 else min(size, self.left)
        data = self.raw.read(want)
        self.left -= len(data)
        if self.left <= 0 and self.raw.read(1):
            self.cut = True
            data = data[: max(data.rfind(b"\n"), data.rfind(b"\r")) + 1]
        return data


def read_sample(path: Path) -> tuple[list[str], list[list[str]], int, bool]:
    """The header, the sampled rows (ragged ones dropped), the ragged count, and whether it was sampled."""
    with open(path, "rb") as fh:
        raw: ByteStream = gzip.GzipFile(fileobj=fh, mode="rb") if path.name.lower().endswith(".gz") else fh
        head = _Head(raw, SAMPLE_BYTES)
        rows = CsvRows(head, key=path.name, gzipped=False, max_bytes=SAMPLE_BYTES + 1, max_field_chars=FIELD_CHARS)
        header = rows.next_row()
        if not header:
            raise InferError(f"{path} is empty: it needs a header row and data rows")
        limit = max(1, min(SAMPLE_ROWS, SAMPLE_CELLS // len(header)))
        body: list[list[str]] = []
        try:
            for chunk in rows.chunks(min(limit, 10_000)):
                body.extend(chunk[: limit - len(body)])
                if len(body) >= limit:
                    break
        except FileRejected:
            if not head.cut:  # a quoted field cut by the sample's end is not the file's fault
                raise
        sampled = head.cut or (len(body) >= limit and rows.next_row() is not None)
    kept = [row for row in body if len(row) == len(header)]
    return header, kept, len(body) - len(kept), sampled


def infer(path: Path, label: str, *, task: str | None = None, ids: Sequence[str] = ()) -> Inference:
    """Each column of the CSV at `path` typed or left out, and the label's task (or `task`, checked)."""
    header, rows, ragged, sampled = read_sample(path)
    check_names(header, label, ids)
    if not rows:
        raise InferError(f"{path} has a header but no data rows (of as many fields as the header)")
    columns_of_cells = (pd.Series(col, dtype=object).str.strip() for col in zip(*rows, strict=True))
    cells = dict(zip(header, columns_of_cells, strict=True))
    typed = tuple(
        Column(name, "id", "named with --id") if name in ids else infer_column(name, cells[name])
        for name in header
        if name != label
    )
    return Inference(path, len(rows), sampled, infer_label(label, cells[label], task), typed, ragged)


def check_names(header: Sequence[str], label: str, ids: Sequence[str]) -> None:
    """Raise InferError for a header without `label` or an --id column, or with a repeated or blank name."""
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated or any(not name.strip() for name in header):
        problem = f"repeats {', '.join(repeated)}" if repeated else "has a blank column name"
        raise InferError(f"the header {problem}: each column needs its own name")
    for name, what in [(label, "--label"), *((i, "--id") for i in ids)]:
        if name not in header:
            shown = ", ".join(header[:20]) + (f" and {len(header) - 20} more" if len(header) > 20 else "")
            raise InferError(f"{what} {name!r} is not a column of the file; its columns: {shown}")
    if label in ids:
        raise InferError(f"{label!r} is the label: it cannot also be an --id")


def infer_column(name: str, values: pd.Series) -> Column:
    """A column's feature type, or why it is left out (empty, constant, id-like)."""
    filled = values[values != ""]
    share = 1 - len(filled) / len(values)
    if filled.empty:
        return Column(name, "empty", "every sampled cell is blank", share)
    distinct = filled.unique()
    if len(distinct) == 1:
        return Column(name, "constant", f"always {distinct[0]!r}: it cannot tell rows apart", share)
    unique = len(distinct) == len(filled) and len(filled) >= 20
    numbers = pd.to_numeric(filled, errors="coerce")
    if numbers.notna().all() and np.isfinite(numbers.to_numpy(dtype=float)).all():
        return _numeric(name, numbers, len(distinct), share, unique=unique)
    return _strings(name, filled, distinct, share, unique=unique)


def _numeric(name: str, numbers: pd.Series, distinct: int, share: float, *, unique: bool) -> Column:
    if bool((numbers % 1 == 0).all()) and (unique or ID_NAME.search(name)) and distinct > MAX_CLASSES:
        why = "whole numbers, one per row" if unique else "whole numbers, and its name says id"
        return Column(name, "id", f"id-like ({why})", share)
    if distinct == 2:
        two = order_classes(canonical_label(str(v)) for v in numbers.unique())
        return Column(name, "categorical", "two values: a flag", share, two)
    return Column(name, "numeric", f"numbers ({distinct:,} distinct)", share)


def _strings(name: str, filled: pd.Series, distinct: np.ndarray, share: float, *, unique: bool) -> Column:
    words = filled.str.count(r"\s+") + 1
    if words.mean() >= TEXT_MIN_WORDS and len(distinct) > MAX_CATEGORIES // 2:
        why = f"free-form text ({words.mean():.0f} words per cell on average)"
        return Column(name, "text", why, share, longest=int(filled.str.len().max()))
    if unique:
        return Column(name, "id", "id-like (a different value in every row)", share)
    if len(distinct) > MAX_CATEGORIES:
        return Column(name, "id", f"id-like ({len(distinct):,} distinct short values: too many for categories)", share)
    categories = tuple(sorted(str(c) for c in distinct))
    return Column(name, "categorical", f"{len(categories)} categories", share, categories)


def infer_label(name: str, values: pd.Series, task: str | None) -> Label:
    """The label's task (from its values, or `task` checked against them), classes and positive class."""
    filled = values[values != ""]
    share = 1 - len(filled) / len(values)
    if filled.empty:
        raise InferError(f"the label {name!r} is blank in every sampled row")
    classes = order_classes(canonical_label(str(v)) for v in filled.unique())
    numbers = pd.to_numeric(filled, errors="coerce")
    numeric = bool(numbers.notna().all())
    kind = task or _task(len(classes), numeric=numeric, whole=numeric and bool((numbers % 1 == 0).all()))
    if kind == "regression" and not numeric:
        raise InferError(f"--task regression needs a numeric label; {name!r} holds text such as {classes[0]!r}")
    if kind == "binary" and len(classes) != 2:
        raise InferError(f"--task binary needs 2 label values; {name!r} has {len(classes)}")
    if kind == "regression":
        median = float(numbers.median())
        max_error = float(f"{float((numbers - median).abs().mean()):.3g}")
        why = _why(task, f"numbers ({len(classes):,} distinct)")
        return Label(name, kind, why, max_error=max_error, blank_share=share)
    if kind == "multiclass":
        return Label(name, kind, _why(task, f"{len(classes)} classes"), classes, blank_share=share)
    preferred = [c for c in classes if c.lower() in POSITIVE]
    positive = preferred[0] if preferred else classes[1]
    how = f"{positive!r} reads as the positive answer" if preferred else f"{positive!r} is the second in sorted order"
    why = _why(task, f"two values; positive class {positive!r}: {how}")
    return Label(name, kind, why, classes, positive, blank_share=share)


def _task(distinct: int, *, numeric: bool, whole: bool) -> str:
    """Two values: binary; a few text values or whole numbers: multiclass; other numbers: regression."""
    if distinct == 2:
        return "binary"
    if numeric and (distinct > MAX_CLASSES or not whole):
        return "regression"
    return "multiclass"


def _why(task: str | None, found: str) -> str:
    return f"--task {task}: {found}" if task else found


def describe(inference: Inference) -> list[str]:
    """What was inferred and why: the file read, the label, then one line per column."""
    sample = f" (a sample: the file's first {SAMPLE_BYTES >> 20} MB or {SAMPLE_ROWS:,} rows at most)"
    lines = [f"read {inference.path.name}: {inference.rows:,} rows{sample if inference.sampled else ''}"]
    if inference.ragged_rows:
        lines.append(f"  {inference.ragged_rows:,} rows with more or fewer fields than the header were not read")
    label = inference.label
    lines.append(f"label {label.name}: {label.task} ({label.reason})")
    if label.max_error is not None:
        lines.append(f"  max_error = {label.max_error:g}: the mean absolute error of always predicting the median")
    if label.blank_share:
        lines.append(f"  {label.blank_share:.1%} of the rows have no label: training skips them (missing_label)")
    width = min(max(len(c.name) for c in inference.columns), 30) if inference.columns else 0
    for column in inference.columns:
        lines.append(f"  {column.name:<{width}}  {column_verdict(column)}")
    if any(c.kind == "categorical" for c in inference.columns):
        lines.append(
            'categories: the values read, with unknown = "score": a value not among them (rare, or new) is scored '
            "and counted in the drift report rather than refused"
        )
    return lines


def column_verdict(column: Column) -> str:
    """One column's line: its type or why it is left out, and the policies its data calls for."""
    if not column.is_feature:
        return f"left out: {column.reason}"
    out = f"{column.kind}: {column.reason}"
    if column.kind == "categorical":
        out += '; unknown = "score"'
    if column.blank_share > BLANK_WARNING:
        out += f'; {column.blank_share:.1%} blank, over {BLANK_WARNING:.0%}: missing = "impute", check it upstream'
    elif column.blank_share:
        out += f'; {column.blank_share:.1%} blank: missing = "impute"'
    return out
