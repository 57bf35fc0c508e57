"""The files sent for scoring on a deployed stack: upload them, wait for their receipts, account for every
one that arrived (`audit`), and move the dead-lettered ones back to the scoring queue (`redrive`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from mlops_core.storage import layout

from .accounting import Accounting, account
from .stack import Pipeline, wait_for


def upload_for_scoring(pipeline: Pipeline, body: bytes, name: str) -> dict[str, str]:
    """Put a CSV under incoming/; return its key and ETag (which name its receipt)."""
    key = layout.incoming_key(name)
    etag = pipeline.s3.put_object(Bucket=pipeline.data_bucket, Key=key, Body=body)["ETag"].strip('"')
    return {"key": key, "etag": etag}


def drop_files(pipeline: Pipeline, files: dict[str, bytes], *, threads: int = 8) -> dict[str, str]:
    """Put many objects at once (keys under incoming/); their ETags by key."""
    s3 = pipeline.s3

    def put(item: tuple[str, bytes]) -> tuple[str, str]:
        return item[0], s3.put_object(Bucket=pipeline.data_bucket, Key=item[0], Body=item[1])["ETag"].strip('"')

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return dict(pool.map(put, files.items()))


def wait_for_outcome(
    pipeline: Pipeline,
    key: str,
    etag: str,
    *,
    timeout_s: float = 300,
    interval_s: float = 1.0,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Wait until scoring has finished the object; return its receipt (scored, rejected or fanned out)."""
    s3, receipt = pipeline.s3, layout.receipt_key(key, etag)

    def finished() -> dict[str, Any] | None:
        try:
            body = json.loads(s3.get_object(Bucket=pipeline.data_bucket, Key=receipt)["Body"].read())
        except ClientError:
            return None
        return body if body.get("state") == "complete" else None

    return wait_for(f"scoring of {key}", finished, timeout_s=timeout_s, interval_s=interval_s, progress=progress)


def audit(pipeline: Pipeline, since: datetime) -> Accounting:
    """Where every file that arrived since `since` went (see mlopsctl.accounting)."""
    return account(
        pipeline.s3,
        pipeline.client("sqs"),
        data_bucket=pipeline.data_bucket,
        queue_url=pipeline.outputs["ScoringQueueUrl"],
        dlq_url=pipeline.outputs["DeadLetterQueueUrl"],
        since=since,
    )


def wait_until_settled(
    pipeline: Pipeline, since: datetime, *, timeout_s: float = 900, progress: Callable[[float], None] | None = None
) -> Accounting:
    """Wait until no file that arrived since `since` is in flight; return the accounting."""

    def settled() -> Accounting | None:
        result = audit(pipeline, since)
        return result if result.settled else None

    return wait_for(
        "every file to be scored or rejected", settled, timeout_s=timeout_s, interval_s=3, progress=progress
    )


def redrive(pipeline: Pipeline, *, max_messages: int = 10_000) -> int:
    """Move every message from the dead-letter queue back to the scoring queue; return how many."""
    sqs = pipeline.client("sqs")
    source, target = pipeline.outputs["DeadLetterQueueUrl"], pipeline.outputs["ScoringQueueUrl"]
    moved = 0
    while moved < max_messages:
        messages = sqs.receive_message(
            QueueUrl=source, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            # Send first, delete after: a crash in between duplicates a message (scoring is
            # idempotent) but never loses one.
            sqs.send_message(QueueUrl=target, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved
