"""The monitor against moto: a closed window's captured records become a batch that scoring scores like a
file, labels are joined by id (an unmatched one is reported, not dropped), and a window is closed once."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from online import handler
from online.capture import S3Capture, window_start
from online.handler import Endpoint
from online.serving import ServingModels
from online_monitor.logic import close_window, due_windows, window_metrics
from online_monitor.store import WindowStore

from mlops_core.registry.store import Registry
from mlops_core.storage import layout
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS
from tests.unit.lambdas.online.test_endpoint import GOOD, records_of, score_as_file

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(config):
    return dataclasses.replace(config.online, enabled=True, id_column="customer_id", monitor_every_minutes=15)


@pytest.fixture
def endpoint(aws, config, settings) -> Endpoint:
    models = ServingModels(Registry(aws, MODELS), refresh_seconds=10, alert=lambda *_: None)
    capture = S3Capture(aws, DATA, window_seconds=settings.window_seconds)
    return Endpoint(dataclasses.replace(config, online=settings), models, capture)


def post(endpoint: Endpoint, records: list[dict], *, at: datetime, request_id: str, path: str = "/predict") -> dict:
    event = {
        "resource": path,
        "httpMethod": "POST",
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"records": records}),
    }
    route, answer = handler.respond(event, endpoint)
    handler.keep(endpoint, route, received=at, request_id=request_id, result=answer, latency_ms=5.0)
    return json.loads(answer.body)


def read(s3, key: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(s3.get_object(Bucket=DATA, Key=key)["Body"].read().decode())))


def test_given_times_then_a_window_is_due_only_once_the_endpoints_timeout_has_passed_after_its_end(
    aws, champion, endpoint, settings
):
    assert window_start(T0 + timedelta(minutes=7, seconds=3), 900) == T0
    post(endpoint, [GOOD], at=T0 + timedelta(minutes=7), request_id="a")
    post(endpoint, [GOOD], at=T0 + timedelta(minutes=16), request_id="b")
    store = WindowStore(aws, DATA)
    assert due_windows(T0 + timedelta(minutes=15, seconds=14), settings, store) == []
    assert due_windows(T0 + timedelta(minutes=15, seconds=15), settings, store) == ["20261206T1200Z"]
    assert due_windows(T0 + timedelta(minutes=30, seconds=15), settings, store) == ["20261206T1200Z", "20261206T1215Z"]


def test_given_a_monitor_that_failed_for_days_then_every_window_with_traffic_is_still_closed_and_a_closed_one_is_not(
    aws, champion, config, endpoint, settings
):
    post(endpoint, [GOOD], at=T0 - timedelta(days=3), request_id="old")
    labels = [{"customer_id": "C1", "churned": 1}]
    post(endpoint, labels, at=T0 - timedelta(hours=10), request_id="labels-only", path="/feedback")
    post(endpoint, [GOOD], at=T0 - timedelta(days=settings.retention_days, minutes=30), request_id="expired")
    post(endpoint, [GOOD], at=T0 - timedelta(hours=1), request_id="closed")
    store = WindowStore(aws, DATA)
    assert close_window("20261206T1100Z", store=store, settings=settings, label=config.label) is not None
    assert due_windows(T0, settings, store) == ["20261203T1200Z", "20261206T0200Z"]


def test_given_a_window_of_requests_when_closed_then_one_batch_that_scoring_scores_as_the_endpoint_answered(
    aws, champion, config, endpoint, settings
):
    body = generate(30, seed=11)
    records = records_of(body)
    answers = [
        post(endpoint, records[i : i + 10], at=T0 + timedelta(minutes=i // 2), request_id=f"r{i}") for i in (0, 10, 20)
    ]
    post(endpoint, [{"nope": 1}], at=T0 + timedelta(minutes=3), request_id="bad")
    post(endpoint, records[:5], at=T0 + timedelta(minutes=15), request_id="next-window")
    store = WindowStore(aws, DATA)
    report = close_window("20261206T1200Z", store=store, settings=settings, label=config.label)
    assert report is not None
    assert (report["requests"], report["bad_requests"], report["rows"]) == (4, 1, 30)
    assert report["batches"] == [layout.online_batch_key("20261206T1200Z", labeled=False)]
    scored = score_as_file(aws, config, aws.get_object(Bucket=DATA, Key=report["batches"][0])["Body"].read(), "w")
    served = [p for a in answers for p in a["predictions"]]
    assert [r["score"] for r in scored] == [f"{p['score']:.6f}" for p in served]
    assert [r["customer_id"] for r in scored] == [r["customer_id"] for r in records]
    assert close_window("20261206T1200Z", store=store, settings=settings, label=config.label) is None


def test_given_labels_when_their_window_closes_then_joined_by_id_to_earlier_records_and_the_unmatched_listed(
    aws, champion, config, endpoint, settings
):
    records = records_of(generate(6, seed=12))
    post(endpoint, records, at=T0 - timedelta(hours=3), request_id="earlier")
    labels = [{"customer_id": r["customer_id"], "churned": 1} for r in records[:4]] + [
        {"customer_id": "C-never-seen", "churned": 0}
    ]
    assert post(endpoint, labels, at=T0 + timedelta(minutes=2), request_id="labels", path="/feedback") == {
        "accepted": 5
    }
    store = WindowStore(aws, DATA)
    report = close_window("20261206T1200Z", store=store, settings=settings, label=config.label)
    assert report["labels"] == 5 and report["labeled_rows"] == 4 and report["unmatched_labels"] == 1
    assert report["unmatched"][0]["id"] == "C-never-seen" and "24 h" in report["unmatched"][0]["reason"]
    (key,) = report["batches"]
    assert key == layout.online_batch_key("20261206T1200Z", labeled=True)
    rows = read(aws, key)
    assert [r["customer_id"] for r in rows] == [r["customer_id"] for r in records[:4]]
    assert {r["churned"] for r in rows} == {"1"} and rows[0]["contract"] == records[0]["contract"]
    data = window_metrics(report, pipeline="mlops", at=T0)
    assert {d["MetricName"]: d["Value"] for d in data}["OnlineUnmatchedLabels"] == 1


def test_given_labels_older_than_the_lookback_then_unmatched(aws, champion, config, endpoint, settings):
    records = records_of(generate(2, seed=13))
    post(endpoint, records, at=T0 - timedelta(hours=25), request_id="too-old")
    post(endpoint, [{"customer_id": records[0]["customer_id"], "churned": 1}], at=T0, request_id="l", path="/feedback")
    store = WindowStore(aws, DATA)
    report = close_window("20261206T1200Z", store=store, settings=settings, label=config.label)
    assert (report["labeled_rows"], report["unmatched_labels"], report["batches"]) == (0, 1, [])


def test_given_an_empty_window_then_a_report_with_no_batch(aws, config, settings):
    store = WindowStore(aws, DATA)
    report = close_window("20261206T1200Z", store=store, settings=settings, label=config.label)
    assert (report["requests"], report["batches"], report["latency_p99_ms"]) == (0, [], None)
    assert {d["MetricName"] for d in window_metrics(report, pipeline="mlops", at=T0)} == {
        "OnlineRequests",
        "OnlineBadRequests",
        "OnlineUnmatchedLabels",
    }
