"""Opening an S3 object as a stream of CSV rows, with the guards that keep a bad file from hurting.

Everything here is streaming: a gzip bomb is stopped at the size limit, bytes that are not UTF-8
and binary files are recognised from the bytes as they arrive, and rows are parsed lazily.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from typing import IO

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


class FileRejected(Exception):
    """The file as a whole cannot be scored; `kind`, `where` and `fix` go into the report."""

    def __init__(self, kind: str, message: str, *, fix: str, where: dict | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.fix = fix
        self.where = where or {}


class LimitedReader(io.RawIOBase):
    """Counts bytes read from a (possibly decompressing) stream and stops at `limit`."""

    def __init__(self, raw: IO[bytes], limit: int, what: str) -> None:
        self.raw = raw
        self.limit = limit
        self.what = what
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        try:
            data = self.raw.read(len(buffer))
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise FileRejected("bad_gzip", f"the gzip data is corrupt or truncated: {exc}",
                               fix="re-create the .csv.gz file with gzip") from exc  # fmt: skip
        self.count += len(data)
        if self.count > self.limit:
            raise FileRejected(
                "too_large",
                f"{self.what} exceeds the limit of {self.limit:,} bytes",
                fix="split the file into smaller files (or raise scoring.max_file_bytes)",
            )
        buffer[: len(data)] = data
        return len(data)


def check_not_binary(head: bytes, key: str) -> None:
    """Reject a file whose first bytes show it is not text (`head`: its first few KB, decompressed)."""
    for signature, what in BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise FileRejected("not_csv", f"{key} is {what}, not a CSV file",
                               fix="export the data as UTF-8 CSV (comma-separated)")  # fmt: skip
    if b"\x00" in head:
        offset = head.index(b"\x00")
        raise FileRejected("not_csv", f"{key} contains zero bytes (at byte {offset}): it is binary or UTF-16",
                           fix="export the data as UTF-8 CSV", where={"byte": offset})  # fmt: skip


class TextStream(io.TextIOWrapper):
    """UTF-8 text (BOM dropped) whose decode errors become a FileRejected naming the bad bytes."""

    def __init__(self, buffered: IO[bytes]) -> None:
        super().__init__(buffered, encoding="utf-8-sig", errors="strict", newline="")  # type: ignore[arg-type]

    def __next__(self) -> str:
        try:
            return super().__next__()
        except UnicodeDecodeError as exc:
            bad = exc.object[exc.start : exc.end]
            raise FileRejected("not_utf8", f"the file is not UTF-8: {exc.reason} (bytes {bad!r})",
                               fix="save the file as UTF-8 (in Excel: 'CSV UTF-8')") from exc  # fmt: skip


def open_rows(body: IO[bytes], *, key: str, gzipped: bool, max_bytes: int, max_field_chars: int) -> Iterator[list[str]]:
    """Rows of a CSV body (a file-like object), parsed lazily; FileRejected for file-level problems."""
    raw: IO[bytes] = gzip.GzipFile(fileobj=body, mode="rb") if gzipped else body
    limited = io.BufferedReader(LimitedReader(raw, max_bytes, "the decompressed file" if gzipped else "the file"))
    check_not_binary(limited.peek(4096)[:4096], key)
    csv.field_size_limit(max_field_chars)
    reader = csv.reader(TextStream(limited), strict=True)
    line = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num
            kind = "field_too_long" if "field larger" in str(exc) else "bad_quoting"
            fix = ("shorten the field or check for an unclosed quote" if kind == "field_too_long"
                   else "quote fields that contain commas, quotes or line breaks, and double inner quotes")
            raise FileRejected(kind, f"CSV parse error near line {line}: {exc}", fix=fix,
                               where={"line": line}) from exc  # fmt: skip
        yield row
