"""A lock held as one S3 object: who holds it and until when, taken with a conditional write.

The training lock (`registry.runs.RunLedger`: two alarms firing together start one run) and the MLflow sync's
(`mlops mlflow sync`: two commands finishing together log each run once) are both this.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from .errors import is_missing, is_precondition_failure
from .s3json import get_json


@dataclass(frozen=True)
class Lock:
    owner: str  # a run id, or a sync's
    expires_at: datetime
    etag: str


class ObjectLock:
    """The lock at `key` of `bucket`.

    `conditional_deletes`: whether the S3 endpoint honours DeleteObject's IfMatch (AWS does; the local
    target's does not: infra/targets.py).
    """

    def __init__(self, s3: Any, bucket: str, key: str, *, conditional_deletes: bool = True) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key
        self.conditional_deletes = conditional_deletes

    def current(self) -> Lock | None:
        found = get_json(self.s3, self.bucket, self.key)
        if found is None:
            return None
        body, etag = found
        owner = body.get("owner") or body["run_id"]  # locks taken before there was more than the training lock
        return Lock(owner, datetime.fromisoformat(body["expires_at"]), etag)

    def acquire(self, owner: str, *, ttl_seconds: int, now: datetime) -> bool:
        """Take the lock for `owner`; False if another live holder has it. An expired lock is taken over."""
        body = json.dumps(
            {
                "owner": owner,
                "acquired_at": now.isoformat(),
                "expires_at": (now + timedelta(seconds=ttl_seconds)).isoformat(),
            }
        )
        existing = self.current()
        if existing is not None and existing.expires_at > now:
            return False
        # Conditional writes make the check-and-take atomic: a concurrent taker gets 412.
        condition = {"IfMatch": existing.etag} if existing else {"IfNoneMatch": "*"}
        try:
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=body.encode(), **condition)
        except ClientError as exc:
            if is_precondition_failure(exc):
                return False
            raise
        return True

    def release(self, owner: str) -> bool:
        """Release the lock if `owner` holds it (a holder never frees another's lock)."""
        lock = self.current()
        if lock is None or lock.owner != owner:
            return False
        if not self.conditional_deletes:
            # Read, compare, delete. The race left: if this lock expires and another holder takes it between the
            # read above and this delete, that holder's lock is deleted. A holder releases before its lock
            # expires (a run's TTL is its time limit plus a margin, refused shorter by the config), so only a
            # release that comes after the expiry can lose this race.
            self.s3.delete_object(Bucket=self.bucket, Key=self.key)
            return True
        try:  # deleted only if unchanged since read: a lock taken over in between is the new holder's
            self.s3.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=lock.etag)
        except ClientError as exc:
            if is_precondition_failure(exc) or is_missing(exc):
                return False
            raise
        return True
