"""What the endpoint keeps of each request, for the monitor that turns a window of them into a batch.

Every request leaves one small JSON object under online/requests/<window>/ (or online/labels/<window>/ for
/feedback): its status, latency and record count always, so the window's request and error counts are
whole; its records and answers when it is in `online.capture_share`. The window is the one the request
was received in (`window_start`); the monitor waits out the function's timeout past a window's end before
it reads it, so a request still running at the boundary is not missed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from mlops_core.storage import layout


def window_start(at: datetime, window_seconds: int) -> datetime:
    """The start of the monitoring window `at` falls in (windows start at midnight UTC, every `window_seconds`)."""
    midnight = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = int((at - midnight).total_seconds())
    return midnight + timedelta(seconds=elapsed - elapsed % window_seconds)


class Capture(Protocol):
    def keep(self, *, route: str, received: datetime, request_id: str, record: dict[str, Any]) -> str:
        """Store one request's record; the key it was stored under."""
        ...


class S3Capture:
    """Writes each request's record to the data bucket (its default encryption and the online/ lifecycle)."""

    def __init__(self, s3: Any, bucket: str, *, window_seconds: int) -> None:
        self.s3, self.bucket, self.window_seconds = s3, bucket, window_seconds

    def keep(self, *, route: str, received: datetime, request_id: str, record: dict[str, Any]) -> str:
        window = layout.window_name(window_start(received, self.window_seconds))
        name = f"{received:%H%M%S%f}-{request_id}"  # sorted by arrival within the window
        key = (
            layout.online_labels_key(window, name) if route == "/feedback" else layout.online_request_key(window, name)
        )
        body = json.dumps({"received": received.isoformat(), "request_id": request_id, **record}).encode()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json")
        return key
