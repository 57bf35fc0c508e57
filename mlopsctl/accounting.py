"""Where did every file go? For a time window: files in = scored + rejected + superseded + in flight +
dead-lettered.

Each CSV that arrived under incoming/ in the window (in a versioned data bucket: each version, so a
file written twice counts twice) is looked up in what scoring leaves behind: its receipt (and, for a
large file split into byte ranges, one receipt per range), and the messages in the dead-letter queue.
A file with none of these is in flight while the scoring queue still holds work or the file is younger
than `grace_s`; otherwise it is unaccounted for - lost - and the check fails. In a bucket without
versioning, a content overwritten before scoring read it is no longer listed: its "superseded"
receipt, written in the window, stands for it. Operators run it as `mlops audit`; the load tests
assert on it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from mlops_core.storage import layout
from mlops_core.storage.s3json import get_json

SCORED, REJECTED, SUPERSEDED = "scored", "rejected", "superseded"
IN_FLIGHT, DEAD_LETTERED, UNACCOUNTED = "in_flight", "dead_lettered", "lost"
STATES = (SCORED, REJECTED, SUPERSEDED, IN_FLIGHT, DEAD_LETTERED, UNACCOUNTED)


@dataclass(frozen=True)
class FileAccount:
    key: str
    etag: str
    arrived: datetime
    state: str
    detail: str = ""
    version: str | None = None  # the object version, in a versioned bucket


@dataclass
class Accounting:
    since: datetime
    until: datetime
    files: list[FileAccount] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # under incoming/ but never sent to scoring (the extension)
    queue_messages: int = 0
    dlq_messages: int = 0

    def counts(self) -> dict[str, int]:
        counted = Counter(f.state for f in self.files)
        return {"in": len(self.files), **{state: counted.get(state, 0) for state in STATES}}

    @property
    def balanced(self) -> bool:
        """True when every file is scored, rejected, superseded, in flight or dead-lettered: none lost."""
        return self.counts()[UNACCOUNTED] == 0

    @property
    def settled(self) -> bool:
        """True when no file is still in flight."""
        return self.counts()[IN_FLIGHT] == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "counts": self.counts(),
            "balanced": self.balanced,
            "queue_messages": self.queue_messages,
            "dlq_messages": self.dlq_messages,
            "ignored": self.ignored,
            "ignored_why": {key: layout.why_not_scored(key) for key in self.ignored},
            "files": [
                {
                    "key": f.key,
                    "etag": f.etag,
                    "version": f.version,
                    "arrived": f.arrived.isoformat(),
                    "state": f.state,
                    "detail": f.detail,
                }
                for f in self.files
            ],
        }


def message_keys(body: str) -> set[str]:
    """The incoming/ keys an SQS message of the scoring queue is about (S3 event or byte-range message)."""
    try:
        message = json.loads(body)
    except json.JSONDecodeError:
        return set()
    if not isinstance(message, dict):
        return set()
    if "range" in message:
        return {message["range"]["key"]}
    return {unquote_plus(r["s3"]["object"]["key"]) for r in message.get("Records", []) if "s3" in r}


def peek_queue(sqs: Any, queue_url: str, *, limit: int = 10_000) -> list[str]:
    """The bodies of the queue's visible messages, left in the queue (made visible again at once)."""
    bodies: list[str] = []
    handles: list[str] = []
    seen: set[str] = set()
    while len(seen) < limit:
        messages = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
        ).get("Messages", [])
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen.add(message["MessageId"])
            bodies.append(message["Body"])
            handles.append(message["ReceiptHandle"])
    for i in range(0, len(handles), 10):
        entries = [
            {"Id": str(n), "ReceiptHandle": h, "VisibilityTimeout": 0} for n, h in enumerate(handles[i : i + 10])
        ]
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
    return bodies


def _queue_total(sqs: Any, queue_url: str) -> int:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(n, 0)) for n in names)


