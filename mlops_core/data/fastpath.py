"""Scoring's fast path: a plain block of rows parsed by pandas' C parser and checked column-wise.

A block is plain (mlops_core.data.plain) when the C parser and the csv module must read it alike and no
row can be bad for its shape. Its values are then checked per column, and each cell the precise path
would report (not a number, not finite, blank, an unknown category, a text too long, a bad label) flags
its row. The good rows keep the columns read here; only the flagged rows go through the precise path
(convert.convert_rows), which reports them exactly as it would in the whole block, numbered as it would
number them. So a good block costs the C parser and a few vectorised checks, and a block with a few bad
rows a second parse at most (with every column as text, when a numeric cell is not a number; at once,
without the first, when the file's block before had one too) and the precise path on those rows alone.
Should a flagged row turn out good, the whole block is left to the precise path.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator, Sequence
from functools import cached_property

import numpy as np
import pandas as pd

from ..config import Feature, Task
from .blocks import row_ends
from .cells import RowError, blank_cells, categories, text_checks
from .convert import Chunk, convert_rows, read_labels
from .plain import plain_rows


@dataclasses.dataclass
class _Recall:
    """What the last block of a file showed: a numeric cell that is not a number (or blank) in a feature
    read as numbers. Its next block is then read as text at once, not parsed twice. A hint for speed
    alone: both reads give the same chunk."""

    numbers_as_text: bool = False


@dataclasses.dataclass(frozen=True)
class Reading:
    """How a file's rows are read: its header, the features, the label column (None without one) and
    the task that says how to read it (as for convert.convert_rows)."""

    header: Sequence[str]
    features: Sequence[Feature]
    label: str | None
    task: Task | None
    recall: _Recall = dataclasses.field(default_factory=_Recall, compare=False, repr=False)


def fast_block(
    data: bytes, reading: Reading, *, max_field_chars: int, first_row: int = 1
) -> tuple[Sequence[list[str]], Chunk] | None:
    """A plain block's rows and its chunk, or None when the precise path must read the whole block.

    The chunk is what convert_rows makes of the block's rows numbered from `first_row`: the good rows
    (read here), and the errors of the bad ones (from convert_rows on those rows alone).
    """
    count = plain_rows(data, len(reading.header), max_field_chars)
    if count is None:
        return None
    rows = _LineRows(data, count)
    if count == 0:
        return rows, Chunk({}, None, [], [])
    try:
        frame = _parse(data, reading, count)
    except _NeedsPrecisePath:
        return None
    # Quoted cells may hold commas, quotes and line breaks: only a block without quotes writes as it is.
    chunk, flagged = _read(frame, rows, reading, plain=b'"' not in data)
    if not flagged.any():
        return rows, chunk
    merged = _without_flagged(chunk, flagged, reading, first_row)
    return None if merged is None else (rows, merged)


def fast_chunk(
    data: bytes,
    header: Sequence[str],
    *,
    features: Sequence[Feature],
    label: str | None,
    task: Task | None,
    max_field_chars: int,
) -> Chunk | None:
    """The chunk of `fast_block` (rows numbered from 1), or None when the precise path must read the block."""
    read = fast_block(data, Reading(header, features, label, task), max_field_chars=max_field_chars)
    return None if read is None else read[1]


class _NeedsPrecisePath(Exception):
    """A block that the precise path must read row by row."""


def _parse(data: bytes, reading: Reading, rows: int) -> pd.DataFrame:
    """Numeric features as float64, every other column as text; all as text when a numeric cell is not a
    number (the checks find it), at once when the file's last block had one; `rows` of them, or the
    precise path."""
    # A numeric feature that imputes is read as text: its blank cells are NaN, not errors.
    numeric = {f.name for f in reading.features if f.is_numeric and not f.imputes}
    if numeric and not reading.recall.numbers_as_text:
        try:
            return _read_csv(data, reading.header, numeric, rows)
        except _NeedsPrecisePath:
            pass
    return _read_csv(data, reading.header, set(), rows)


def _read_csv(data: bytes, header: Sequence[str], numeric: set[str], rows: int) -> pd.DataFrame:
    """The block by the C parser, the `numeric` columns as float64; `rows` of them, or the precise path."""
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


def _read(frame: pd.DataFrame, rows: Sequence[list[str]], reading: Reading, *, plain: bool) -> tuple[Chunk, np.ndarray]:
    """The block as a chunk of all its rows (as convert_rows reads good ones), and a mask of the rows with a
    cell convert_rows would report."""
    position = {name: i for i, name in enumerate(reading.header)}
    flagged = np.zeros(len(frame), dtype=bool)
    columns: dict[str, np.ndarray] = {}
    not_numbers = False
    for feature in reading.features:
        columns[feature.name], bad = _checked(frame[position[feature.name]].to_numpy(), feature)
        flagged |= bad
        not_numbers |= feature.is_numeric and not feature.imputes and bool(bad.any())
    reading.recall.numbers_as_text = not_numbers
    labels, bad = _label_column(frame, reading)
    names = {f.name for f in reading.features}
    text = {i: frame[i].to_numpy() for i, name in enumerate(reading.header) if name not in names}
    return Chunk(columns, labels, rows, [], text, plain=plain), flagged | bad


def _checked(values: np.ndarray, feature: Feature) -> tuple[np.ndarray, np.ndarray]:
    """One feature column as convert_rows makes it, and a mask of the cells it would report."""
    if feature.is_numeric and values.dtype == np.float64:  # the C parser read a number in every cell
        return values, ~np.isfinite(values)
    if feature.is_numeric:
        return _numbers(values, feature)
    if feature.is_text:
        lengths, filled = text_checks(values)
        flagged = np.zeros(len(values), dtype=bool) if feature.imputes else ~filled
        if feature.max_chars is not None:
            flagged |= filled & (lengths > feature.max_chars)
        return values, flagged
    values, blank, unknown = categories(values, feature)
    return values, blank | unknown


def _numbers(cells: np.ndarray, feature: Feature) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column of text cells as convert_rows reads it, and a mask of the cells it would report:
    not a number, not finite, or blank when the feature does not impute (a blank that it imputes is NaN).

    Python's float() reads the cells: convert_rows reads them with it or with numpy's text-to-float cast,
    which reads the same numbers (bar a trailing NUL byte, which a plain block cannot hold).
    """
    empty = cells == ""
    out = np.full(len(cells), np.nan)
    out[~empty] = _floats(cells[~empty])
    flagged = ~np.isfinite(out)
    if feature.imputes and flagged.any():
        where = np.flatnonzero(flagged)
        flagged[where[blank_cells(cells[where])]] = False
    return out, flagged


