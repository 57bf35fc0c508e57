"""The online endpoint against moto: answers equal batch scoring's byte for byte, every bad input a clear 4xx,
the champion refreshed within refresh_seconds, the challenger split agreeing with batch, and the capture."""

from __future__ import annotations

import base64
import csv
import dataclasses
import io
import json

import boto3
import pytest
from online import handler, logic
from online.handler import Endpoint
from online.serving import ServingModels
from scoring.logic import Clients, ScoringContext, score_job

from mlops_core.environment import ScoringEnvironment
from mlops_core.registry.store import Registry
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS, REGION, LambdaContext
from tests.unit.lambdas.scoring.test_challenge import _challenge, trained_on_shift  # noqa: F401 (a fixture)
from tests.unit.lambdas.scoring.test_scoring import CountingCloudWatch, put, read_csv


class RecordingCapture:
    def __init__(self, fail: bool = False) -> None:
        self.kept: list[dict] = []
        self.fail = fail

    def keep(self, *, route, received, request_id, record) -> str:
        if self.fail:
            raise RuntimeError("S3 is down")
        self.kept.append({"route": route, "request_id": request_id, **record})
        return f"online/requests/x/{request_id}.json"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def online_config(config):
    online = dataclasses.replace(config.online, enabled=True, id_column="customer_id", max_records=50)
    return dataclasses.replace(config, online=online)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def endpoint(aws, online_config, clock) -> Endpoint:
    models = ServingModels(Registry(aws, MODELS), refresh_seconds=10, alert=lambda *_: None, clock=clock)
    return Endpoint(online_config, models, RecordingCapture())


def call(endpoint: Endpoint, body, *, path="/predict", method="POST", content_type="application/json", raw=None):
    event = {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": content_type},
        "body": raw if raw is not None else json.dumps(body),
        "requestContext": {"requestId": "req-1"},
    }
    response = handler_response(endpoint, event)
    return response["statusCode"], json.loads(response["body"], parse_float=str)


def handler_response(endpoint: Endpoint, event: dict) -> dict:
    route, answer = handler.respond(event, endpoint)
    answer = handler.keep(endpoint, route, received=None, request_id="req-1", result=answer, latency_ms=1.0)
    return {"statusCode": answer.status, "body": answer.body}


def records_of(csv_bytes: bytes) -> list[dict]:
    """The rows of a generated CSV as JSON records: numbers as numbers, the label left out."""
    rows = list(csv.DictReader(io.StringIO(csv_bytes.decode())))
    numeric = ("tenure_months", "monthly_charges", "support_calls", "data_usage_gb")
    return [{k: (float(v) if k in numeric else v) for k, v in r.items() if k != "churned"} for r in rows]


def score_as_file(aws, config, body: bytes, name: str = "same-rows") -> list[dict]:
    clients = Clients(aws, CountingCloudWatch(boto3.client("cloudwatch", region_name=REGION)), None)
    context = ScoringContext(ScoringEnvironment(DATA, MODELS, None, "MLOps"), config)
    outcome = score_job(put(aws, f"incoming/{name}.csv", body), clients=clients, context=context)
    return read_csv(aws, outcome.detail["outputs"]["predictions"])


def test_given_records_when_predicted_then_each_answer_is_byte_for_byte_the_batch_row_of_the_same_record(
    aws, champion, endpoint, online_config
):
    body = generate(40, seed=3)
    status, answer = call(endpoint, {"records": records_of(body)})
    assert status == 200
    assert answer["model_version"] == champion
    batch = score_as_file(aws, online_config, body)
    online = [{k: str(v) for k, v in p.items()} for p in answer["predictions"]]
    assert online == [
        {k: v for k, v in row.items() if k != "churned"} for row in batch
    ]  # the file's label passes through
    (kept,) = endpoint.capture.kept
    assert kept["status"] == 200 and kept["records"] == 40 and len(kept["rows"]) == 40


def test_given_a_score_then_it_is_a_json_number_with_the_csvs_digits(aws, champion, endpoint):
    status, answer = call(endpoint, {"records": records_of(generate(3, seed=4))})
    response = handler_response(endpoint, _event({"records": records_of(generate(3, seed=4))}))
    parsed = json.loads(response["body"])
    assert status == 200 and all(isinstance(p["score"], float) for p in parsed["predictions"])
    assert [p["score"] for p in answer["predictions"]] == [f"{p['score']:.6f}" for p in parsed["predictions"]]


def _event(body: dict) -> dict:
    return {
        "resource": "/predict",
        "httpMethod": "POST",
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body),
    }


GOOD = {
    "customer_id": "C1",
    "tenure_months": 3,
    "monthly_charges": 70.5,
    "support_calls": 1,
    "data_usage_gb": 2.5,
    "contract": "month-to-month",
    "payment_method": "card",
}


