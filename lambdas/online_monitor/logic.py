"""A closed window of the endpoint's traffic becomes batches that batch scoring judges like any file.

For each window that captured traffic and ended (and then waited out the endpoint's timeout, so no capture of
it is still being written), in order:

1. its captured records -> `incoming/online/<window>.csv`: the scoring pipeline then gives the window the same
   drift verdict, data-quality signals, metrics, alarms and alert as a file (and FilesScored, which the
   heartbeat alarm counts);
2. the labels posted to /feedback in the window, joined by id to the latest record captured with that id in
   the `feedback_lookback_hours` before -> `incoming/online/<window>-labeled.csv`: scored as a labeled batch,
   its rows reach feedback/ and retraining; a label without a captured record is listed in the report
   (never dropped silently) and counted in `OnlineUnmatchedLabels`;
3. the window's report under reports/online/, written last: a window with a report is done, and one without
   (a run that died before it, a monitor that failed for hours) is closed by the next run, rewriting the same
   bytes (same ETag: scoring's receipts score them once). A window with no traffic has nothing to close.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from online.capture import window_start

from mlops_core import observability as obs
from mlops_core.config import OnlineSettings
from mlops_core.storage import layout

from .store import WindowStore

# The endpoint function's timeout (10 s, infra/online.py) and a margin: a request received inside a window
# has written its capture by this long after the window's end.
GRACE = timedelta(seconds=15)
# Windows one run closes at most, oldest first; the rest wait for the next run (the function's time limit).
MAX_WINDOWS_PER_RUN = 50
MAX_LISTED_UNMATCHED = 1000
# RFC 4180 line ends, as scoring writes its CSVs (lambdas/scoring/score.py says why); not imported from there,
# so this function loads no modelling library.
CSV_LINE_END = "\r\n"


@dataclass
class Batch:
    """Rows of one header, to be written as one CSV."""

    header: list[str]
    rows: list[list[str]] = field(default_factory=list)

    def csv_bytes(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator=CSV_LINE_END)
        writer.writerow(self.header)
        writer.writerows(self.rows)
        return out.getvalue().encode()


def due_windows(now: datetime, settings: OnlineSettings, store: WindowStore) -> list[str]:
    """The windows to close now, oldest first: each that captured requests or labels and has no report yet,
    within what online/ keeps (`retention_days`), and whose end is at least GRACE ago."""
    last = layout.window_name(
        window_start(now - GRACE, settings.window_seconds) - timedelta(seconds=settings.window_seconds)
    )
    since = layout.window_name(now - timedelta(days=settings.retention_days))
    return [w for w in store.open_windows(since) if w <= last][:MAX_WINDOWS_PER_RUN]


def close_window(window: str, *, store: WindowStore, settings: OnlineSettings, label: str) -> dict[str, Any] | None:
    """Write the window's batches and report; None when its report exists already (closed before)."""
    if store.has_report(window):
        return None
    captures = store.requests(window)
    traffic = batches_of(c for c in captures if c.get("rows"))
    labels = [row for posted in store.labels(window) for row in posted.get("rows", [])]
    labeled, unmatched = join_labels(labels, store, window, settings, label=label) if labels else ([], [])
    written = _write(store, window, traffic, labeled=False) + _write(store, window, labeled, labeled=True)
    report = {
        "window": window,
        **request_counts(captures),
        "rows": sum(len(b.rows) for b in traffic),
        "labels": len(labels),
        "labeled_rows": sum(len(b.rows) for b in labeled),
        "unmatched_labels": len(unmatched),
        "unmatched": unmatched[:MAX_LISTED_UNMATCHED],
        "batches": written,
    }
    store.write_report(window, report)
    return report


def _write(store: WindowStore, window: str, batches: list[Batch], *, labeled: bool) -> list[str]:
    keys = []
    for n, batch in enumerate(batches):
        key = layout.online_batch_key(window, labeled=labeled)
        key = key if n == 0 else key.replace(".csv", f"-{n + 1}.csv")  # a champion with other features mid-window
        store.write_batch(key, batch.csv_bytes())
        keys.append(key)
    return keys


def batches_of(captures: Iterable[dict[str, Any]]) -> list[Batch]:
    """The captured rows grouped by header, in capture order (one batch unless the features changed)."""
    batches: dict[tuple[str, ...], Batch] = {}
    for capture in captures:
        header = tuple(capture["header"])
        batches.setdefault(header, Batch(list(header))).rows.extend(capture["rows"])
    return list(batches.values())


def join_labels(
    labels: list[list[str]], store: WindowStore, window: str, settings: OnlineSettings, *, label: str
) -> tuple[list[Batch], list[dict[str, str]]]:
    """(labeled batches, unmatched labels): each [id, label] with the latest record captured with that id in
    the lookback, the label appended as the header's last column."""
    latest: dict[str, tuple[tuple[str, ...], list[str]]] = {}
    for capture in store.requests_since(window, hours=settings.feedback_lookback_hours):
        for row in capture.get("rows") or ():
            latest[row[0]] = (tuple(capture["header"]), row)  # the id is the header's first column
    batches: dict[tuple[str, ...], Batch] = {}
    unmatched = []
    for record_id, value in labels:
        if record_id not in latest:
            reason = f"no record with this id was captured in the {settings.feedback_lookback_hours} h before"
            unmatched.append({"id": record_id, "label": value, "reason": reason})
            continue
        header, row = latest[record_id]
        batches.setdefault(header, Batch([*header, label])).rows.append([*row, value])
    return list(batches.values()), unmatched


def request_counts(captures: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests, client errors, server errors and the handler's latency percentiles (ms) of a window."""
    statuses = [int(c.get("status", 0)) for c in captures]
    latencies = [float(c.get("latency_ms", 0.0)) for c in captures]
    return {
        "requests": len(captures),
        "bad_requests": sum(400 <= s < 500 for s in statuses),
        "server_errors": sum(s >= 500 for s in statuses),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p99_ms": percentile(latencies, 99),
    }


def percentile(values: list[float], q: int) -> float | None:
    """The q-th percentile, interpolated linearly between the closest ranks (numpy's default); None for none."""
    if len(values) < 2:
        return values[0] if values else None
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if q < 100 else max(values)


def window_metrics(report: dict[str, Any], *, pipeline: str, at: datetime) -> list[dict[str, Any]]:
    """The window's metrics (mlops_core/observability.py), stamped at the window's close."""
    values = [
        (obs.ONLINE_REQUESTS, report["requests"]),
        (obs.ONLINE_BAD_REQUESTS, report["bad_requests"]),
        (obs.ONLINE_UNMATCHED_LABELS, report["unmatched_labels"]),
        (obs.ONLINE_LATENCY_P50, report["latency_p50_ms"]),
        (obs.ONLINE_LATENCY_P99, report["latency_p99_ms"]),
    ]
    data = [obs.datum(metric, value, pipeline=pipeline) for metric, value in values if value is not None]
    return [{**d, "Timestamp": at} for d in data]