PIECE = 1024  # cells cast at once when a column has a cell that is not a number


def _floats(cells: np.ndarray) -> np.ndarray:
    """float() of each cell, NaN where it is not a number: numpy's cast (float() per cell, in C) piece by piece,
    and a Python loop only over the pieces it fails on, which hold the few cells that are not numbers."""
    try:
        return cells.astype(np.float64)
    except ValueError:
        pass
    out = np.empty(len(cells))
    for start in range(0, len(cells), PIECE):
        piece = cells[start : start + PIECE]
        try:
            out[start : start + PIECE] = piece.astype(np.float64)
        except ValueError:
            out[start : start + PIECE] = np.fromiter(map(_number, piece.tolist()), dtype=np.float64, count=len(piece))
    return out


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _label_column(frame: pd.DataFrame, reading: Reading) -> tuple[np.ndarray | None, np.ndarray]:
    """The label column as convert_rows reads it (None without one), and a mask of its bad labels."""
    label, task, flagged = reading.label, reading.task, np.zeros(len(frame), dtype=bool)
    if label is None or label not in reading.header:
        return None, flagged
    if task is None:
        raise ValueError("fast_block needs the task to read a label column")
    errors: list[RowError] = []
    labels = read_labels(frame[list(reading.header).index(label)].to_numpy().tolist(), label, task, errors)
    flagged[[e.row for e in errors]] = True
    return labels, flagged


