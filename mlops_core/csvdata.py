"""Turning CSV rows into typed feature columns, with an error for every value that does not fit.

Scoring and training share this conversion, so a file that trains also scores and vice versa.
Conversion is column-wise (numpy) with a per-value fallback only when a column has a bad value,
so the common case costs little more than the CSV parsing itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .config import Feature

FIX_HINTS = {
    "ragged": "every row needs exactly as many fields as the header; check for unquoted commas",
    "missing": "fill in the value; empty cells are not allowed in feature columns",
    "not_a_number": "use a plain decimal number such as 12.5 (no units, no thousands separators)",
    "not_finite": "NaN and infinity are not valid feature values",
    "unknown_category": "use one of the allowed categories listed in the message",
    "field_too_long": "shorten the field; very long fields usually mean a quoting problem",
    "bad_label": "the label column must be 0 or 1 (or empty when unknown)",
}


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based line of data, the header being row 0
    column: str | None
    kind: str
    message: str

    def to_dict(self) -> dict[str, object]:
        return {
            "row": self.row,
            "column": self.column,
            "kind": self.kind,
            "message": self.message,
            "fix": FIX_HINTS.get(self.kind, ""),
        }


@dataclass
class Chunk:
    """The good rows of a chunk: typed feature columns, the label if present, the raw rows."""

    columns: dict[str, np.ndarray]
    label: np.ndarray | None  # int8 0/1, -1 where the label cell was empty
    rows: list[list[str]]  # the raw good rows (bad-row reports, feedback)
    errors: list[RowError] = field(default_factory=list)
    text_columns: list[tuple[str, ...]] = field(default_factory=list)  # the good rows, column-wise

    def __len__(self) -> int:
        return len(self.rows)


def _numeric(values: Sequence[str], name: str, first_row: int, errors: list[RowError]) -> np.ndarray:
    try:
        out = np.asarray(values, dtype=np.str_).astype(np.float64)
    except ValueError:
        return _numeric_one_by_one(values, name, first_row, errors)
    for i in np.flatnonzero(~np.isfinite(out)).tolist():
        errors.append(RowError(first_row + i, name, "not_finite", f"{name} is {values[i]!r}"))
    return out


def _numeric_one_by_one(values: Sequence[str], name: str, first_row: int, errors: list[RowError]) -> np.ndarray:
    """The slow path of `_numeric`, for a column with a value numpy cannot parse: an error per bad value."""
    out = np.empty(len(values))
    for i, v in enumerate(values):
        try:
            out[i] = float(v)
        except ValueError:
            out[i] = np.nan
            if not v.strip():
                errors.append(RowError(first_row + i, name, "missing", f"{name} is empty"))
            else:
                errors.append(RowError(first_row + i, name, "not_a_number", f"{name} is {v[:40]!r}, not a number"))
        else:
            if not np.isfinite(out[i]):
                errors.append(RowError(first_row + i, name, "not_finite", f"{name} is {v!r}"))
    return out


def _categorical(values: Sequence[str], feature: Feature, first_row: int, errors: list[RowError]) -> np.ndarray:
    out = np.asarray(values, dtype=object)
    known = np.isin(out, np.asarray(feature.categories, dtype=object))
    for i in np.flatnonzero(~known).tolist():
        v = values[i]
        if not v.strip():
            kind, msg = "missing", f"{feature.name} is empty"
        else:
            kind, msg = "unknown_category", f"{feature.name} is {v[:40]!r}; allowed: {', '.join(feature.categories)}"
        errors.append(RowError(first_row + i, feature.name, kind, msg))
    return out


def _labels(values: Sequence[str], name: str, first_row: int, errors: list[RowError]) -> np.ndarray:
    """0/1 labels; -1 where the cell is empty (label unknown)."""
    text = np.char.strip(np.asarray(values, dtype=np.str_))
    out = np.full(len(values), -1, dtype=np.int8)
    out[np.isin(text, ["0", "0.0"])] = 0
    out[np.isin(text, ["1", "1.0"])] = 1
    for i in np.flatnonzero((out == -1) & (text != "")).tolist():
        errors.append(RowError(first_row + i, name, "bad_label", f"{name} is {values[i][:40]!r}"))
    return out


def convert_rows(
    header: Sequence[str],
    rows: list[list[str]],
    *,
    first_row: int,
    features: Sequence[Feature],
    label: str | None,
    max_field_chars: int | None,
) -> Chunk:
    """Validate and convert parsed rows; bad rows are dropped and described in `errors`.

    `max_field_chars` None skips the field-length check (the CSV parser already enforced it).
    The errors come in this order: ragged rows, over-long fields, then each column's bad values.
    """
    errors: list[RowError] = []
    shaped, numbers = _drop_ragged(rows, len(header), first_row, errors)
    if max_field_chars is not None:
        shaped, numbers = _drop_long_fields(header, shaped, numbers, max_field_chars, errors)
    if not shaped:
        return Chunk({}, None, [], errors)
    transposed = list(zip(*shaped, strict=True))
    columns, labels, value_errors = _convert_columns(header, transposed, numbers, features=features, label=label)
    errors += value_errors
    if not value_errors:
        return Chunk(columns, labels, shaped, errors, transposed)
    keep = _rows_without_errors(numbers, value_errors)
    kept = [r for r, k in zip(shaped, keep, strict=True) if k]
    return Chunk(
        {k: v[keep] for k, v in columns.items()},
        labels[keep] if labels is not None else None,
        kept,
        errors,
        list(zip(*kept, strict=True)) if kept else [() for _ in header],
    )


def _drop_ragged(
    rows: list[list[str]], width: int, first_row: int, errors: list[RowError]
) -> tuple[list[list[str]], list[int]]:
    """The rows with as many fields as the header, and their row numbers; an error for each other row."""
    if set(map(len, rows)) <= {width}:  # the common case: no ragged row, no per-row loop
        return rows, list(range(first_row, first_row + len(rows)))
    shaped, numbers = [], []
    for i, row in enumerate(rows):
        if len(row) != width:
            errors.append(RowError(first_row + i, None, "ragged", f"{len(row)} fields, the header has {width}"))
            continue
        shaped.append(row)
        numbers.append(first_row + i)
    return shaped, numbers


def _drop_long_fields(
    header: Sequence[str], rows: list[list[str]], numbers: list[int], max_field_chars: int, errors: list[RowError]
) -> tuple[list[list[str]], list[int]]:
    """The rows whose fields all fit `max_field_chars`; an error naming the longest field of each other row."""
    too_long = [j for j, row in enumerate(rows) if max(map(len, row)) > max_field_chars]
    if not too_long:
        return rows, numbers
    for j in too_long:
        lengths = [len(value) for value in rows[j]]
        col = lengths.index(max(lengths))
        message = f"{header[col]} has {lengths[col]} characters (limit {max_field_chars})"
        errors.append(RowError(numbers[j], header[col], "field_too_long", message))
    drop = set(too_long)
    return [r for j, r in enumerate(rows) if j not in drop], [n for j, n in enumerate(numbers) if j not in drop]


def _convert_columns(
    header: Sequence[str],
    transposed: list[tuple[str, ...]],
    numbers: list[int],
    *,
    features: Sequence[Feature],
    label: str | None,
) -> tuple[dict[str, np.ndarray], np.ndarray | None, list[RowError]]:
    """Typed feature columns and the label column (None when absent), with an error per bad value."""
    position = {name: k for k, name in enumerate(header)}
    errors: list[RowError] = []
    columns: dict[str, np.ndarray] = {}
    for feature in features:
        values = transposed[position[feature.name]]
        if feature.is_numeric:
            columns[feature.name] = _numeric(values, feature.name, 0, errors)
        else:
            columns[feature.name] = _categorical(values, feature, 0, errors)
    labels = None
    if label is not None and label in position:
        labels = _labels(transposed[position[label]], label, 0, errors)
    # The converters count rows from 0 within the good rows; report the rows' numbers in the file.
    return columns, labels, [RowError(numbers[e.row], e.column, e.kind, e.message) for e in errors]


def _rows_without_errors(numbers: list[int], errors: list[RowError]) -> np.ndarray:
    """A mask of the rows (by number) that have no error."""
    bad = {e.row for e in errors}
    return np.asarray([n not in bad for n in numbers])
