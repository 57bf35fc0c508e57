"""The accounting check: every file that arrived is scored, rejected, in flight or dead-lettered - or lost."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from scoring.logic import score_job
from scoring.messages import jobs_from_message

from mlopsctl.accounting import account, message_keys
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA
from tests.unit.lambdas.scoring.test_scoring import env, put, s3_event  # noqa: F401 - env: the scoring environment fixture

ALL_TIME = datetime(2000, 1, 1, tzinfo=UTC)


def audit(clients, settings, dlq_url, *, now=None):
    return account(
        clients.s3,
        clients.sqs,
        data_bucket=DATA,
        queue_url=settings.environment.queue_url,
        dlq_url=dlq_url,
        since=ALL_TIME,
        now=now,
    )


def drain(sqs, queue_url: str) -> list[dict]:
    messages = []
    while batch := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        messages += batch
        for m in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    return messages


def test_given_scored_rejected_dead_lettered_and_waiting_files_then_each_is_counted_once(env, champion):  # noqa: F811
    clients, settings = env
    dlq_url = clients.sqs.create_queue(QueueName="scoring-dlq")["QueueUrl"]
    score_job(
        put(clients.s3, "incoming/good.csv", generate(300, seed=1, with_label=False)),
        clients=clients,
        context=settings,
    )
    score_job(put(clients.s3, "incoming/bad.csv", b"a,b\n1,2\n"), clients=clients, context=settings)
    poisoned = put(clients.s3, "incoming/poisoned.csv", generate(10, seed=2))
    clients.sqs.send_message(QueueUrl=dlq_url, MessageBody=json.dumps(s3_event(poisoned.key)))
    put(clients.s3, "incoming/just-arrived.csv", generate(10, seed=3))
    put(clients.s3, "incoming/notes.txt", b"not for scoring")

    result = audit(clients, settings, dlq_url)

    states = {f.key: f.state for f in result.files}
    assert states == {
        "incoming/good.csv": "scored",
        "incoming/bad.csv": "rejected",
        "incoming/poisoned.csv": "dead_lettered",
        "incoming/just-arrived.csv": "in_flight",
    }
    assert result.counts() == {
        "in": 4,
        "scored": 1,
        "rejected": 1,
        "superseded": 0,
        "in_flight": 1,
        "dead_lettered": 1,
        "lost": 0,
    }
    assert result.balanced and not result.settled and result.ignored == ["incoming/notes.txt"]
    # Peeking leaves the dead-letter queue as it was: a redrive still finds the message.
    assert len(drain(clients.sqs, dlq_url)) == 1


def test_given_a_file_nobody_processed_past_the_grace_period_then_it_is_lost_and_the_check_fails(env, champion):  # noqa: F811
    clients, settings = env
    dlq_url = clients.sqs.create_queue(QueueName="scoring-dlq")["QueueUrl"]
    put(clients.s3, "incoming/forgotten.csv", generate(10, seed=4))

    later = datetime.now(UTC) + timedelta(minutes=10)
    result = audit(clients, settings, dlq_url, now=later)

    assert [f.state for f in result.files] == ["lost"] and not result.balanced
    # While the scoring queue still holds work, the same file counts as in flight.
    clients.sqs.send_message(
        QueueUrl=settings.environment.queue_url, MessageBody=json.dumps(s3_event("incoming/other.csv"))
    )
    assert audit(clients, settings, dlq_url, now=later).balanced


def test_given_a_large_file_in_byte_ranges_then_scored_only_when_every_range_is_done(env, champion):  # noqa: F811
    clients, settings = env
    dlq_url = clients.sqs.create_queue(QueueName="scoring-dlq")["QueueUrl"]
    ranged = dataclasses.replace(
        settings.config, scoring=dataclasses.replace(settings.config.scoring, byte_range_bytes=20_000)
    )
    settings = dataclasses.replace(settings, config=ranged)
    job = put(clients.s3, "incoming/large.csv", generate(2000, seed=5, with_label=False))
    assert score_job(job, clients=clients, context=settings).status == "fanned_out"
    ranges = drain(clients.sqs, settings.environment.queue_url)
    assert message_keys(ranges[0]["Body"]) == {"incoming/large.csv"}
    for message in ranges[:-1]:
        (part,) = jobs_from_message(json.loads(message["Body"]), DATA)
        score_job(part, clients=clients, context=settings)

    waiting = audit(clients, settings, dlq_url)
    assert waiting.files[0].state == "in_flight" and f"{len(ranges) - 1} of {len(ranges)}" in waiting.files[0].detail

    (last,) = jobs_from_message(json.loads(ranges[-1]["Body"]), DATA)
    score_job(last, clients=clients, context=settings)
    done = audit(clients, settings, dlq_url)
    assert done.files[0].state == "scored" and done.files[0].detail.startswith("2,000 rows")


@pytest.mark.parametrize(("data_versioning", "first_state"), [("Enabled", "scored"), (None, "superseded")])
def test_given_a_file_overwritten_before_its_event_is_handled_then_the_audit_counts_both_contents(
    env,  # noqa: F811
    champion,
    first_state,
):
    """Versioned: each version is an arrival, each scored. Without versioning the earlier content is no longer
    listed; its superseded receipt stands for it."""
    clients, settings = env
    dlq_url = clients.sqs.create_queue(QueueName="scoring-dlq")["QueueUrl"]
    first = put(clients.s3, "incoming/overwritten.csv", generate(40, seed=6, with_label=False))
    second = put(clients.s3, "incoming/overwritten.csv", generate(70, seed=7, with_label=False))
    for job in (first, second):
        score_job(job, clients=clients, context=settings)

    result = audit(clients, settings, dlq_url)

    states = {f.etag: f.state for f in result.files}
    assert states == {first.etag: first_state, second.etag: "scored"}
    assert result.counts()["in"] == 2 and result.balanced


def test_given_upper_and_mixed_case_extensions_then_upper_case_is_scored_and_mixed_case_listed_as_never_sent(
    env,  # noqa: F811
    champion,
):
    """The bucket notifies scoring of .csv, .CSV, .csv.gz and .CSV.GZ (S3's filters are case-sensitive):
    another mixing of cases never reaches scoring, and the audit says so."""
    clients, settings = env
    dlq_url = clients.sqs.create_queue(QueueName="scoring-dlq")["QueueUrl"]
    score_job(put(clients.s3, "incoming/UPPER.CSV", generate(30, seed=8)), clients=clients, context=settings)
    put(clients.s3, "incoming/Mixed.Csv", generate(30, seed=9))

    result = audit(clients, settings, dlq_url)

    assert [(f.key, f.state) for f in result.files] == [("incoming/UPPER.CSV", "scored")]
    assert result.ignored == ["incoming/Mixed.Csv"] and result.balanced
    assert "case" in result.to_dict()["ignored_why"]["incoming/Mixed.Csv"]
