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
        return {"row": self.row, "column": self.column, "kind": self.kind, "message": self.message,
                "fix": FIX_HINTS.get(self.kind, "")}  # fmt: skip


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
        out = np.empty(len(values))
        for i, v in enumerate(values):
            try:
                out[i] = float(v)
            except ValueError:
                out[i] = np.nan
                kind, msg = (("missing", f"{name} is empty") if not v.strip()
                             else ("not_a_number", f"{name} is {v[:40]!r}, not a number"))  # fmt: skip
                errors.append(RowError(first_row + i, name, kind, msg))
            else:
                if not np.isfinite(out[i]):
                    errors.append(RowError(first_row + i, name, "not_finite", f"{name} is {v!r}"))
        return out
    bad = ~np.isfinite(out)
    for i in np.flatnonzero(bad):
        errors.append(RowError(first_row + int(i), name, "not_finite", f"{name} is {values[i]!r}"))
    return out


def _categorical(values: Sequence[str], feature: Feature, first_row: int, errors: list[RowError]) -> np.ndarray:
    out = np.asarray(values, dtype=object)
    known = np.isin(out, np.asarray(feature.categories, dtype=object))
    for i in np.flatnonzero(~known):
        v = values[i]
        kind, msg = (
            ("missing", f"{feature.name} is empty")
            if not v.strip()
            else ("unknown_category", f"{feature.name} is {v[:40]!r}; allowed: {', '.join(feature.categories)}")
        )
        errors.append(RowError(first_row + int(i), feature.name, kind, msg))  # fmt: skip
    return out


def _labels(values: Sequence[str], name: str, first_row: int, errors: list[RowError]) -> np.ndarray:
    """0/1 labels; -1 where the cell is empty (label unknown)."""
    text = np.char.strip(np.asarray(values, dtype=np.str_))
    out = np.full(len(values), -1, dtype=np.int8)
    out[np.isin(text, ["0", "0.0"])] = 0
    out[np.isin(text, ["1", "1.0"])] = 1
    for i in np.flatnonzero((out == -1) & (text != "")):
        errors.append(RowError(first_row + int(i), name, "bad_label", f"{name} is {values[i][:40]!r}"))
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
    """
    errors: list[RowError] = []
    width = len(header)
    widths = set(map(len, rows))
    if widths <= {width}:  # the common case: no ragged row, no per-row loop
        shaped, numbers = rows, list(range(first_row, first_row + len(rows)))
    else:
        shaped, numbers = [], []
        for i, row in enumerate(rows):
            if len(row) != width:
                errors.append(RowError(first_row + i, None, "ragged", f"{len(row)} fields, the header has {width}"))
                continue
            shaped.append(row)
            numbers.append(first_row + i)
    too_long = [] if max_field_chars is None else [
        j for j, row in enumerate(shaped) if max(map(len, row)) > max_field_chars
    ]  # fmt: skip
    for j in too_long:
        col = max(range(width), key=lambda k, row=shaped[j]: len(row[k]))
        errors.append(
            RowError(
                numbers[j],
                header[col],
                "field_too_long",
                f"{header[col]} has {len(shaped[j][col])} characters (limit {max_field_chars})",
            )
        )
    if too_long:
        drop = set(too_long)
        shaped = [r for j, r in enumerate(shaped) if j not in drop]
        numbers = [n for j, n in enumerate(numbers) if j not in drop]
    if not shaped:
        return Chunk({}, None, [], errors)

    position = {name: k for k, name in enumerate(header)}
    transposed = list(zip(*shaped, strict=True))
    start = len(errors)
    columns: dict[str, np.ndarray] = {}
    row_of = np.asarray(numbers)
    for feature in features:
        values = transposed[position[feature.name]]
        col_errors: list[RowError] = []
        if feature.is_numeric:
            columns[feature.name] = _numeric(values, feature.name, 0, col_errors)
        else:
            columns[feature.name] = _categorical(values, feature, 0, col_errors)
        errors += [RowError(int(row_of[e.row]), e.column, e.kind, e.message) for e in col_errors]
    labels = None
    if label is not None and label in position:
        col_errors = []
        labels = _labels(transposed[position[label]], label, 0, col_errors)
        errors += [RowError(int(row_of[e.row]), e.column, e.kind, e.message) for e in col_errors]

    bad_rows = {e.row for e in errors[start:]}
    if bad_rows:
        keep = np.asarray([n not in bad_rows for n in numbers])
        columns = {k: v[keep] for k, v in columns.items()}
        labels = labels[keep] if labels is not None else None
        shaped = [r for r, k in zip(shaped, keep, strict=True) if k]
        transposed = list(zip(*shaped, strict=True)) if shaped else [() for _ in header]
    return Chunk(columns, labels, shaped, errors, transposed)
