"""The monitor's reads and writes in the data bucket: one window's captures and labels, its batches, its report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from mlops_core.storage import layout
from mlops_core.storage.s3json import get_json, put_json

WINDOW_FORMAT = "%Y%m%dT%H%MZ"  # layout.window_name's


class WindowStore:
    """The online/ objects of the data bucket, by window."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def requests(self, window: str) -> list[dict[str, Any]]:
        """Every request captured in the window, in arrival order (the keys sort by arrival)."""
        return self._read_all(f"{layout.ONLINE_REQUESTS}{window}/")

    def labels(self, window: str) -> list[dict[str, Any]]:
        return self._read_all(f"{layout.ONLINE_LABELS}{window}/")

    def requests_since(self, window: str, *, hours: int) -> Iterator[dict[str, Any]]:
        """The captured requests of every window from `hours` before `window` to `window`, oldest first: one
        listing from the first window's prefix on (window names sort by time), not one per window."""
        start = datetime.strptime(window, WINDOW_FORMAT).replace(tzinfo=UTC) - timedelta(hours=hours)
        first, last = f"{layout.ONLINE_REQUESTS}{layout.window_name(start)}/", f"{layout.ONLINE_REQUESTS}{window}/"
        pages = self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=layout.ONLINE_REQUESTS, StartAfter=first[:-1]
        )
        for page in pages:
            for key in (o["Key"] for o in page.get("Contents", [])):
                if key > last and not key.startswith(last):
                    return
                yield self._read(key)

    def open_windows(self, since: str) -> list[str]:
        """The windows from `since` on that captured requests or labels and have no report yet, oldest first:
        three listings (window names sort by time), so a monitor that failed for hours misses none."""
        traffic: set[str] = set()
        for prefix in (layout.ONLINE_REQUESTS, layout.ONLINE_LABELS):
            pages = self._pages(prefix, since, delimiter="/")
            traffic |= {p["Prefix"][len(prefix) : -1] for page in pages for p in page.get("CommonPrefixes", [])}
        pages = self._pages(layout.ONLINE_REPORTS, since)
        closed = {
            o["Key"][len(layout.ONLINE_REPORTS) :].removesuffix(".json")
            for page in pages
            for o in page.get("Contents", [])
        }
        return sorted(traffic - closed)

    def _pages(self, prefix: str, since: str, *, delimiter: str | None = None) -> Any:
        """The listing of `prefix` from the window `since` on."""
        options = {"Delimiter": delimiter} if delimiter else {}
        paginator = self.s3.get_paginator("list_objects_v2")
        return paginator.paginate(Bucket=self.bucket, Prefix=prefix, StartAfter=f"{prefix}{since}", **options)

    def has_report(self, window: str) -> bool:
        return get_json(self.s3, self.bucket, layout.online_report_key(window)) is not None

    def write_batch(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="text/csv")

    def write_report(self, window: str, report: dict[str, Any]) -> None:
        """Write the report once: of two runs closing the same window, the second finds it written."""
        try:
            put_json(self.s3, self.bucket, layout.online_report_key(window), report, IfNoneMatch="*")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise

    def _read_all(self, prefix: str) -> list[dict[str, Any]]:
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [o["Key"] for o in page.get("Contents", [])]
        return [self._read(k) for k in sorted(keys)]

    def _read(self, key: str) -> dict[str, Any]:
        return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
