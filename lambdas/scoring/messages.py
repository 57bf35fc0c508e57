"""What arrives on the queue: S3 event notifications and byte-range messages, turned into jobs."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote_plus

from mlops_core.storage import layout


@dataclass(frozen=True)
class Job:
    """One unit of work: a whole object, or one byte range of a large one."""

    key: str
    etag: str
    size: int
    version: str | None = None  # pinned for byte ranges, so every part uses the same model
    start: int = 0
    end: int | None = None  # inclusive; None = to the end
    part: int = 0
    parts: int = 1

    @property
    def gzipped(self) -> bool:
        return self.key.endswith(".gz")

    @property
    def whole(self) -> bool:
        """True for a whole object, False for one byte range of it."""
        return self.parts == 1

    def as_found(self, *, etag: str, size: int) -> Job:
        """This job with the object's ETag and size as S3 has them now (the event's may be stale)."""
        return replace(self, etag=etag, size=size)


def jobs_from_message(body: dict[str, Any], data_bucket: str) -> list[Job]:
    """The jobs in one SQS message body: an S3 event notification, or a byte-range fan-out message."""
    if "range" in body:
        return [Job(**body["range"])]
    if body.get("Event") == "s3:TestEvent":
        return []
    return [job for record in body.get("Records", []) if (job := _job_of_record(record, data_bucket))]


def _job_of_record(record: dict[str, Any], data_bucket: str) -> Job | None:
    """The job of one S3 event record, or None for events that are not new files under incoming/."""
    if not record.get("eventName", "").startswith("ObjectCreated"):
        return None
    s3 = record["s3"]
    key = unquote_plus(s3["object"]["key"])  # S3 events URL-encode keys
    if s3["bucket"]["name"] != data_bucket or not key.startswith(layout.INCOMING):
        return None
    return Job(key, s3["object"].get("eTag", "").strip('"'), int(s3["object"].get("size", 0)))


def range_message(job: Job) -> str:
    """The SQS message body that asks for one byte range of a large file (read by jobs_from_message)."""
    fields = ("key", "etag", "size", "version", "start", "end", "part", "parts")
    return json.dumps({"range": {name: getattr(job, name) for name in fields}})