def _receipt(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    found = get_json(s3, bucket, key)
    return None if found is None else found[0]


def _state_from_receipts(s3: Any, bucket: str, key: str, etag: str) -> tuple[str | None, str]:
    """(state, detail) from the file's receipts; state None when scoring has left no trace yet."""
    receipt = _receipt(s3, bucket, layout.receipt_key(key, etag))
    if receipt is None:
        return None, ""
    if receipt["outcome"] == "fanned_out" and receipt["state"] == "complete":
        return _state_from_ranges(s3, bucket, key, etag, receipt["parts"])
    return _state_of(receipt)


def _state_of(receipt: dict[str, Any]) -> tuple[str, str]:
    """(state, detail) of one file's (or byte range's) receipt."""
    if receipt["state"] != "complete":
        return IN_FLIGHT, "claimed by an invocation; metrics not yet published"
    if receipt["outcome"] == "scored":
        return SCORED, f"{receipt.get('scored', 0):,} rows"
    if receipt["outcome"] == "superseded":
        return SUPERSEDED, f"overwritten before it was read; the key's ETag is now {receipt.get('current_etag')}"
    return REJECTED, receipt.get("kind", "")


def _state_from_ranges(s3: Any, bucket: str, key: str, etag: str, count: int) -> tuple[str | None, str]:
    """(state, detail) of a file split into `count` byte ranges, from their receipts: scored if any range was."""
    parts = [_receipt(s3, bucket, layout.receipt_key(key, etag, layout.part_suffix(p, count))) for p in range(count)]
    done = [p for p in parts if p is not None and p["state"] == "complete"]
    if len(done) < len(parts):
        return None, f"{len(done)} of {len(parts)} byte ranges done"
    outcomes = Counter(p["outcome"] for p in done)
    if outcomes[SCORED] == 0 and outcomes[SUPERSEDED]:
        return SUPERSEDED, f"{outcomes[SUPERSEDED]} of {count} byte ranges overwritten before they were read"
    if outcomes[SCORED] == 0:
        return REJECTED, f"all {count} byte ranges rejected"
    rows = sum(p.get("scored", 0) for p in done)
    others = "".join(f", {outcomes[o]} range(s) {o}" for o in (REJECTED, SUPERSEDED) if outcomes[o])
    return SCORED, f"{rows:,} rows in {count} byte ranges{others}"


def _versioned(s3: Any, bucket: str) -> bool:
    return s3.get_bucket_versioning(Bucket=bucket).get("Status") in ("Enabled", "Suspended")


def _listed(s3: Any, bucket: str, *, versioned: bool) -> list[dict[str, Any]]:
    """Every object under incoming/ (every version of each, in a versioned bucket); delete markers left out."""
    operation, field_name = ("list_object_versions", "Versions") if versioned else ("list_objects_v2", "Contents")
    return [
        obj
        for page in s3.get_paginator(operation).paginate(Bucket=bucket, Prefix=layout.INCOMING)
        for obj in page.get(field_name, [])
    ]


def _superseded_unlisted(
    s3: Any, bucket: str, *, since: datetime, until: datetime, listed: set[str]
) -> list[FileAccount]:
    """Contents overwritten before scoring read them, in a bucket without versioning: each found by its
    superseded receipt written in the window (`listed`: the receipt keys of the objects still there)."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=layout.RECEIPTS):
        for obj in page.get("Contents", []):
            if obj["Key"] in listed or layout.suffix_of_output(obj["Key"]) or not since <= obj["LastModified"] <= until:
                continue
            receipt = _receipt(s3, bucket, obj["Key"])
            if receipt is not None and receipt.get("outcome") == SUPERSEDED:
                state, detail = _state_of(receipt)
                found.append(FileAccount(receipt["key"], receipt["etag"], obj["LastModified"], state, detail))
    return found


def account(
    s3: Any,
    sqs: Any,
    *,
    data_bucket: str,
    queue_url: str,
    dlq_url: str,
    since: datetime,
    until: datetime | None = None,
    grace_s: float = 120.0,
    now: datetime | None = None,
) -> Accounting:
    """Account for every CSV that arrived under incoming/ between `since` and `until` (default: now)."""
    now = now or datetime.now(UTC)
    until = until or now
    result = Accounting(since=since, until=until)
    versioned = _versioned(s3, data_bucket)
    listed = _listed(s3, data_bucket, versioned=versioned)
    arrivals = [o for o in listed if since <= o["LastModified"] <= until]
    result.ignored = list(dict.fromkeys(o["Key"] for o in arrivals if layout.why_not_scored(o["Key"])))
    arrivals = [o for o in arrivals if not layout.why_not_scored(o["Key"])]

    result.queue_messages = _queue_total(sqs, queue_url)
    dead_lettered: Counter = Counter()
    dlq_bodies = peek_queue(sqs, dlq_url)
    result.dlq_messages = len(dlq_bodies)
    for body in dlq_bodies:
        dead_lettered.update(message_keys(body))

    for obj in sorted(arrivals, key=lambda o: (o["LastModified"], o["Key"])):
        key, etag, arrived = obj["Key"], obj["ETag"].strip('"'), obj["LastModified"]
        state, detail = _state_from_receipts(s3, data_bucket, key, etag)
        if state in (None, IN_FLIGHT):
            if dead_lettered[key]:
                state, detail = DEAD_LETTERED, f"{dead_lettered[key]} message(s) in the dead-letter queue"
            elif state == IN_FLIGHT or result.queue_messages or (now - arrived).total_seconds() < grace_s:
                state, detail = IN_FLIGHT, detail or "waiting in the scoring queue"
            else:
                state = UNACCOUNTED
                detail = detail or "no receipt, no message in either queue: its event was never delivered or lost"
        result.files.append(FileAccount(key, etag, arrived, state, detail, obj.get("VersionId")))
    if not versioned:
        still_there = {layout.receipt_key(o["Key"], o["ETag"].strip('"')) for o in listed}
        result.files += _superseded_unlisted(s3, data_bucket, since=since, until=until, listed=still_there)
    return result
