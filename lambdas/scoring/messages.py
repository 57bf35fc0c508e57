"""What arrives on the queue: S3 event notifications and byte-range messages, turned into jobs.

A job names one content of a key: its ETag and, in a versioned bucket, its object version (S3 events carry
`versionId` there). The key may have been written again by the time the job runs; every read of the job's
object says which content it wants (`Job.read_condition`), so new rows are never taken for the old ones.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from mlops_core.storage import layout


class RefusedMessage(ValueError):
    """A queue message scoring will not act on, and why: a byte range it never sent. Anyone who may send to
    the queue can write one, so its key and its pinned model version are checked like an S3 event's. It is
    not dropped: the handler logs the reason and fails its batch item, so after queue.max_receive_count
    receives the message waits in the dead-letter queue, whose alarm tells people. No receipt is written,
    so a real range of the same part is not taken for done."""


@dataclass(frozen=True)
class Job:
    """One unit of work: a whole object, or one byte range of a large one."""

    key: str
    etag: str  # "" when the event gave none: the object's, as found
    size: int
    version: str | None = None  # the model version, pinned for byte ranges so every part uses the same model
    start: int = 0
    end: int | None = None  # inclusive; None = to the end
    part: int = 0
    parts: int = 1
    object_version: str | None = None  # the S3 object version the event named (versioned buckets only)

    @property
    def gzipped(self) -> bool:
        return layout.is_gzipped(self.key)

    @property
    def whole(self) -> bool:
        """True for a whole object, False for one byte range of it."""
        return self.parts == 1

    @property
    def read_condition(self) -> dict[str, str]:
        """GetObject's arguments that read this job's content and no other: its version, else its ETag."""
        if self.object_version:
            return {"VersionId": self.object_version}
        return {"IfMatch": self.etag} if self.etag else {}


class Superseded(Exception):
    """The key was written again before the job's content was read, in a bucket that keeps no earlier version:
    that content is gone (the new one has an event of its own)."""

    def __init__(self, current_etag: str | None) -> None:
        super().__init__(f"overwritten before it was read; the key's ETag is now {current_etag or 'unknown'}")
        self.current_etag = current_etag


def jobs_from_message(body: dict[str, Any], data_bucket: str) -> list[Job]:
    """The jobs in one SQS message body: an S3 event notification, or a byte-range fan-out message."""
    if "range" in body:
        return [range_job(body["range"])]
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
    obj = s3["object"]
    return Job(key, obj.get("eTag", "").strip('"'), int(obj.get("size", 0)), object_version=obj.get("versionId"))


def range_job(fields: dict[str, Any]) -> Job:
    """The job of a byte-range message, if it is one scoring sends (ranges.range_jobs); RefusedMessage if not.

    Its model version is checked where the model is loaded (models.load_champion): it must be or have been
    the champion.
    """
    try:
        job = Job(**fields)
    except TypeError as exc:
        raise RefusedMessage(f"not a byte-range message scoring sends: {exc}") from None
    if not isinstance(job.key, str) or not job.key.startswith(layout.INCOMING):
        raise RefusedMessage(f"byte range of {job.key!r}: not under {layout.INCOMING}, where files to score arrive")
    if layout.why_not_scored(job.key):
        raise RefusedMessage(f"byte range of {job.key!r}: not a .csv or .csv.gz file, which is all S3 sends")
    if job.gzipped:
        raise RefusedMessage(f"byte range of {job.key!r}: gzip cannot be read from the middle, it is never split")
    if not isinstance(job.version, str) or not job.version:
        raise RefusedMessage(f"byte range of {job.key!r}: no model version pinned, which every range has")
    if job.object_version is not None and (not isinstance(job.object_version, str) or not job.object_version):
        raise RefusedMessage(f"byte range of {job.key!r}: its object version is not one S3 gives")
    numbers = (job.size, job.start, job.part, job.parts, 0 if job.end is None else job.end)
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
        raise RefusedMessage(f"byte range of {job.key!r}: its size, offsets and parts are not whole numbers")
    if not 0 <= job.part < job.parts or job.parts < 2:
        raise RefusedMessage(f"byte range of {job.key!r}: part {job.part + 1} of {job.parts} does not exist")
    return job


def range_message(job: Job) -> str:
    """The SQS message body that asks for one byte range of a large file (read by jobs_from_message)."""
    fields = ("key", "etag", "size", "version", "start", "end", "part", "parts", "object_version")
    return json.dumps({"range": {name: getattr(job, name) for name in fields}})
