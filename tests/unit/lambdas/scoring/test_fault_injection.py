"""S3 and CloudWatch failing for a while, injected at the clients the scoring handler is given.

Each test drives the real Lambda handler (Powertools BatchProcessor) with one SQS record per
delivery, as SQS would redeliver it: after the queue's visibility timeout, at most
max_receive_count times before the dead-letter queue. While a fault lasts, the delivery must fail
(batch item failure, or the whole batch); once it clears, the file must end scored or rejected
exactly once: one output, metrics published once in total, a complete receipt.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, EndpointConnectionError
from scoring import handler, logic
from scoring.logic import Clients, ScoringContext

from mlops_core.environment import ScoringEnvironment
from mlops_core.registry.store import Registry
from mlops_core.storage import layout
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS, REGION
from tests.unit.lambdas.scoring.test_scoring import CountingCloudWatch, LambdaContext, event_of, keys, put

VISIBILITY_TIMEOUT = timedelta(seconds=1800)  # infra/scoring.py: 6 x the 5-minute function timeout
MAX_RECEIVES = 3  # mlops.toml [queue] max_receive_count
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------- fault injection
@dataclass
class Fault:
    """Calls of one operation: `after` matching calls pass, the next `times` fail, then all pass."""

    times: int
    after: int = 0
    key: str = ""  # only calls for keys starting with this count
    code: str = "ServiceUnavailable"  # an S3/CloudWatch error code, or "connection"
    write_first: bool = False  # the call takes effect, then its response is lost
    seen: int = 0
    raised: int = 0

    def error(self, operation: str) -> Exception:
        if self.code == "connection":
            return EndpointConnectionError(endpoint_url="https://s3.us-east-1.amazonaws.com")
        status = {
            "SlowDown": 503,
            "ServiceUnavailable": 503,
            "InternalError": 500,
            "Throttling": 400,
            "InvalidParameter": 400,  # SNS: e.g. a subject with a line break
        }[self.code]
        error = ClientError(
            {"Error": {"Code": self.code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": status}},
            operation,
        )
        if operation == "upload_file":  # what boto3's managed upload raises
            return S3UploadFailedError(f"Failed to upload: {error}")
        return error


class FaultyClient:
    """Wraps a boto3 client; the operations named in `faults` fail as planned, everything else passes."""

    def __init__(self, client: Any, **faults: Fault) -> None:
        self.client = client
        self.faults = faults
        self.calls: Counter = Counter()

    def __getattr__(self, operation: str) -> Any:
        method = getattr(self.client, operation)
        fault = self.faults.get(operation)
        if fault is None:
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[operation] += 1
            key = kwargs.get("Key") or (args[2] if len(args) > 2 else "")  # upload_file/copy: (src, bucket, key)
            if not str(key).startswith(fault.key):
                return method(*args, **kwargs)
            fault.seen += 1
            if fault.after < fault.seen <= fault.after + fault.times:
                fault.raised += 1
                if fault.write_first:
                    method(*args, **kwargs)
                raise fault.error(operation)
            return method(*args, **kwargs)

        return call


class Clock(datetime):
    """What logic sees as datetime: now() is set by the test (SQS redelivers after the visibility timeout)."""

    current = T0

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return cls.current


@dataclass
class Pipeline:
    s3: Any  # the plain moto client, for checking
    cloudwatch: CountingCloudWatch  # counts only the calls that reached CloudWatch
    settings: ScoringContext
    deliveries: int = 0
    inbox: str | None = None  # an SQS queue subscribed to the alerts topic

    def alerts(self) -> list[dict[str, Any]]:
        """The SNS notifications (Subject, Message) that reached the alerts topic's subscriber."""
        sqs = boto3.client("sqs", region_name=REGION)
        messages = sqs.receive_message(QueueUrl=self.inbox, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    def deliver(self, key: str) -> bool:
        """One SQS delivery of the file's S3 event through the handler; True when acknowledged (deleted)."""
        self.deliveries += 1
        record = {
            "messageId": f"m-{self.deliveries}",
            "receiptHandle": "r",
            "body": json.dumps(event_of(self.s3, key)),
            "attributes": {"ApproximateReceiveCount": str(self.deliveries)},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "awsRegion": REGION,
            "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:scoring",
        }
        try:
            response = handler.lambda_handler({"Records": [record]}, LambdaContext())
        except BatchProcessingError:  # every record of the batch failed: the invocation fails
            return False
        return response["batchItemFailures"] == []

    def redeliver_until_acknowledged(self, key: str) -> list[bool]:
        """Deliveries as SQS makes them: again after each visibility timeout, at most MAX_RECEIVES times."""
        results = []
        while len(results) < MAX_RECEIVES and not (results and results[-1]):
            if results:
                Clock.current += VISIBILITY_TIMEOUT
            results.append(self.deliver(key))
        return results

    def files(self, metric: str) -> list[float]:
        return self.cloudwatch.metric_values(metric)

    def receipt(self, key: str) -> dict[str, Any]:
        (receipt_key,) = keys(self.s3, f"{layout.REPORTS}receipts/{layout.input_name(key)}/")
        return json.loads(self.s3.get_object(Bucket=DATA, Key=receipt_key)["Body"].read())

    def snapshot(self) -> dict[str, str]:
        contents = self.s3.list_objects_v2(Bucket=DATA).get("Contents", [])
        return {o["Key"]: o["ETag"] for o in contents}


@pytest.fixture(autouse=True)
def _clock(monkeypatch):
    Clock.current = T0
    monkeypatch.setattr(logic, "datetime", Clock)


@pytest.fixture
def pipeline(aws, config, champion, monkeypatch):
    """Returns make(s3_faults, cloudwatch_faults, sns_faults) -> Pipeline wired into the handler. With
    `sns_faults` (even {}), the environment names an alerts topic, and an SQS queue subscribed to it keeps
    what people would receive (`Pipeline.alerts`)."""

    def make(
        s3: dict[str, Fault] | None = None,
        cloudwatch: dict[str, Fault] | None = None,
        sns: dict[str, Fault] | None = None,
    ) -> Pipeline:
        counting = CountingCloudWatch(boto3.client("cloudwatch", region_name=REGION))
        topic, inbox, sns_client = None, None, None
        if sns is not None:
            sns_client = boto3.client("sns", region_name=REGION)
            topic, inbox = subscribed_inbox(sns_client)
        clients = Clients(
            FaultyClient(aws, **(s3 or {})),
            FaultyClient(counting, **(cloudwatch or {})),
            None,
            FaultyClient(sns_client, **sns) if sns is not None else None,
        )
        settings = ScoringContext(ScoringEnvironment(DATA, MODELS, None, "MLOps", alert_topic_arn=topic), config)
        monkeypatch.setattr(handler, "environment", lambda: (settings, clients))
        return Pipeline(aws, counting, settings, inbox=inbox)

    return make


def subscribed_inbox(sns: Any) -> tuple[str, str]:
    """An alerts topic and an SQS queue subscribed to it, standing in for the people who get the alerts."""
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return topic, inbox


def assert_scored_once(p: Pipeline, key: str, rows: int) -> None:
    name = layout.input_name(key)
    (predictions,) = keys(p.s3, f"{layout.PREDICTIONS}{name}/")
    body = p.s3.get_object(Bucket=DATA, Key=predictions)["Body"].read().decode()
    assert len(body.splitlines()) == rows + 1
    assert p.files("FilesScored") == [1.0] and p.files("RowsScored") == [float(rows)]
    assert p.files("FilesRejected") == []
    receipt = p.receipt(key)
    assert (receipt["state"], receipt["outcome"], receipt["outputs"]["predictions"]) == (
        "complete",
        "scored",
        predictions,
    )
    before = p.snapshot()
    assert p.deliver(key) is True  # a late duplicate delivery: acknowledged, nothing new
    assert p.snapshot() == before and p.files("FilesScored") == [1.0]


# ---------------------------------------------------------------------------- S3 failing
@pytest.mark.parametrize("code", ["InternalError", "SlowDown", "connection"])
def test_given_s3_get_of_the_file_failing_twice_when_redelivered_then_scored_exactly_once(pipeline, code):
    p = pipeline(s3={"get_object": Fault(times=2, key="incoming/", code=code)})
    key = "incoming/get-fails.csv"
    put(p.s3, key, generate(300, seed=21, with_label=False))

    assert p.redeliver_until_acknowledged(key) == [False, False, True]

    assert p.s3 and keys(p.s3, layout.REJECTED) == []
    assert_scored_once(p, key, rows=300)


def test_given_the_feedback_upload_failing_after_predictions_when_redelivered_then_one_set_of_outputs(pipeline):
    p = pipeline(s3={"upload_file": Fault(times=1, after=1, code="SlowDown")})
    key = "incoming/upload-fails.csv"
    put(p.s3, key, generate(300, seed=22))  # labeled: predictions, then feedback

    assert p.deliver(key) is False
    assert len(keys(p.s3, layout.PREDICTIONS)) == 1 and keys(p.s3, layout.FEEDBACK) == []  # half-written
    assert p.files("FilesScored") == [] and keys(p.s3, f"{layout.REPORTS}receipts/") == []
    Clock.current += VISIBILITY_TIMEOUT
    assert p.deliver(key) is True

    assert len(keys(p.s3, layout.FEEDBACK)) == 1
    assert_scored_once(p, key, rows=300)


def test_given_the_drift_report_write_failing_when_redelivered_then_scored_exactly_once(pipeline):
    p = pipeline(s3={"put_object": Fault(times=2, key="reports/drift/", code="InternalError")})
    key = "incoming/report-fails.csv"
    put(p.s3, key, generate(300, seed=23, with_label=False))

    assert p.redeliver_until_acknowledged(key) == [False, False, True]

    assert_scored_once(p, key, rows=300)


def test_given_the_claim_written_but_its_response_lost_when_redelivered_then_metrics_published_once(pipeline):
    """The pending receipt is stored, but the client sees an error: the retry takes the claim over."""
    p = pipeline(s3={"put_object": Fault(times=1, key="reports/receipts/", code="connection", write_first=True)})
    key = "incoming/claim-lost.csv"
    put(p.s3, key, generate(300, seed=24, with_label=False))

    assert p.deliver(key) is False
    assert p.receipt(key)["state"] == "pending" and p.files("FilesScored") == []
    Clock.current += VISIBILITY_TIMEOUT
    assert p.deliver(key) is True

    assert_scored_once(p, key, rows=300)


# ---------------------------------------------------------------------------- CloudWatch failing
def test_given_cloudwatch_failing_after_the_outputs_when_redelivered_then_metrics_published_exactly_once(pipeline):
    p = pipeline(cloudwatch={"put_metric_data": Fault(times=1, code="Throttling")})
    key = "incoming/metrics-fail.csv"
    put(p.s3, key, generate(300, seed=25, with_label=False))

    assert p.deliver(key) is False
    assert len(keys(p.s3, layout.PREDICTIONS)) == 1
    assert p.receipt(key)["state"] == "pending" and p.files("FilesScored") == []
    Clock.current += timedelta(seconds=60)  # a duplicate S3 event while the claim is fresh: left alone
    assert p.deliver(key) is True
    assert p.receipt(key)["state"] == "pending" and p.files("FilesScored") == []
    Clock.current += VISIBILITY_TIMEOUT  # SQS redelivers the failed message: the stale claim is taken over
    assert p.deliver(key) is True

    assert_scored_once(p, key, rows=300)


def test_given_cloudwatch_down_for_every_receive_when_redriven_from_the_dlq_then_metrics_published_once(pipeline):
    p = pipeline(cloudwatch={"put_metric_data": Fault(times=MAX_RECEIVES, code="InternalError")})
    key = "incoming/metrics-down.csv"
    put(p.s3, key, generate(300, seed=26, with_label=False))

    assert p.redeliver_until_acknowledged(key) == [False] * MAX_RECEIVES  # now in the dead-letter queue
    assert len(keys(p.s3, layout.PREDICTIONS)) == 1 and p.receipt(key)["state"] == "pending"
    Clock.current += timedelta(days=1)  # an operator redrives the DLQ
    assert p.deliver(key) is True

    assert_scored_once(p, key, rows=300)


def test_given_the_receipt_completion_failing_after_metrics_when_redelivered_then_metrics_not_published_twice(
    pipeline,
):
    p = pipeline(s3={"put_object": Fault(times=1, after=1, key="reports/receipts/", code="InternalError")})
    key = "incoming/complete-fails.csv"
    put(p.s3, key, generate(300, seed=27, with_label=False))

    assert p.redeliver_until_acknowledged(key) == [False, True]

    assert_scored_once(p, key, rows=300)


# ---------------------------------------------------------------------------- rejection path
def test_given_the_copy_of_a_rejected_file_failing_when_redelivered_then_rejected_exactly_once(pipeline):
    p = pipeline(s3={"copy": Fault(times=2, code="SlowDown")})
    key = "incoming/bad-copy.csv"
    body = b"customer_id;tenure_months\nC1;3\n"
    put(p.s3, key, body)

    assert p.redeliver_until_acknowledged(key) == [False, False, True]

    name = layout.input_name(key)
    (report_key,) = [k for k in keys(p.s3, f"{layout.REJECTED}{name}/") if k.endswith("report.json")]
    report = json.loads(p.s3.get_object(Bucket=DATA, Key=report_key)["Body"].read())
    assert report["kind"] == "missing_columns"
    assert p.s3.get_object(Bucket=DATA, Key=report["copy"])["Body"].read() == body
    assert p.files("FilesRejected") == [1.0] and p.files("FilesScored") == []
    assert p.receipt(key)["state"] == "complete" and keys(p.s3, layout.PREDICTIONS) == []
    before = p.snapshot()
    assert p.deliver(key) is True and p.snapshot() == before and p.files("FilesRejected") == [1.0]


# ---------------------------------------------------------------------------- a promotion between attempts
def test_given_a_promotion_between_a_failed_attempt_and_its_retry_then_one_predictions_object(pipeline, trained):
    p = pipeline(s3={"upload_file": Fault(times=1, after=1, code="SlowDown")})
    key = "incoming/promoted-between.csv"
    put(p.s3, key, generate(300, seed=28))
    assert p.deliver(key) is False
    registry = Registry(p.s3, MODELS)
    artifact, manifest = trained
    newer = registry.publish(artifact, manifest, version="v-newer")
    registry.promote(newer, expected=registry.champion(), decision={"kind": "promote", "reasons": ["test"]})
    Clock.current += VISIBILITY_TIMEOUT

    assert p.deliver(key) is True

    assert_scored_once(p, key, rows=300)


# ---------------------------------------------------------------------------- SNS failing
def drifted(rows: int = 2_000) -> bytes:
    return generate(rows, seed=29, covariate_shift=1.5, with_label=False)


def test_given_sns_failing_when_a_drifted_file_is_scored_then_its_metrics_go_out_once_and_the_failure_is_recorded(
    pipeline,
):
    """The alert is best effort: an SNS error must not hold back the metrics that the drift alarms watch."""
    p = pipeline(sns={"publish": Fault(times=MAX_RECEIVES, code="InternalError")})
    key = "incoming/alert-fails.csv"
    put(p.s3, key, drifted())

    assert p.deliver(key) is True

    assert p.files("FilesScored") == [1.0] and len(p.files("DriftedFeatureShare")) == 1
    receipt = p.receipt(key)
    assert receipt["drift"]["verdict"] is True and receipt["state"] == "complete"
    assert receipt["alert"]["sent"] is False and "InternalError" in receipt["alert"]["error"]
    assert p.alerts() == []
    assert_scored_once(p, key, rows=2_000)


def test_given_a_key_with_a_line_break_when_its_drift_alert_is_sent_then_subject_and_message_are_safe(pipeline):
    """SNS refuses a subject with control characters (and one over 100 printable ASCII characters); the key is
    chosen by whoever uploaded the file, so it must neither break the subject nor forge lines of the message."""
    p = pipeline(sns={})
    key = "incoming/évil\nname-" + "x" * 400 + ".csv\nForged line: all clear"
    put(p.s3, key, drifted())

    assert p.deliver(key) is True

    (alert,) = p.alerts()
    subject, message = alert["Subject"], alert["Message"]
    assert len(subject) <= 100 and all(" " <= c <= "~" for c in subject), subject
    lines = message.splitlines()
    assert "incoming/évil\\nname-xxx" in lines[0] and not any(line.startswith("Forged") for line in lines)
    assert max(len(line) for line in lines) < 300  # the key is capped
    assert p.receipt(key)["alert"] == {"sent": True, "subject": subject}
    assert p.files("FilesScored") == [1.0]
