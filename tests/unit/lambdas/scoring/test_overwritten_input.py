"""A file written again before its S3 event is handled (a no-champion retry, a stay in the DLQ, a race):
every content that arrived ends scored, or accounted for with a receipt and an alert.

With a versioned data bucket (the stack's) the event names the object version, and that version is read even
when the key holds newer content. Without versioning the earlier content is gone: its event ends in a
"superseded" receipt with an alert (and `mlops audit` counts it); the newer content has its own event. Reads
carry the version, or the ETag as IfMatch, and a byte range keeps the ETag its file was split at.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import boto3
import pytest
from scoring.logic import Clients, ScoringContext, score_job
from scoring.messages import jobs_from_message

from mlops_core.environment import ScoringEnvironment
from mlops_core.storage import layout
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS, REGION
from tests.unit.lambdas.scoring.test_fault_injection import subscribed_inbox
from tests.unit.lambdas.scoring.test_scoring import CountingCloudWatch, keys, put, read_csv

KEY = "incoming/overwritten.csv"
UNVERSIONED = pytest.mark.parametrize("data_versioning", [None])


@pytest.fixture
def alerting(aws, config) -> tuple[Clients, ScoringContext, str]:
    """Scoring's clients and context with a queue and an alerts topic; the SQS inbox subscribed to the topic."""
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic, inbox = subscribed_inbox(sns)
    queue_url = sqs.create_queue(QueueName="scoring")["QueueUrl"]
    clients = Clients(aws, CountingCloudWatch(boto3.client("cloudwatch", region_name=REGION)), sqs, sns)
    environment = ScoringEnvironment(DATA, MODELS, queue_url, "MLOps", alert_topic_arn=topic)
    return clients, ScoringContext(environment, config), inbox


def alerts_in(inbox: str) -> list[dict[str, Any]]:
    messages = boto3.client("sqs", region_name=REGION).receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def receipt_of(s3, key: str, etag: str, suffix: str = "") -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=DATA, Key=layout.receipt_key(key, etag, suffix))["Body"].read())


def renamed_ids(body: bytes) -> bytes:
    """The same rows with other ids (N... for C...), to tell two contents apart in the predictions."""
    return body.replace(b"\nC", b"\nN")


# ---------------------------------------------------------------------------- overwritten before the event
def test_given_a_file_overwritten_before_its_event_is_handled_then_both_contents_are_scored(alerting, champion):
    clients, settings, inbox = alerting
    first = put(clients.s3, KEY, generate(40, seed=1, with_label=False))
    second = put(clients.s3, KEY, generate(70, seed=2, with_label=False))  # before the first event is handled

    outcomes = [score_job(job, clients=clients, context=settings) for job in (first, second)]

    assert [(o.status, o.detail["scored"]) for o in outcomes] == [("scored", 40), ("scored", 70)]
    predictions = [o.detail["outputs"]["predictions"] for o in outcomes]
    assert keys(clients.s3, layout.PREDICTIONS) == sorted(predictions)
    assert [len(read_csv(clients.s3, key)) for key in predictions] == [40, 70]
    assert [first.etag in predictions[0], second.etag in predictions[1]] == [True, True]
    assert alerts_in(inbox) == []


@UNVERSIONED
def test_given_no_versioning_when_a_file_is_overwritten_before_its_event_then_superseded_with_an_alert(
    alerting, champion
):
    clients, settings, inbox = alerting
    first = put(clients.s3, KEY, generate(40, seed=1, with_label=False))
    second = put(clients.s3, KEY, generate(70, seed=2, with_label=False))

    superseded = score_job(first, clients=clients, context=settings)
    scored = score_job(second, clients=clients, context=settings)

    assert (superseded.status, scored.status, scored.detail["scored"]) == ("superseded", "scored", 70)
    assert keys(clients.s3, layout.PREDICTIONS) == [scored.detail["outputs"]["predictions"]]
    receipt = receipt_of(clients.s3, KEY, first.etag)
    assert (receipt["state"], receipt["outcome"], receipt["current_etag"]) == ("complete", "superseded", second.etag)
    (alert,) = alerts_in(inbox)
    assert "overwritten" in alert["Subject"] and first.etag in alert["Message"] and KEY in alert["Message"]
    assert receipt["alert"]["sent"] is True
    assert clients.cloudwatch.metric_values("FilesSuperseded") == [1.0]
    assert score_job(first, clients=clients, context=settings).status == "skipped"  # redelivered: told once
    assert len(alerts_in(inbox)) == 0 and clients.cloudwatch.metric_values("FilesSuperseded") == [1.0]


