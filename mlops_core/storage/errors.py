"""Classifying S3 client errors the same way everywhere."""

from __future__ import annotations

from botocore.exceptions import ClientError


def is_precondition_failure(exc: ClientError) -> bool:
    """A conditional write (IfMatch / IfNoneMatch) lost: someone else wrote first."""
    code = exc.response.get("Error", {}).get("Code")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (409, 412)


def is_missing(exc: ClientError) -> bool:
    """The key, the object version (or the bucket) does not exist."""
    return exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "NoSuchVersion", "404", "NotFound")
