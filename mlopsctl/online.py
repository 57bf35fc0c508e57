"""The online endpoint from the operator's side: its URL, a signed request to it, and its recent traffic.

On AWS the API takes only SigV4-signed requests (IAM authorization), signed here with botocore's signer and
the caller's credentials; local AWS does not check the signature, and requests go unsigned.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from mlops_core.storage import layout

from .stack import OpsError, Pipeline

TIMEOUT_S = 30


def endpoint_url(pipeline: Pipeline) -> str:
    """The endpoint's base URL (ending in /), or an OpsError saying how to turn it on."""
    url = pipeline.outputs.get("OnlineEndpoint")
    if not url:
        raise OpsError("this project has no online endpoint", "set [online] enabled = true in mlops.toml and deploy")
    return url if url.endswith("/") else f"{url}/"


def read_records(argument: str) -> list[Any]:
    """Records from the command line: a JSON object or list, or a file of JSON lines (.jsonl) or JSON."""
    path = Path(argument)
    if not argument.lstrip().startswith(("{", "[")) and path.is_file():
        text = path.read_text()
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        argument = text
    try:
        parsed = json.loads(argument)
    except ValueError as exc:
        raise OpsError(f"not JSON and not a file: {argument[:80]!r}", "pass a JSON record, or a .jsonl file") from exc
    return parsed if isinstance(parsed, list) else [parsed]


def post(pipeline: Pipeline, route: str, records: list[Any]) -> tuple[int, str]:
    """POST {"records": ...} to the endpoint's `route` (predict or feedback); (status, the JSON answer as sent:
    its numbers keep the digits of the predictions file, which parsing into floats would not)."""
    url = endpoint_url(pipeline) + route
    body = json.dumps({"records": records}).encode()
    headers = {"Content-Type": "application/json"}
    if pipeline.endpoint is None:  # AWS: sign as IAM authorization requires
        signed = AWSRequest(method="POST", url=url, data=body, headers=headers)
        SigV4Auth(pipeline.session.get_credentials(), "execute-api", pipeline.session.region_name).add_auth(signed)
        headers = dict(signed.headers.items())
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (our endpoint)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def recent_traffic(pipeline: Pipeline, *, hours: float = 1, now: datetime | None = None) -> dict[str, Any]:
    """The closed windows of the last `hours`, summed from their reports: requests, the share answered 4xx or
    5xx, the worst window's p50 and p99 latency (ms), labels and unmatched labels."""
    now = now or datetime.now(UTC)
    start_after = layout.online_report_key(layout.window_name(now - timedelta(hours=hours)))
    s3 = pipeline.s3
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=pipeline.data_bucket, Prefix=layout.ONLINE_REPORTS, StartAfter=start_after
    )
    reports = [
        json.loads(s3.get_object(Bucket=pipeline.data_bucket, Key=o["Key"])["Body"].read())
        for page in pages
        for o in page.get("Contents", [])
    ]
    requests = sum(r["requests"] for r in reports)
    errors = sum(r["bad_requests"] + r.get("server_errors", 0) for r in reports)
    worst = [r for r in reports if r.get("latency_p99_ms") is not None]
    return {
        "windows": len(reports),
        "requests": requests,
        "error_rate": errors / requests if requests else None,
        "latency_p50_ms": max((r["latency_p50_ms"] for r in worst), default=None),
        "latency_p99_ms": max((r["latency_p99_ms"] for r in worst), default=None),
        "labels": sum(r["labels"] for r in reports),
        "unmatched_labels": sum(r["unmatched_labels"] for r in reports),
    }
