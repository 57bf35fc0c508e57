"""An API Gateway (REST, proxy) request read into its records, or refused with a 4xx that says why.

The order is the cheap refusals first: the route, the content type, the size of the body (before a byte
of it is parsed), then JSON itself (NaN and Infinity are not JSON, though Python's parser takes them),
then the shape `{"records": [...]}` and its count.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

ROUTES = {"/predict", "/feedback"}


@dataclass(frozen=True)
class Refusal(Exception):
    """A request answered with a client error: its status, a short code, the message and the fix."""

    status: int
    error: str
    message: str
    fix: str = ""
    errors: tuple[dict[str, Any], ...] = ()  # bad records: each one's index, field, kind, message and fix

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "message": self.message, "fix": self.fix}
        return {**body, "errors": list(self.errors)} if self.errors else body


@dataclass(frozen=True)
class Request:
    route: str  # "/predict" or "/feedback"
    request_id: str
    records: list[Any]


def route_of(event: dict[str, Any]) -> str:
    """The route, refusing any other path or method (the API has only these two POST methods)."""
    path = "/" + str(event.get("resource") or event.get("path") or "").strip("/").rsplit("/", 1)[-1]
    if path not in ROUTES:
        raise Refusal(404, "not_found", f"no route {path[:80]!r}", fix="POST to /predict or /feedback")
    if event.get("httpMethod") != "POST":
        raise Refusal(405, "method_not_allowed", f"{path} takes POST, not {event.get('httpMethod')}")
    return path


def read_request(event: dict[str, Any], *, max_body_bytes: int, max_records: int) -> Request:
    """The request's records, or a Refusal."""
    route = route_of(event)
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise Refusal(
            415, "unsupported_media_type", f"the body is {content_type or 'untyped'!r}", fix="send application/json"
        )
    body = _body_bytes(event, max_body_bytes)
    records = _records(_parse_json(body), max_records)
    request_id = str((event.get("requestContext") or {}).get("requestId") or "")
    return Request(route, request_id, records)


def _body_bytes(event: dict[str, Any], max_body_bytes: int) -> bytes:
    raw = event.get("body") or ""
    # A base64 body is 4/3 of its bytes: refuse on the encoded length before decoding anything.
    limit = max_body_bytes * 4 // 3 + 4 if event.get("isBase64Encoded") else max_body_bytes
    if len(raw) > limit or len(raw.encode()) > limit:
        raise Refusal(
            413, "body_too_large", f"the body is over {max_body_bytes} bytes", fix="send fewer records per request"
        )
    if not event.get("isBase64Encoded"):
        return raw.encode()
    try:
        body = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Refusal(400, "bad_body", "the base64 body does not decode") from exc
    if len(body) > max_body_bytes:
        raise Refusal(413, "body_too_large", f"the body is over {max_body_bytes} bytes")
    return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (use null for a blank value)")


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise Refusal(400, "bad_json", "the body is not UTF-8 text") from exc
    except ValueError as exc:
        raise Refusal(
            400, "bad_json", f"the body is not JSON: {str(exc)[:200]}", fix='send {"records": [...]}'
        ) from exc


def _records(document: Any, max_records: int) -> list[Any]:
    if not isinstance(document, dict) or set(document) != {"records"} or not isinstance(document["records"], list):
        raise Refusal(
            400, "bad_shape", "the body must be an object with one field, records: a list", fix='{"records": [{...}]}'
        )
    records = document["records"]
    if not records:
        raise Refusal(400, "no_records", "records is empty")
    if len(records) > max_records:
        raise Refusal(
            413,
            "too_many_records",
            f"{len(records)} records; at most {max_records} per request",
            fix="split the request",
        )
    return records
