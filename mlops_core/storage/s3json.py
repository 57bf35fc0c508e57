"""Small JSON documents in S3 (receipts, reports, registry records), with conditional writes."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from .errors import is_missing


def put_json(s3: Any, bucket: str, key: str, body: dict[str, Any], **condition: str) -> str:
    """Write a JSON object, optionally conditional (IfNoneMatch="*" / IfMatch=etag); its new ETag."""
    response = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(body, indent=2, default=str).encode(),
        ContentType="application/json",
        **condition,
    )
    return response["ETag"]


def get_json(s3: Any, bucket: str, key: str) -> tuple[dict[str, Any], str] | None:
    """A JSON object and its ETag, or None when the key does not exist."""
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise
    return json.loads(obj["Body"].read()), obj["ETag"]