@pytest.mark.parametrize(
    ("record", "kind", "field"),
    [
        ({**GOOD, "tenure_months": "3"}, "number_as_text", "tenure_months"),
        ({**GOOD, "tenure_months": True}, "not_a_number", "tenure_months"),
        ({**GOOD, "contract": 2}, "not_text", "contract"),
        ({**GOOD, "contract": "lifetime"}, "unknown_category", "contract"),
        ({**GOOD, "tenure_months": None}, "missing", "tenure_months"),
        ({**GOOD, "churned": 1}, "unknown_field", "churned"),
        ({k: v for k, v in GOOD.items() if k != "payment_method"}, "missing_field", "payment_method"),
        ({**GOOD, "customer_id": 1.5}, "bad_id", "customer_id"),
        ({**GOOD, "payment_method": "x" * 2000}, "field_too_long", "payment_method"),
        ([1, 2], "not_an_object", None),
    ],
)
def test_given_a_bad_record_when_predicted_then_400_naming_its_field_and_the_fix_and_nothing_is_scored(
    champion, endpoint, record, kind, field
):
    status, answer = call(endpoint, {"records": [GOOD, record]})
    assert status == 400 and answer["error"] == "bad_records"
    (error,) = answer["errors"]
    assert (error["record"], error["kind"], error["field"]) == (1, kind, field)
    assert error["message"] and error["fix"]
    assert "Traceback" not in json.dumps(answer)
    assert endpoint.capture.kept[0]["status"] == 400 and "rows" not in endpoint.capture.kept[0]


@pytest.mark.parametrize(
    ("raw", "content_type", "expected"),
    [
        ("not json", "application/json", (400, "bad_json")),
        ('{"records": [{"tenure_months": NaN}]}', "application/json", (400, "bad_json")),
        ('{"records": [{"tenure_months": Infinity}]}', "application/json", (400, "bad_json")),
        ('{"records": []}', "application/json", (400, "no_records")),
        ('{"records": {"a": 1}}', "application/json", (400, "bad_shape")),
        ('[{"a": 1}]', "application/json", (400, "bad_shape")),
        ('{"records": [1]}', "text/csv", (415, "unsupported_media_type")),
        ("x" * (10 << 20), "application/json", (413, "body_too_large")),
    ],
)
def test_given_a_bad_body_then_a_clear_4xx(champion, endpoint, raw, content_type, expected):
    status, answer = call(endpoint, None, raw=raw, content_type=content_type)
    assert (status, answer["error"]) == expected
    assert answer["message"]


def test_given_more_records_than_allowed_then_413_naming_the_limit(champion, endpoint):
    status, answer = call(endpoint, {"records": [GOOD] * 51})
    assert status == 413 and "at most 50" in answer["message"]


def test_given_a_base64_body_then_it_is_read_and_its_size_checked_before_decoding(champion, endpoint):
    event = _event({"records": [GOOD]}) | {"isBase64Encoded": True}
    event["body"] = base64.b64encode(event["body"].encode()).decode()
    assert handler_response(endpoint, event)["statusCode"] == 200
    event["body"] = "A" * (1 << 20)
    assert handler_response(endpoint, event)["statusCode"] == 413


def test_given_another_path_or_method_then_404_or_405(champion, endpoint):
    assert call(endpoint, {"records": [GOOD]}, path="/admin")[0] == 404
    assert call(endpoint, {"records": [GOOD]}, method="GET")[0] == 405


def test_given_no_champion_then_503_saying_to_train(aws, endpoint):
    status, answer = call(endpoint, {"records": [GOOD]})
    assert status == 503 and "train" in answer["fix"]


def test_given_a_model_that_raises_then_500_without_a_trace_and_the_request_id_logged(champion, endpoint, monkeypatch):
    monkeypatch.setattr(logic, "ChunkWriter", None)  # any failure inside scoring
    status, answer = call(endpoint, {"records": [GOOD]})
    assert status == 500 and answer["error"] == "internal" and "Traceback" not in answer["message"]


def test_given_a_promotion_then_the_endpoint_serves_it_after_refresh_seconds_and_not_before(
    aws,
    champion,
    endpoint,
    clock,
    trained_on_shift,  # noqa: F811
):
    assert call(endpoint, {"records": [GOOD]})[1]["model_version"] == champion
    artifact, manifest = trained_on_shift
    registry = Registry(aws, MODELS)
    newer = registry.publish(artifact, manifest, version=manifest["version"])
    registry.promote(newer, expected=registry.champion(), decision={"kind": "promote", "reasons": ["test"]})
    clock.now = 9.9
    assert call(endpoint, {"records": [GOOD]})[1]["model_version"] == champion
    clock.now = 10.0
    assert call(endpoint, {"records": [GOOD]})[1]["model_version"] == newer


