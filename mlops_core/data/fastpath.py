"""Scoring's fast path: a plain block of rows parsed by pandas' C parser and checked column-wise.

A block is plain when the C parser and the csv module must read it alike and no row can be bad for its
shape: no quote, no NUL byte, no lone CR, no byte-order mark at its start (pandas drops one there), every
non-blank line with as many fields as the header, no line or field longer than the field limit allows.
Its values are then checked per column; any value the precise path would report (not a number, not
finite, an unknown category, a bad label) sends the whole block to the precise path (csvreader.CsvRows
+ csvdata.convert_rows), which reports it row by row. So a good block costs the C parser and a few
vectorised checks, and a bad one is reported as before.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from functools import cached_property

import numpy as np
import pandas as pd

from ..config import Feature, Task
from .blocks import BYTE_ORDER_MARK, has_lone_cr
from .cells import RowError, categories, numbers, text_checks
from .convert import Chunk, read_labels

NEWLINE, COMMA = ord("\n"), ord(",")


def fast_chunk(
    data: bytes,
    header: Sequence[str],
    *,
    features: Sequence[Feature],
    label: str | None,
    task: Task | None,
    max_field_chars: int,
) -> Chunk | None:
    """The block's rows as a Chunk with no errors, or None when the precise path must read it.

    `label` is the label column's name when the file has one; `task` says how to read it (as for
    csvdata.convert_rows).
    """
    rows = plain_rows(data, len(header), max_field_chars)
    if rows is None:
        return None
    if rows == 0:
        return Chunk({}, None, [], [])
    try:
        frame = _parse(data, header, features, rows)
        columns = _feature_columns(frame, header, features)
        labels = _label_column(frame, header, label, task)
    except _NeedsPrecisePath:
        return None
    names = {f.name for f in features}
    text = {i: frame[i].to_numpy() for i, name in enumerate(header) if name not in names}
    return Chunk(columns, labels, _LineRows(data, rows), [], text, plain=True)


class _NeedsPrecisePath(Exception):
    """A value in the block that the precise path must report (or read) row by row."""


def plain_rows(data: bytes, width: int, max_field_chars: int) -> int | None:
    """How many rows a plain block holds (0 for blank lines only), or None when it is not plain."""
    if width < 2 or b'"' in data or b"\x00" in data or has_lone_cr(data) or data.startswith(BYTE_ORDER_MARK):
        return None  # one column: a line of spaces is a row to csv, a blank line to pandas; a BOM: pandas drops it
    if not data:
        return 0
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == NEWLINE)
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts - (raw[np.maximum(ends - 1, 0)] == ord("\r"))  # without the line's CR
    commas = np.flatnonzero(raw == COMMA)
    per_line = np.searchsorted(commas, ends) - np.searchsorted(commas, starts)
    blank = lengths <= 0
    if np.any(per_line[~blank] != width - 1):
        return None
    if len(lengths) and lengths.max() > max_field_chars and _longest_field(ends, commas) > max_field_chars:
        return None  # in bytes, which are at least the characters the csv module's limit counts
    return int(np.count_nonzero(~blank))


def _longest_field(ends: np.ndarray, commas: np.ndarray) -> int:
    bounds = np.sort(np.concatenate(([-1], commas, ends)))
    return int(np.diff(bounds).max()) - 1


def _parse(data: bytes, header: Sequence[str], features: Sequence[Feature], rows: int) -> pd.DataFrame:
    """Numeric features as float64, every other column as text; `rows` of them, or the precise path."""
    # A numeric feature that imputes is read as text: `numbers` makes its blank cells NaN.
    numeric = {f.name for f in features if f.is_numeric and not f.imputes}
    dtypes = {i: (np.float64 if name in numeric else object) for i, name in enumerate(header)}
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            header=None,
            names=range(len(header)),
            index_col=False,
            dtype=dtypes,
            na_filter=False,  # an empty or "NA" cell stays text: the checks below see it
            engine="c",
            encoding="utf-8",
            low_memory=False,
        )
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:  # not a number, not UTF-8
        raise _NeedsPrecisePath from exc
    if len(frame) != rows:  # never seen; if the two readings of the block ever differ, trust the csv module
        raise _NeedsPrecisePath
    return frame


def _feature_columns(frame: pd.DataFrame, header: Sequence[str], features: Sequence[Feature]) -> dict[str, np.ndarray]:
    """The typed feature columns (as csvdata.convert_rows makes them); a bad value: the precise path."""
    position = {name: i for i, name in enumerate(header)}
    columns: dict[str, np.ndarray] = {}
    for feature in features:
        columns[feature.name] = _checked(frame[position[feature.name]].to_numpy(), feature)
    return columns


def _checked(values: np.ndarray, feature: Feature) -> np.ndarray:
    """One feature column as convert_rows makes it; a value it would report: the precise path."""
    if feature.is_numeric and feature.imputes:
        try:
            values, blank = numbers(values, feature)
        except ValueError as exc:
            raise _NeedsPrecisePath from exc
        if not np.isfinite(values[~blank]).all():
            raise _NeedsPrecisePath
    elif feature.is_numeric:
        if not np.isfinite(values).all():
            raise _NeedsPrecisePath
    elif feature.is_text:
        lengths, filled = text_checks(values)
        if not (filled.all() or feature.imputes) or (
            feature.max_chars is not None and lengths.max() > feature.max_chars
        ):
            raise _NeedsPrecisePath
    else:
        values, blank, unknown = categories(values, feature)
        if (blank | unknown).any():
            raise _NeedsPrecisePath
    return values


def _label_column(
    frame: pd.DataFrame, header: Sequence[str], label: str | None, task: Task | None
) -> np.ndarray | None:
    """The label column as convert_rows reads it (None without one); a bad label: the precise path."""
    if label is None or label not in header:
        return None
    if task is None:
        raise ValueError("fast_chunk needs the task to read a label column")
    errors: list[RowError] = []
    labels = read_labels(frame[header.index(label)].to_numpy().tolist(), label, task, errors)
    if errors:
        raise _NeedsPrecisePath
    return labels


class _LineRows(Sequence[list[str]]):
    """A plain block's rows, split only when asked (feedback): with no quotes, a row is its line split
    at commas, as the csv module would read it."""

    def __init__(self, data: bytes, rows: int) -> None:
        self._data, self._rows = data, rows

    def __len__(self) -> int:
        return self._rows

    def __iter__(self) -> Iterator[list[str]]:
        return iter(self._split)

    def __getitem__(self, index):  # Sequence's two overloads (an index, a slice) in one
        return self._split[index]

    @cached_property
    def _split(self) -> list[list[str]]:
        lines = self._data.decode("utf-8").split("\n")
        return [line.removesuffix("\r").split(",") for line in lines if line not in ("", "\r")]
