"""Training runs: a lock so only one runs at a time, a cooldown, and one record per run.

All of it lives in the models bucket under registry/: `training.lock` (taken with a conditional
write, so two alarms firing together start one run) and `runs/<run id>.json`.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..storage import is_precondition_failure, layout
from ..storage.lock import Lock, ObjectLock
from ..storage.s3json import get_json, put_json


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_run_id(now: datetime) -> str:
    """A sortable id that is also a valid SageMaker training-job name."""
    return f"run-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


class RunLedger:
    """The lock and run records of one models bucket.

    `conditional_deletes`: whether the S3 endpoint honours DeleteObject's IfMatch (see `ObjectLock`).
    """

    def __init__(self, s3: Any, bucket: str, *, conditional_deletes: bool = True) -> None:
        self.s3 = s3
        self.bucket = bucket
        self._lock = ObjectLock(s3, bucket, layout.LOCK_KEY, conditional_deletes=conditional_deletes)

    # ------------------------------------------------------------------ lock
    def current_lock(self) -> Lock | None:
        return self._lock.current()

    def acquire(self, run_id: str, *, ttl_seconds: int, now: datetime) -> bool:
        """Take the lock for `run_id`; False if another live run holds it. An expired lock is taken over."""
        return self._lock.acquire(run_id, ttl_seconds=ttl_seconds, now=now)

    def release(self, run_id: str) -> bool:
        """Release the lock if `run_id` holds it (a run never frees another run's lock)."""
        return self._lock.release(run_id)

    # ------------------------------------------------------------------ records
    def record(self, run_id: str, **fields: Any) -> dict[str, Any]:
        """Create or update the record of a run (merging `fields` into it)."""
        record = self.get(run_id) or {"run_id": run_id}
        record.update(fields)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=layout.run_key(run_id),
            Body=json.dumps(record, indent=2, default=str).encode(),
            ContentType="application/json",
        )
        return record

    def end_if_started(self, run_id: str, **fields: Any) -> dict[str, Any] | None:
        """Merge `fields` into the run's record if it still says started; None if it ended (or is unknown).

        The write is conditional on the record's ETag, so when two callers end the same run (an event
        delivered twice) exactly one of them gets the record back.
        """
        found = get_json(self.s3, self.bucket, layout.run_key(run_id))
        if found is None or found[0].get("status") != "started":
            return None
        record, etag = found
        record.update(fields)
        try:
            put_json(self.s3, self.bucket, layout.run_key(run_id), record, IfMatch=etag)
        except ClientError as exc:
            if is_precondition_failure(exc):
                return None
            raise
        return record

    def get(self, run_id: str) -> dict[str, Any] | None:
        found = get_json(self.s3, self.bucket, layout.run_key(run_id))
        return None if found is None else found[0]

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        """The newest run records first (run ids sort by start time)."""
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=layout.RUNS):
            keys += [o["Key"] for o in page.get("Contents", [])]
        newest = sorted(keys, reverse=True)[:limit]
        return [json.loads(self.s3.get_object(Bucket=self.bucket, Key=k)["Body"].read()) for k in newest]

    def in_cooldown(self, *, cooldown_seconds: int, now: datetime) -> dict[str, Any] | None:
        """The latest alarm-triggered run if it started less than `cooldown_seconds` ago, else None.

        Only alarm-triggered runs count: the cooldown stops alarm storms from retraining again and
        again; a run started by hand, or one that failed, does not hold back the next alarm.
        """
        for run in self.recent(limit=20):
            if run.get("trigger", {}).get("source") == "alarm" and run.get("status") in ("started", "succeeded"):
                started = datetime.fromisoformat(run["started_at"])
                return run if now - started < timedelta(seconds=cooldown_seconds) else None
        return None