def _without_flagged(chunk: Chunk, flagged: np.ndarray, reading: Reading, first_row: int) -> Chunk | None:
    """The block's chunk without its flagged rows, and their errors as convert_rows reports them in the whole
    block; None when convert_rows takes some flagged row (let it read the whole block then)."""
    where = np.flatnonzero(flagged)
    bad = convert_rows(
        reading.header,
        [chunk.rows[i] for i in where.tolist()],
        first_row=0,
        features=reading.features,
        label=reading.label,
        task=reading.task,
        max_field_chars=None,  # a plain block's fields are within the limit
    )
    if len(bad):
        return None
    good = ~flagged
    return Chunk(
        {name: values[good] for name, values in chunk.columns.items()},
        None if chunk.label is None else chunk.label[good],
        _Subset(chunk.rows, np.flatnonzero(good)),
        [dataclasses.replace(e, row=first_row + int(where[e.row])) for e in bad.errors],
        {i: np.asarray(values)[good] for i, values in chunk.text_columns.items()},
        plain=chunk.plain,
    )


class _LineRows(Sequence[list[str]]):
    """A plain block's rows as the csv module reads them, split only when asked (feedback, bad rows): with no
    quotes a row is its line split at commas, with quotes the csv module splits it; a row asked for alone (a
    bad row) is split alone, from where it starts to the line feed outside quotes that ends it."""

    def __init__(self, data: bytes, rows: int) -> None:
        self._data, self._rows = data, rows

    def __len__(self) -> int:
        return self._rows

    def __iter__(self) -> Iterator[list[str]]:
        return iter(self._split)

    def __getitem__(self, index):  # Sequence's two overloads (an index, a slice) in one
        if isinstance(index, int) and "_split" not in self.__dict__:
            start, end = self._lines[:, range(self._rows)[index]]
            line = self._data[start:end].decode("utf-8")
            return _csv_rows(line)[0] if '"' in line else line.split(",")
        return self._split[index]

    @cached_property
    def _split(self) -> list[list[str]]:
        text = self._data.decode("utf-8")
        if '"' in text:
            return _csv_rows(text)
        lines = text.split("\n")
        return [line.removesuffix("\r").split(",") for line in lines if line not in ("", "\r")]

    @cached_property
    def _lines(self) -> np.ndarray:
        """Where each row starts and ends (before the CR LF or LF outside quotes that ends it), in two rows."""
        raw = np.frombuffer(self._data, dtype=np.uint8)
        ends = row_ends(self._data)
        if not self._data.endswith(b"\n"):
            ends = np.append(ends, len(raw))
        starts = np.concatenate(([0], ends[:-1] + 1))
        ends = ends - (raw[np.maximum(ends - 1, 0)] == ord("\r")) * (ends > starts)
        return np.stack((starts, ends))[:, ends > starts]


def _csv_rows(text: str) -> list[list[str]]:
    """The non-blank rows of `text` as csvreader.CsvRows reads them."""
    # The field limit is the module's, set by the last CsvRows; plain_rows checked the block's fields already.
    limit = csv.field_size_limit(max(csv.field_size_limit(), len(text)))
    try:
        return list(filter(None, csv.reader(io.StringIO(text, newline=""), strict=True)))
    finally:
        csv.field_size_limit(limit)


class _Subset(Sequence[list[str]]):
    """Some of a block's rows (its good ones, by index), fetched only when asked (feedback)."""

    def __init__(self, rows: Sequence[list[str]], kept: np.ndarray) -> None:
        self._rows, self._kept = rows, kept

    def __len__(self) -> int:
        return len(self._kept)

    def __iter__(self) -> Iterator[list[str]]:
        return iter(self._picked)

    def __getitem__(self, index):  # Sequence's two overloads (an index, a slice) in one
        return self._picked[index]

    @cached_property
    def _picked(self) -> list[list[str]]:
        every = list(self._rows)  # all split at once: far faster than row by row
        return [every[i] for i in self._kept.tolist()]
