"""The receipt of a job: what makes scoring exactly-once under duplicate deliveries and retries.

Every input object (or byte range) gets one receipt under reports/receipts/. It moves through
three states, and every move is a conditional write, so of two invocations only one wins:

    (none) --claim--> PENDING --start_publishing--> PUBLISHING --complete--> COMPLETE
                         ^                              |
                         +-------- reopen --------------+   (PutMetricData failed: publish again)

A fanned-out file's receipt is written COMPLETE at once (`record_fan_out`): its byte ranges have
receipts of their own. A PENDING receipt older than CLAIM_TAKEOVER_S was left by an invocation that
died before publishing; `takeover_due` says when a retry may publish it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from mlops_core.storage.errors import is_precondition_failure
from mlops_core.storage.s3json import get_json, put_json

CLAIM_TAKEOVER_S = 900  # a pending receipt older than this was left by a crashed invocation


class State(StrEnum):
    PENDING = "pending"  # the outcome is recorded; its metrics are not sent yet
    PUBLISHING = "publishing"  # metrics are being sent (or were, and only the completion was lost)
    COMPLETE = "complete"


@dataclass(frozen=True)
class Receipt:
    """A receipt as stored (`body`, with its `state`) and the ETag that conditional writes compare."""

    key: str
    body: dict[str, Any]
    etag: str

    @property
    def state(self) -> State:
        return State(self.body["state"])

    def takeover_due(self, now: datetime) -> bool:
        """A PENDING receipt old enough that its invocation must have died."""
        age = (now - datetime.fromisoformat(self.body["claimed_at"])).total_seconds()
        return self.state is State.PENDING and age >= CLAIM_TAKEOVER_S


class Receipts:
    """The receipts of one data bucket, and every transition between their states."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def read(self, key: str) -> Receipt | None:
        found = get_json(self.s3, self.bucket, key)
        return None if found is None else Receipt(key, *found)

    def claim(self, key: str, body: dict[str, Any]) -> Receipt | None:
        """(none) -> PENDING with the job's outcome; None if another invocation claimed it first."""
        return self._create(key, {**body, "state": State.PENDING.value})

    def record_fan_out(self, key: str, body: dict[str, Any]) -> Receipt | None:
        """(none) -> COMPLETE for a file split into byte ranges; None if another invocation got there first."""
        return self._create(key, {**body, "state": State.COMPLETE.value})

    def start_publishing(self, receipt: Receipt) -> Receipt | None:
        """PENDING -> PUBLISHING; None if another invocation moved the receipt first."""
        return self._move(receipt, State.PUBLISHING)

    def reopen(self, receipt: Receipt) -> None:
        """PUBLISHING -> PENDING after PutMetricData failed, so that a retry publishes.

        If this write fails too, the metrics are lost rather than ever sent twice.
        """
        with contextlib.suppress(ClientError):
            self._move(receipt, State.PENDING)

    def complete(self, receipt: Receipt, **fields: Any) -> None:
        """PUBLISHING -> COMPLETE, adding `fields` (what became of the alert). Losing the race means another
        invocation completed it: nothing to do."""
        self._move(receipt, State.COMPLETE, **fields)

    def _create(self, key: str, body: dict[str, Any]) -> Receipt | None:
        return self._write(key, body, IfNoneMatch="*")

    def _move(self, receipt: Receipt, state: State, **fields: Any) -> Receipt | None:
        return self._write(receipt.key, {**receipt.body, **fields, "state": state.value}, IfMatch=receipt.etag)

    def _write(self, key: str, body: dict[str, Any], **condition: str) -> Receipt | None:
        try:
            etag = put_json(self.s3, self.bucket, key, body, **condition)
        except ClientError as exc:
            if is_precondition_failure(exc):
                return None
            raise
        return Receipt(key, body, etag)
