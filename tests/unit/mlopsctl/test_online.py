"""`mlops predict` / `mlops feedback` and the endpoint in `mlops status`: records read from the command line,
requests signed with SigV4 on AWS only, and the last hour's traffic summed from the window reports."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import boto3
import pytest

from mlops_core.storage import layout
from mlops_core.storage.s3json import put_json
from mlopsctl import online, present
from mlopsctl.stack import OpsError, Pipeline
from tests.unit.conftest import DATA


class Recorder(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.seen.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
        status = 400 if self.path.endswith("feedback") else 200
        answer = json.dumps({"error": "bad_records"} if status == 400 else {"predictions": [{"score": 0.5}]})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(answer.encode())

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    Recorder.seen = []
    httpd = HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/restapis/abc/prod/_user_request_/"
    httpd.shutdown()


def pipeline(url: str | None, *, endpoint: str | None) -> Pipeline:
    session = boto3.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", region_name="eu-west-1")
    outputs = {"DataBucket": DATA, **({"OnlineEndpoint": url} if url else {})}
    return Pipeline(outputs, session, endpoint)


def test_given_local_aws_then_the_request_is_sent_unsigned_and_the_answer_read(server):
    status, answer = online.post(pipeline(server, endpoint="http://127.0.0.1:4566"), "predict", [{"a": 1}])
    assert (status, answer) == (200, '{"predictions": [{"score": 0.5}]}')
    (seen,) = Recorder.seen
    assert seen["path"] == "/restapis/abc/prod/_user_request_/predict" and seen["body"] == {"records": [{"a": 1}]}
    assert "Authorization" not in seen["headers"]


def test_given_aws_then_the_request_is_signed_for_execute_api_in_the_sessions_region(server):
    status, answer = online.post(pipeline(server, endpoint=None), "feedback", [{"id": "C1", "churned": 1}])
    assert (status, json.loads(answer)) == (400, {"error": "bad_records"})
    authorization = Recorder.seen[0]["headers"]["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in authorization


def test_given_no_endpoint_then_the_error_says_how_to_turn_it_on():
    with pytest.raises(OpsError) as raised:
        online.endpoint_url(pipeline(None, endpoint=None))
    assert "[online] enabled = true" in raised.value.hint


def test_given_records_as_json_a_list_or_a_jsonl_file_then_each_is_read(tmp_path):
    assert online.read_records('{"a": 1}') == [{"a": 1}]
    assert online.read_records('[{"a": 1}, {"a": 2}]') == [{"a": 1}, {"a": 2}]
    lines = tmp_path / "r.jsonl"
    lines.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert online.read_records(str(lines)) == [{"a": 1}, {"a": 2}]
    with pytest.raises(OpsError):
        online.read_records("nope.jsonl")


def _report(s3, window: datetime, **counts) -> None:
    name = layout.window_name(window)
    report = {"window": name, "requests": 0, "bad_requests": 0, "server_errors": 0, "labels": 0, "unmatched_labels": 0}
    put_json(s3, DATA, layout.online_report_key(name), {**report, **counts})


def test_given_window_reports_then_status_sums_the_last_hour(aws):
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    _report(aws, now - timedelta(hours=2), requests=1000, bad_requests=1000)  # older than the hour
    _report(aws, now - timedelta(minutes=45), requests=90, bad_requests=9, latency_p50_ms=3.0, latency_p99_ms=20.0)
    _report(aws, now - timedelta(minutes=30), requests=10, server_errors=1, latency_p50_ms=4.0, latency_p99_ms=9.0)
    _report(aws, now - timedelta(minutes=15), labels=5, unmatched_labels=2)
    stack = Pipeline({"DataBucket": DATA, "OnlineEndpoint": "https://x/prod/"}, boto3.Session(), None)
    stack.client = lambda service, **_: aws  # type: ignore[method-assign]
    traffic = online.recent_traffic(stack, now=now)
    assert traffic == {
        "windows": 3,
        "requests": 100,
        "error_rate": 0.1,
        "latency_p50_ms": 4.0,
        "latency_p99_ms": 20.0,
        "labels": 5,
        "unmatched_labels": 2,
    }
    lines = present.online_lines({"endpoint": "https://x/prod/", "last_hour": traffic})
    assert lines[0] == "online endpoint: https://x/prod/predict"
    assert "100 request(s) in 3 window(s), 10.0% answered 4xx/5xx" in lines[1] and "p99 20.0 ms" in lines[1]