class OverwrittenAfterHead:
    """An S3 client on which the input is written again just after scoring looks at it (HEAD), before it
    reads it: the race that only a conditional read (IfMatch, or the version) can catch."""

    def __init__(self, client: Any, body: bytes) -> None:
        self.client, self.body, self.raced = client, body, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def head_object(self, **kwargs: Any) -> Any:
        head = self.client.head_object(**kwargs)
        if kwargs["Key"] == KEY and not self.raced:
            self.raced = True
            self.client.put_object(Bucket=DATA, Key=KEY, Body=self.body)
        return head


@pytest.mark.parametrize(("data_versioning", "status"), [("Enabled", "scored"), (None, "superseded")])
def test_given_a_file_overwritten_between_its_head_and_its_read_then_the_old_etag_never_names_new_rows(
    alerting, champion, status
):
    clients, settings, _ = alerting
    first = put(clients.s3, KEY, generate(40, seed=1, with_label=False))
    racing = dataclasses.replace(clients, s3=OverwrittenAfterHead(clients.s3, generate(70, seed=2)))

    outcome = score_job(first, clients=racing, context=settings)

    assert outcome.status == status
    if status == "scored":  # the version the event named, though the key holds other rows now
        assert outcome.detail["scored"] == 40 and first.etag in outcome.detail["outputs"]["predictions"]
    else:
        assert keys(clients.s3, layout.PREDICTIONS) == []
        assert receipt_of(clients.s3, KEY, first.etag)["outcome"] == "superseded"


# ---------------------------------------------------------------------------- byte ranges keep their ETag
def drain(clients: Clients, queue_url: str) -> list[dict]:
    bodies = []
    while batch := clients.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        for message in batch:
            bodies.append(json.loads(message["Body"]))
            clients.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


@pytest.mark.parametrize(("data_versioning", "status"), [("Enabled", "scored"), (None, "superseded")])
def test_given_a_large_file_overwritten_while_its_byte_ranges_wait_then_no_range_reads_the_new_rows(
    alerting, champion, status
):
    clients, settings, _ = alerting
    scoring = dataclasses.replace(settings.config.scoring, byte_range_bytes=20_000)
    settings = dataclasses.replace(settings, config=dataclasses.replace(settings.config, scoring=scoring))
    body = generate(3000, seed=11, with_label=False)
    job = put(clients.s3, "incoming/large.csv", body)
    assert score_job(job, clients=clients, context=settings).status == "fanned_out"
    put(clients.s3, "incoming/large.csv", renamed_ids(generate(2500, seed=12, with_label=False)))

    ranges = [
        part for message in drain(clients, settings.environment.queue_url) for part in jobs_from_message(message, DATA)
    ]
    outcomes = [score_job(part, clients=clients, context=settings) for part in ranges]

    assert {o.status for o in outcomes} == {status} and {part.etag for part in ranges} == {job.etag}
    ids = [r["customer_id"] for key in keys(clients.s3, layout.PREDICTIONS) for r in read_csv(clients.s3, key)]
    if status == "scored":
        assert len(ids) == len(set(ids)) == 3000 and all(i.startswith("C") for i in ids)
    else:
        assert ids == []
        suffix = layout.part_suffix(0, len(ranges))
        assert receipt_of(clients.s3, "incoming/large.csv", job.etag, suffix)["outcome"] == "superseded"