def test_given_a_split_challenger_then_each_id_goes_to_the_model_batch_sends_it_to(
    aws,
    champion,
    endpoint,
    online_config,
    trained_on_shift,  # noqa: F811
):
    promotion = dataclasses.replace(
        online_config.promotion, challenger="split", challenger_share=0.3, challenger_id_column="customer_id"
    )
    config = dataclasses.replace(online_config, promotion=promotion)
    settings = ScoringContext(ScoringEnvironment(DATA, MODELS, None, "MLOps"), config)
    challenger = _challenge(aws, trained_on_shift, settings, "split")
    body = generate(50, seed=5)
    status, answer = call(endpoint, {"records": records_of(body)})
    batch = score_as_file(aws, config, body, name="split")
    assert status == 200
    assert [p["model_version"] for p in answer["predictions"]] == [r["model_version"] for r in batch]
    assert {p["model_version"] for p in answer["predictions"]} == {champion, challenger}
    assert [str(p["score"]) for p in answer["predictions"]] == [r["score"] for r in batch]


def test_given_a_shadow_challenger_then_only_the_champions_answer_is_returned_and_both_are_captured(
    aws,
    champion,
    endpoint,
    online_config,
    trained_on_shift,  # noqa: F811
):
    settings = ScoringContext(ScoringEnvironment(DATA, MODELS, None, "MLOps"), online_config)
    challenger = _challenge(aws, trained_on_shift, settings, "shadow")
    status, answer = call(endpoint, {"records": records_of(generate(20, seed=6))})
    assert status == 200 and {p["model_version"] for p in answer["predictions"]} == {champion}
    (kept,) = endpoint.capture.kept
    assert {row[-1] for row in kept["shadow"]["rows"]} == {challenger}


def test_given_a_capture_share_then_unsampled_requests_keep_their_counts_but_not_their_records(champion, endpoint):
    online = dataclasses.replace(endpoint.config.online, capture_share=0.5)
    endpoint = dataclasses.replace(endpoint, config=dataclasses.replace(endpoint.config, online=online))
    ids = [f"r{i}" for i in range(200)]
    for request_id in ids:
        route, answer = handler.respond(_event({"records": [GOOD]}), endpoint)
        handler.keep(endpoint, route, received=None, request_id=request_id, result=answer, latency_ms=1.0)
    kept = endpoint.capture.kept
    assert len(kept) == 200 and all(k["records"] == 1 and k["status"] == 200 for k in kept)
    with_rows = sum("rows" in k for k in kept)
    assert 70 < with_rows < 130
    assert [("rows" in k) for k in kept] == [logic.sampled(i, 0.5) for i in ids]


def test_given_the_capture_fails_then_the_caller_still_gets_the_answer_but_labels_are_refused_to_be_sent_again(
    champion, endpoint
):
    endpoint = dataclasses.replace(endpoint, capture=RecordingCapture(fail=True))
    status, answer = call(endpoint, {"records": [GOOD]})
    assert status == 200 and answer["predictions"][0]["customer_id"] == "C1"
    status, answer = call(endpoint, {"records": [{"customer_id": "C1", "churned": 1}]}, path="/feedback")
    assert (status, answer["error"]) == (503, "not_stored")


def test_given_labels_when_posted_then_202_and_kept_and_bad_labels_refused(endpoint):
    status, answer = call(endpoint, {"records": [{"customer_id": "C1", "churned": 1}]}, path="/feedback")
    assert (status, answer) == (202, {"accepted": 1})
    assert endpoint.capture.kept[0]["rows"] == [["C1", "1"]]
    status, answer = call(endpoint, {"records": [{"customer_id": "C1", "churned": "maybe"}]}, path="/feedback")
    assert status == 400 and answer["errors"][0]["kind"] == "bad_label"
    status, answer = call(endpoint, {"records": [{"churned": 1}]}, path="/feedback")
    assert status == 400 and answer["errors"][0]["field"] == "customer_id"


def test_given_the_lambda_entry_point_then_it_answers_captures_with_the_latency_and_refuses_unstored_labels(
    champion, endpoint, monkeypatch
):
    monkeypatch.setattr(handler, "endpoint", lambda: endpoint)
    event = _event({"records": [GOOD]}) | {"requestContext": {"requestId": "api-1"}}
    response = handler.lambda_handler(event, LambdaContext("online", 1024))
    assert response["statusCode"] == 200 and response["headers"]["Content-Type"] == "application/json"
    assert json.loads(response["body"])["predictions"][0]["customer_id"] == "C1"
    (kept,) = endpoint.capture.kept
    assert kept["request_id"] == "api-1" and kept["latency_ms"] > 0 and kept["rows"]
    monkeypatch.setattr(handler, "endpoint", lambda: dataclasses.replace(endpoint, capture=RecordingCapture(fail=True)))
    labels = _event({"records": [{"customer_id": "C1", "churned": 1}]}) | {"resource": "/feedback"}
    assert handler.lambda_handler(labels, LambdaContext("online", 1024))["statusCode"] == 503
