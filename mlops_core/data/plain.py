"""Whether a block is plain: pandas' C parser and the csv module must read it alike, and no row of it can be
bad for its shape (mlops_core.data.fastpath reads such a block column-wise).

Plain: quotes only as RFC 4180 has them (around whole fields, doubled inside; a quoted field may hold
commas and line breaks), no NUL byte, no lone CR, no byte-order mark at its start (pandas drops one
there), every non-blank row with as many fields as the header, no field longer than the field limit
allows. Malformed quoting (`ab"c`, `"a"b`, a quote that never closes) is the precise path's to read or
reject. All of it is found with a few vectorised passes over the block's bytes.
"""

from __future__ import annotations

import numpy as np

from .blocks import BYTE_ORDER_MARK, has_lone_cr

NEWLINE, COMMA, QUOTE, CR = ord("\n"), ord(","), ord('"'), ord("\r")
# The bytes that may come right before a quote that opens a field, and right after one that closes it.
# A CR after a closing quote is a CR LF: a block with a lone CR is not plain.
OPENS_AFTER = np.isin(np.arange(256), [COMMA, NEWLINE, QUOTE])
CLOSES_BEFORE = np.isin(np.arange(256), [COMMA, NEWLINE, CR, QUOTE])


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
