"""Reading a job's rows: a whole object, or one byte range of a large file fanned out through the queue.

A file over scoring.byte_range_bytes (not gzipped: gzip cannot be read from the middle) is not
scored in one invocation: one message per range goes back to the queue, each pinned to the model
version of the moment, and every range is scored (and receipted) as a job of its own.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from mlops_core.config import ScoringSettings
from mlops_core.data.blocks import CsvBlocks
from mlops_core.data.reader import ByteStream, CsvRows
from mlops_core.storage.errors import is_precondition_failure

from .messages import Job, Superseded, range_message

HEADER_BYTES = 1 << 20  # a header longer than this is not a header
LINE_OVERRUN_BYTES = 1 << 20  # how far past a range's end its last line may run
READ_BYTES = 65536
SQS_BATCH = 10  # SendMessageBatch's limit


def open_rows(job: Job, s3: Any, bucket: str, scoring: ScoringSettings) -> tuple[CsvBlocks, list[str]]:
    """The job's rows, positioned after the header, and the header (a byte range reads it from the file's start)."""
    limits = {"max_bytes": scoring.max_file_bytes, "max_field_chars": scoring.max_field_chars}
    if job.whole:
        body = read(s3, bucket, job)
        rows = CsvBlocks(body, key=job.key, gzipped=job.gzipped, **limits)
        return rows, rows.next_row() or []
    header = header_of(s3, bucket, job, max_field_chars=scoring.max_field_chars)
    rows = CsvBlocks(range_body(s3, bucket, job), key=job.key, gzipped=False, **limits)
    if job.part == 0:
        rows.next_row()  # the header line
    return rows, header


def read(s3: Any, bucket: str, job: Job, **arguments: str) -> ByteStream:
    """The body of the job's content (GetObject with its version, or IfMatch its ETag), or raise Superseded
    if the key holds other content now."""
    try:
        return s3.get_object(Bucket=bucket, Key=job.key, **job.read_condition, **arguments)["Body"]
    except ClientError as exc:
        if is_precondition_failure(exc):
            raise Superseded(None) from exc
        raise


def range_jobs(job: Job, version: str, range_bytes: int) -> list[Job]:
    """The byte ranges of a whole object, each pinned to model `version` and to the object's ETag (and version)."""
    parts = math.ceil(job.size / range_bytes)
    return [
        replace(
            job,
            version=version,
            start=part * range_bytes,
            end=min((part + 1) * range_bytes, job.size) - 1 if part < parts - 1 else None,
            part=part,
            parts=parts,
        )
        for part in range(parts)
    ]


def send_ranges(sqs: Any, queue_url: str, ranges: list[Job]) -> None:
    """Queue one message per range; raise if any could not be queued (SQS retries the whole file)."""
    entries = [{"Id": str(r.part), "MessageBody": range_message(r)} for r in ranges]
    for i in range(0, len(entries), SQS_BATCH):
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries[i : i + SQS_BATCH])
        if response.get("Failed"):
            raise RuntimeError(f"could not queue byte ranges: {response['Failed']}")


def header_of(s3: Any, bucket: str, job: Job, *, max_field_chars: int) -> list[str]:
    """The header row of a ranged job's object (from its first bytes)."""
    head = read(s3, bucket, job, Range=f"bytes=0-{HEADER_BYTES - 1}")
    rows = CsvRows(head, key=job.key, gzipped=False, max_bytes=HEADER_BYTES, max_field_chars=max_field_chars)
    return rows.next_row() or []


def range_body(s3: Any, bucket: str, job: Job) -> LineRange:
    """The rows of a byte range: from the first line start at or after `start`, to the end of the line
    holding `end`. (A quoted field with a line break across a boundary would be split: ranges are
    only used for files over scoring.byte_range_bytes, where such fields are rare; see README.)"""
    start = max(job.start - 1, 0)  # one byte early: tells whether `start` is itself a line start
    end = "" if job.end is None else job.end + LINE_OVERRUN_BYTES  # read on past `end` to finish its line
    body = read(s3, bucket, job, Range=f"bytes={start}-{end}")
    return LineRange(body, skip_partial=job.start > 0, length=None if job.end is None else job.end - start + 1)


class LineRange:
    """A file-like view of a byte range that starts and ends on line boundaries."""

    def __init__(self, body: ByteStream, *, skip_partial: bool, length: int | None) -> None:
        self.body = body
        self.length = length  # bytes of the range proper: every line that starts inside it is ours
        self.consumed = 0
        self.done = False
        self.carry = b""  # read from the body, not yet checked against the range's end
        self.pending = b""  # checked, ready to hand out
        if skip_partial:
            self._skip_first_line()

    def _next_bytes(self) -> bytes:
        data, self.carry = (self.carry, b"") if self.carry else (self.body.read(READ_BYTES), b"")
        return data

    def _skip_first_line(self) -> None:
        # The range starts one byte early: if that byte is a newline, `start` begins a line.
        while True:
            data = self._next_bytes()
            if not data:
                self.done = True
                return
            newline = data.find(b"\n")
            if newline != -1:
                self.consumed += newline + 1
                self.carry = data[newline + 1 :]
                return
            self.consumed += len(data)

    def _fill(self) -> None:
        data = self._next_bytes()
        if not data:
            self.done = True
            return
        if self.length is not None and self.consumed + len(data) >= self.length:
            # The line holding the range's last byte is ours; what follows it is the next range's.
            inside = max(self.length - self.consumed, 0)
            newline = data.find(b"\n", max(inside - 1, 0))
            if newline != -1:
                data = data[: newline + 1]
                self.done = True
        self.consumed += len(data)
        self.pending = data

    def read(self, size: int | None = -1) -> bytes:
        if not self.pending and not self.done:
            self._fill()
        size = len(self.pending) if size is None or size < 0 else size
        out, self.pending = self.pending[:size], self.pending[size:]
        return out

    def readable(self) -> bool:
        return True
