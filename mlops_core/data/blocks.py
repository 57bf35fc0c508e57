"""A CSV body cut into blocks of whole rows: what scoring's fast path parses (mlops_core.data.fastpath).

The guards of csvreader apply to the bytes as they arrive (size and line limits, gzip, the file-type
check). A block ends at a line break outside quotes, so it parses on its own: with pandas' C parser
when it is plain, or row by row with the csv module (`Block.rows`), exactly as a whole file would be.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .reader import READ_BUFFER_BYTES, ByteStream, CsvRows, open_guarded

# A block is cut before this size even when it holds fewer rows than asked: memory stays bounded by
# bytes as well as by rows. A file whose rows cannot be cut within it (a quote that never closes) is
# read on, from there, by the csv module alone.
BLOCK_BYTES = 16 << 20
BYTE_ORDER_MARK = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Block:
    """Whole rows of a file, after `first_line` physical lines; `data` is None for the streamed rest."""

    data: bytes | None
    first_line: int
    precise: CsvRows | None  # the streamed rest's rows; for a block of bytes, `rows()` makes them

    def rows(self, *, key: str, max_field_chars: int) -> CsvRows:
        """The block's rows as the csv module reads them, with errors at their line in the file."""
        if self.precise is not None:
            return self.precise
        data = self.data or b""
        return CsvRows(
            io.BytesIO(data),
            key=key,
            gzipped=False,
            max_bytes=len(data) + 1,
            max_field_chars=max_field_chars,
            continuation=True,
            first_line=self.first_line,
        )


class CsvBlocks:
    """A CSV body as blocks of up to N rows (`blocks`), after its header (`next_row`)."""

    def __init__(self, body: ByteStream, *, key: str, gzipped: bool, max_bytes: int, max_field_chars: int) -> None:
        self._counter, self._stream = open_guarded(
            body, key=key, gzipped=gzipped, max_bytes=max_bytes, max_field_chars=max_field_chars
        )
        self.key, self.max_field_chars = key, max_field_chars
        self._held = b""  # bytes read and not yet handed out, from `_start` on
        self._start = 0
        self._ends = np.empty(0, dtype=np.int64)  # offsets in `_held` of the row ends from `_start` on
        self._odd_quotes = False  # at the end of `_held`: inside a quoted field
        self._eof = False
        self._at_start = True
        self._lines = 0  # physical lines handed out in blocks
        self._rest: CsvRows | None = None  # set once the rows can no longer be cut (see BLOCK_BYTES)

    @property
    def most_bytes_left(self) -> int:
        """An upper bound on the bytes not yet parsed: the size limit less what was read, plus what is held."""
        held = len(self._held) - self._start
        return max(self._counter.limit - self._counter.count, 0) + held + 2 * READ_BUFFER_BYTES

    def next_row(self) -> list[str] | None:
        """The next non-blank row (the header), read by the csv module; None at the end.

        A file whose first row ends in a lone CR (old Mac line ends) is read on by the csv module alone:
        its rows cannot be cut at line feeds.
        """
        while self._rest is None:
            end = self._row_end(1)
            if end is None:
                return None
            lone_cr = end >= 0 and has_lone_cr(self._held[self._start : end])
            block = self._stream_the_rest() if end < 0 or lone_cr else self._cut(end)
            row = block.rows(key=self.key, max_field_chars=self.max_field_chars).next_row()
            if row is not None or block.data is None:
                return row
        return self._rest.next_row()

    def blocks(self, rows: int) -> Iterator[Block]:
        """Blocks of up to `rows` lines (blank lines included) and at most BLOCK_BYTES, then the rest."""
        while self._rest is None:
            end = self._row_end(rows)
            if end is None:
                return
            if end < 0:
                self._stream_the_rest()
            else:
                yield self._cut(end)
        yield Block(None, self._lines, self._rest)

    def _row_end(self, rows: int) -> int | None:
        """Where the next block ends: after `rows` rows, or before BLOCK_BYTES, or at the end of the file;
        None when nothing is left, -1 when no row ends within BLOCK_BYTES."""
        while True:
            if len(self._ends) >= rows:
                return int(self._ends[rows - 1]) + 1
            held = len(self._held) - self._start
            if self._eof:
                return len(self._held) if held else None
            if held >= BLOCK_BYTES:
                return int(self._ends[-1]) + 1 if len(self._ends) else -1
            self._fill()

    def _fill(self) -> None:
        """Read on (as much as is held, at least a buffer's worth) and find the row ends in what came."""
        data = self._stream.read(max(READ_BUFFER_BYTES, len(self._held) - self._start))
        if not data:
            self._eof = True
            return
        if self._at_start and data.startswith(BYTE_ORDER_MARK):
            data = data[len(BYTE_ORDER_MARK) :]  # what the csv reader's utf-8-sig decoding drops
        self._at_start = False
        kept = self._held[self._start :]
        self._ends = np.concatenate((self._ends - self._start, row_ends(data, self._odd_quotes) + len(kept)))
        self._held, self._start = kept + data, 0
        self._odd_quotes ^= data.count(b'"') % 2 == 1

    def _cut(self, end: int) -> Block:
        data = self._held[self._start : end]
        self._start = end
        self._ends = self._ends[np.searchsorted(self._ends, end) :]
        block = Block(data, self._lines, None)
        self._lines += physical_lines(data)
        return block

    def _stream_the_rest(self) -> Block:
        """From here on, the csv module reads the held bytes and the rest of the stream."""
        held = self._held[self._start :]
        self._held, self._start, self._ends = b"", 0, self._ends[:0]
        rest = io.BufferedReader(_Prepended(held, self._stream), buffer_size=READ_BUFFER_BYTES)
        self._rest = CsvRows(
            rest,
            key=self.key,
            gzipped=False,
            max_bytes=self._counter.limit + 1,  # the stream underneath counts against the limit already
            max_field_chars=self.max_field_chars,
            continuation=True,
            first_line=self._lines,
        )
        return Block(None, self._lines, self._rest)


def row_ends(data: bytes, in_quotes: bool = False) -> np.ndarray:
    """Offsets of the line feeds that end a row: those outside quotes (an even number of quotes before
    them, counting from a point inside a quoted field when `in_quotes`)."""
    raw = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(raw == ord("\n"))
    if b'"' not in data:
        return breaks[:0] if in_quotes else breaks
    quotes = np.flatnonzero(raw == ord('"'))
    return breaks[(np.searchsorted(quotes, breaks) + in_quotes) % 2 == 0]


def has_lone_cr(data: bytes) -> bool:
    """A CR not followed by LF: the csv module ends a line there."""
    return b"\r" in data and data.count(b"\r") != data.count(b"\r\n")  # `in` is a fast scan, `count` not


def physical_lines(data: bytes) -> int:
    """Lines as the csv module counts them: CR LF, LF and a lone CR each end one."""
    lone_crs = data.count(b"\r") - data.count(b"\r\n") if b"\r" in data else 0
    return data.count(b"\n") + lone_crs


class _Prepended(io.RawIOBase):
    """`head`, then the rest of `stream`."""

    def __init__(self, head: bytes, stream: ByteStream) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n], self._head = self._head[:n], self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
