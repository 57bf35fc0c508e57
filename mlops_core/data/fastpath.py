"""Scoring's fast path: a plain block of rows parsed by pandas' C parser and checked column-wise.

A block is plain when the C parser and the csv module must read it alike and no row can be bad for its
shape: quotes only as RFC 4180 has them (around whole fields, doubled inside; a quoted field may hold
commas and line breaks), no NUL byte, no lone CR, no byte-order mark at its start (pandas drops one
there), every non-blank row with as many fields as the header, no field longer than the field limit
allows. Its values are then checked per column; any value the precise path would report (not a
number, not finite, an unknown category, a bad label) sends the whole block to the precise path
(csvreader.CsvRows + csvdata.convert_rows), which reports it row by row. So a good block costs the C
parser and a few vectorised checks, and a bad one is reported as before. Malformed quoting (`ab"c`,
`"a"b`, a quote that never closes) is the precise path's to read or reject.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from functools import cached_property

import numpy as np
import pandas as pd

from ..config import Feature, Task
from .blocks import BYTE_ORDER_MARK, has_lone_cr
from .cells import RowError, categories, numbers, text_checks
from .convert import Chunk, read_labels

NEWLINE, COMMA, QUOTE, CR = ord("\n"), ord(","), ord('"'), ord("\r")
# The bytes that may come right before a quote that opens a field, and right after one that closes it.
# A CR after a closing quote is a CR LF: a block with a lone CR is not plain.
OPENS_AFTER = np.isin(np.arange(256), [COMMA, NEWLINE, QUOTE])
CLOSES_BEFORE = np.isin(np.arange(256), [COMMA, NEWLINE, CR, QUOTE])


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
    # Quoted cells may hold commas, quotes and line breaks: only a block without quotes writes as it is.
    return Chunk(columns, labels, _LineRows(data, rows), [], text, plain=b'"' not in data)


class _NeedsPrecisePath(Exception):
    """A value in the block that the precise path must report (or read) row by row."""


def plain_rows(data: bytes, width: int, max_field_chars: int) -> int | None:
    """How many rows a plain block holds (0 for blank lines only), or None when it is not plain."""
    if width < 2 or b"\x00" in data or has_lone_cr(data) or data.startswith(BYTE_ORDER_MARK):
        return None  # one column: a line of spaces is a row to csv, a blank line to pandas; a BOM: pandas drops it
    if not data:
        return 0
    raw = np.frombuffer(data, dtype=np.uint8)
    separators = _separators(raw, quoted=b'"' in data)
    if separators is None:
        return None
    ends, commas = separators
    if not data.endswith(b"\n"):  # a block ends outside quotes (`_separators`): this line feed ends its last row
        ends = np.append(ends, len(data))
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts - (raw[np.maximum(ends - 1, 0)] == CR)  # without the row's CR
    per_line = np.searchsorted(commas, ends) - np.searchsorted(commas, starts)
    blank = lengths <= 0
    if np.any(per_line[~blank] != width - 1):
        return None
    if len(lengths) and lengths.max() > max_field_chars and _longest_field(ends, commas) > max_field_chars:
        return None  # in bytes with any quotes, which are at least the characters the csv module's limit counts
    return int(np.count_nonzero(~blank))


def _separators(raw: np.ndarray, *, quoted: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """The offsets of the line feeds that end rows and of the commas that end fields (those outside
    quotes); None when the quoting is not well-formed, which the csv module rejects or reads otherwise."""
    ends, commas = np.flatnonzero(raw == NEWLINE), np.flatnonzero(raw == COMMA)
    if not quoted:
        return ends, commas
    quotes = np.flatnonzero(raw == QUOTE)
    if not _well_quoted(raw, quotes):
        return None
    return _outside(ends, quotes), _outside(commas, quotes)


def _well_quoted(raw: np.ndarray, quotes: np.ndarray) -> bool:
    """Whether the quotes are RFC 4180's: each opens a field, closes it or doubles a quote inside it, and
    the block ends outside quotes.

    A byte is inside quotes when an odd number of quotes come before it; a doubled quote closes and
    reopens, so parity holds. A quote that opens must start a field (or follow a closing quote: doubled),
    a quote that closes must end it (or be followed by one: doubled). Any other quote is literal text to
    the csv module (`ab"c`, ` "a"`) or an error (`"a"b`): both parsers might agree, but declining is safe.
    """
    if len(quotes) % 2:
        return False
    opening, closing = quotes[0::2], quotes[1::2]
    before = raw[opening[opening > 0] - 1]
    after = raw[closing[closing < len(raw) - 1] + 1]
    return bool(OPENS_AFTER[before].all() and CLOSES_BEFORE[after].all())


def _outside(positions: np.ndarray, quotes: np.ndarray) -> np.ndarray:
    return positions[np.searchsorted(quotes, positions) % 2 == 0]


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
    """A plain block's rows as the csv module reads them, split only when asked (feedback): with no quotes,
    a row is its line split at commas; with quotes, the csv module splits the block."""

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
        text = self._data.decode("utf-8")
        if '"' in text:
            return _csv_rows(text)
        lines = text.split("\n")
        return [line.removesuffix("\r").split(",") for line in lines if line not in ("", "\r")]


def _csv_rows(text: str) -> list[list[str]]:
    """The non-blank rows of `text` as csvreader.CsvRows reads them."""
    # The field limit is the module's, set by the last CsvRows; plain_rows checked the block's fields already.
    limit = csv.field_size_limit(max(csv.field_size_limit(), len(text)))
    try:
        return list(filter(None, csv.reader(io.StringIO(text, newline=""), strict=True)))
    finally:
        csv.field_size_limit(limit)
