"""Reading CSV as a stream of rows, with the guards that keep a bad file from hurting (scoring and training).

Everything here is streaming: a gzip bomb is stopped at the size limit, bytes that are not UTF-8
and binary files are recognised from the bytes as they arrive, and rows are parsed lazily.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

READ_BUFFER_BYTES = 1 << 20  # large reads: fewer round trips through the Python-level byte counter
# The text layer holds a whole line in memory before the CSV parser (and its field limit) sees it:
# without this bound, one line with no line break (a gzip bomb of one character) would be held in
# memory up to the size limit.
MAX_LINE_BYTES = 8 << 20

# Magic numbers of files that are not CSV, for a message that says what the file is.
BINARY_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive (or an Excel .xlsx file)",
    b"\x1f\x8b": "gzip-compressed data (name it .csv.gz)",
    b"%PDF": "a PDF document",
    b"\xd0\xcf\x11\xe0": "an old Excel/Office document",
    b"PAR1": "a Parquet file",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
}


class ByteStream(Protocol):
    """What the reader reads from: an S3 StreamingBody, a file, a GzipFile, a byte range."""

    def read(self, size: int = -1, /) -> bytes: ...


class FileRejected(Exception):
    """The file as a whole cannot be scored; `kind`, `where` and `fix` go into the report."""

    def __init__(self, kind: str, message: str, *, fix: str, where: dict | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.fix = fix
        self.where = where or {}


def too_large(size: int, limit: int) -> FileRejected:
    """The rejection of an object whose size (known before reading it) is over `limit`."""
    return FileRejected(
        "too_large", f"the file is {size:,} bytes; the limit is {limit:,}", fix="split it into smaller files"
    )


class LimitedReader(io.RawIOBase):
    """Counts bytes read from a (possibly decompressing) stream and stops at `limit`."""

    def __init__(self, raw: ByteStream, limit: int, what: str, max_line: int = MAX_LINE_BYTES) -> None:
        self.raw = raw
        self.limit = limit
        self.what = what
        self.max_line = max_line
        self.count = 0
        self.line = 0  # bytes since the last line break

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self.raw.read(len(buffer))
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise FileRejected(
                "bad_gzip", f"the gzip data is corrupt or truncated: {exc}", fix="re-create the .csv.gz file with gzip"
            ) from exc
        self.count += len(data)
        if self.count > self.limit:
            raise FileRejected(
                "too_large",
                f"{self.what} exceeds the limit of {self.limit:,} bytes",
                fix="split the file into smaller files (or raise scoring.max_file_bytes)",
            )
        last_break = max(data.rfind(b"\n"), data.rfind(b"\r"))
        self.line = self.line + len(data) if last_break == -1 else len(data) - 1 - last_break
        if self.line > self.max_line:
            raise FileRejected(
                "line_too_long",
                f"{self.what} has a line longer than {self.max_line:,} bytes (from byte {self.count - self.line:,})",
                fix="put each row on its own line: the line breaks may have been lost, or a quote never closed; "
                "or a field (a long text?) is far over scoring.max_field_chars: shorten it",
                where={"byte": self.count - self.line},
            )
        buffer[: len(data)] = data
        return len(data)


def check_not_binary(head: bytes, key: str) -> None:
    """Reject a file whose first bytes show it is not text (`head`: its first few KB, decompressed)."""
    for signature, what in BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise FileRejected(
                "not_csv", f"{key} is {what}, not a CSV file", fix="export the data as UTF-8 CSV (comma-separated)"
            )
    if b"\x00" in head:
        offset = head.index(b"\x00")
        raise FileRejected(
            "not_csv",
            f"{key} contains zero bytes (at byte {offset}): it is binary or UTF-16",
            fix="export the data as UTF-8 CSV",
            where={"byte": offset},
        )


def open_guarded(
    body: ByteStream, *, key: str, gzipped: bool, max_bytes: int, max_field_chars: int, check: bool = True
) -> tuple[LimitedReader, io.BufferedReader[LimitedReader]]:
    """The body's bytes (decompressed if `gzipped`) behind the size and line limits, and their counter;
    `check` rejects a file whose first bytes show it is not text."""
    raw: ByteStream = body
    if gzipped:  # typeshed wants a seekable fileobj; GzipFile seeks only to rewind, which never happens here
        raw = gzip.GzipFile(fileobj=body, mode="rb")  # type: ignore[call-overload]  # see the line above
    what = "the decompressed file" if gzipped else "the file"
    max_line = max(MAX_LINE_BYTES, 4 * max_field_chars)  # a field may be as long as allowed, in any UTF-8
    counter = LimitedReader(raw, max_bytes, what, max_line)
    limited = io.BufferedReader(counter, buffer_size=READ_BUFFER_BYTES)
    if check:
        check_not_binary(limited.peek(4096)[:4096], key)
    return counter, limited


class CsvRows:
    """Rows of a CSV body, parsed lazily in chunks; parse problems become FileRejected with the line.

    `continuation` reads a later part of a file (csvblocks.Block): no file-type check and no byte-order
    mark, and line numbers in errors count from `first_line`, the lines before the part.
    """

    def __init__(
        self,
        body: ByteStream,
        *,
        key: str,
        gzipped: bool,
        max_bytes: int,
        max_field_chars: int,
        continuation: bool = False,
        first_line: int = 0,
    ) -> None:
        self._counter, limited = open_guarded(
            body, key=key, gzipped=gzipped, max_bytes=max_bytes, max_field_chars=max_field_chars, check=not continuation
        )
        csv.field_size_limit(max_field_chars)
        self._first_line = first_line
        encoding = "utf-8" if continuation else "utf-8-sig"
        text = io.TextIOWrapper(limited, encoding=encoding, errors="strict", newline="")
        # The text layer reads 8 KB at a time by default: a Python-level counter call (and a decode)
        # per 8 KB cost ~10% of scoring time. CPython's TextIOWrapper lets the chunk size be set.
        text._CHUNK_SIZE = READ_BUFFER_BYTES  # type: ignore[attr-defined]  # CPython-only, set on purpose
        self._reader = csv.reader(text, strict=True)

    @property
    def most_bytes_left(self) -> int:
        """An upper bound on the bytes not yet parsed: the size limit less what was read (less buffering)."""
        return max(self._counter.limit - self._counter.count, 0) + 2 * READ_BUFFER_BYTES

    def chunks(self, size: int) -> Iterator[list[list[str]]]:
        """Lists of up to `size` rows; the parsing loop stays in C (no per-row Python code).

        Blank lines are not rows (the csv module reads them as []): they are dropped in C, so a
        trailing empty line is not a ragged row and a file of empty lines costs only its parsing.
        """
        while True:
            with self._errors():
                chunk = list(itertools.islice(filter(None, self._reader), size))
            if not chunk:
                return
            yield chunk

    def next_row(self) -> list[str] | None:
        """The next non-blank row (e.g. the header), or None at the end."""
        with self._errors():
            return next(filter(None, self._reader), None)

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except UnicodeDecodeError as exc:
            line = self._first_line + self._reader.line_num + 1
            bad = exc.object[exc.start : exc.end]
            raise FileRejected(
                "not_utf8",
                f"the file is not UTF-8 near line {line}: {exc.reason} (bytes {bad!r})",
                fix="save the file as UTF-8 (in Excel: 'CSV UTF-8')",
                where={"line": line},
            ) from exc
        except csv.Error as exc:
            line = self._first_line + self._reader.line_num
            kind = "field_too_long" if "field larger" in str(exc) else "bad_quoting"
            fix = (
                "shorten the field or check for an unclosed quote"
                if kind == "field_too_long"
                else "quote fields that contain commas, quotes or line breaks, and double inner quotes"
            )
            raise FileRejected(kind, f"CSV parse error near line {line}: {exc}", fix=fix, where={"line": line}) from exc
