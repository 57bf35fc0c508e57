"""Turning CSV rows into typed feature columns, with an error for every value that does not fit.

Scoring and training share this conversion, so a file that trains also scores and vice versa.
Conversion is column-wise (numpy) with a per-value fallback only when a column has a bad value,
so the common case costs little more than the CSV parsing itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..config import Feature, Task, canonical_labels
from .cells import RowError, categorical_column, numeric_column, text_column


@dataclass
class Chunk:
    """The good rows of a chunk: typed feature columns, the label if present, the raw rows."""

    columns: dict[str, np.ndarray]
    # The label column, None when the file has none: class names (canonical text, "" where the cell was
    # empty) for classification, float64 (NaN where empty) for regression.
    label: np.ndarray | None
    rows: Sequence[list[str]]  # the raw good rows (bad-row reports, feedback)
    errors: list[RowError] = field(default_factory=list)
    # The good rows' cells column-wise, by position in the header: every column (convert_rows) or at least
    # every column that is not a feature (the fast path).
    text_columns: Mapping[int, Sequence[str]] = field(default_factory=dict)
    plain: bool = False  # no cell holds a comma, a quote or a line break (the fast path's blocks)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def labeled(self) -> np.ndarray:
        """A mask of the rows whose label is known (none when the file has no label column)."""
        if self.label is None:
            return np.zeros(len(self.rows), dtype=bool)
        return self.label != "" if self.label.dtype == object else ~np.isnan(self.label)


def read_labels(values: Sequence[str], name: str, task: Task, errors: list[RowError]) -> np.ndarray:
    """The label column as `Chunk.label` holds it; a bad_label error per value that does not fit the task.

    Classification: with classes given, a value outside them is a bad label; without (scoring), any
    text is a class, and one the model does not know counts against its accuracy. Regression: a
    value that is not a finite number is a bad label.
    """
    if task.is_classification:
        labels = canonical_labels(values)
        if task.classes:
            outside = (labels != "") & ~np.isin(labels, np.asarray(task.classes, dtype=object))
            allowed = ", ".join(task.classes)
            for i in np.flatnonzero(outside).tolist():
                message = f"{name} is {values[i][:40]!r}, not one of the classes ({allowed})"
                errors.append(RowError(i, name, "bad_label", message, values[i][:40]))
        return labels
    text = np.char.strip(np.asarray(values, dtype=np.str_))
    empty = text == ""
    try:
        out = np.where(empty, "nan", text).astype(np.float64)
    except ValueError:  # some cell is text: parse one by one
        out = np.asarray([_float_or_nan(v) for v in text.tolist()])
    for i in np.flatnonzero(~empty & ~np.isfinite(out)).tolist():
        v = str(text[i])[:40]
        errors.append(RowError(i, name, "bad_label", f"{name} is {v!r}, not a finite number", v))
    out[~empty & ~np.isfinite(out)] = np.nan
    return out


def _float_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def convert_rows(
    header: Sequence[str],
    rows: list[list[str]],
    *,
    first_row: int,
    features: Sequence[Feature],
    label: str | None,
    max_field_chars: int | None,
    task: Task | None = None,
) -> Chunk:
    """Validate and convert parsed rows; bad rows are dropped and described in `errors`.

    `max_field_chars` None skips the field-length check (the CSV parser already enforced it). `task`
    says how to read the `label` column (mlops_core.config.task); it is needed when there is one.
    The errors come in this order: ragged rows, over-long fields, then each column's bad values.
    """
    errors: list[RowError] = []
    shaped, numbers = _drop_ragged(rows, len(header), first_row, errors)
    if max_field_chars is not None:
        shaped, numbers = _drop_long_fields(header, shaped, numbers, max_field_chars, errors)
    if not shaped:
        return Chunk({}, None, [], errors)
    transposed = list(zip(*shaped, strict=True))
    columns, labels, value_errors = _convert_columns(
        header, transposed, numbers, features=features, label=label, task=task
    )
    errors += value_errors
    if not value_errors:
        return Chunk(columns, labels, shaped, errors, dict(enumerate(transposed)))
    keep = _rows_without_errors(numbers, value_errors)
    kept = [r for r, k in zip(shaped, keep, strict=True) if k]
    return Chunk(
        {k: v[keep] for k, v in columns.items()},
        labels[keep] if labels is not None else None,
        kept,
        errors,
        dict(enumerate(zip(*kept, strict=True))) if kept else {i: () for i in range(len(header))},
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
    task: Task | None,
) -> tuple[dict[str, np.ndarray], np.ndarray | None, list[RowError]]:
    """Typed feature columns and the label column (None when absent), with an error per bad value."""
    position = {name: k for k, name in enumerate(header)}
    errors: list[RowError] = []
    columns: dict[str, np.ndarray] = {}
    for feature in features:
        values = transposed[position[feature.name]]
        if feature.is_numeric:
            columns[feature.name] = numeric_column(values, feature, errors)
        elif feature.is_text:
            columns[feature.name] = text_column(values, feature, errors)
        else:
            columns[feature.name] = categorical_column(values, feature, errors)
    labels = None
    if label is not None and label in position:
        if task is None:
            raise ValueError("convert_rows needs the task to read a label column")
        labels = read_labels(transposed[position[label]], label, task, errors)
    # The converters count rows from 0 within the good rows; report the rows' numbers in the file.
    return columns, labels, [dataclasses.replace(e, row=numbers[e.row]) for e in errors]


def _rows_without_errors(numbers: list[int], errors: list[RowError]) -> np.ndarray:
    """A mask of the rows (by number) that have no error."""
    bad = {e.row for e in errors}
    return np.asarray([n not in bad for n in numbers])
