"""The receipt state machine: every transition a conditional write, so one invocation wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from scoring.receipts import CLAIM_TAKEOVER_S, Receipts, State

from tests.unit.conftest import DATA

KEY = "reports/receipts/batch/etag.json"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def body() -> dict:
    return {"claimed_at": NOW.isoformat(), "key": "incoming/batch.csv", "outcome": "scored"}


def test_given_no_receipt_when_two_invocations_claim_then_only_the_first_wins(aws):
    receipts = Receipts(aws, DATA)
    first = receipts.claim(KEY, body())
    assert first is not None and first.state is State.PENDING
    assert receipts.claim(KEY, body()) is None
    assert receipts.record_fan_out(KEY, body()) is None
    assert receipts.read(KEY) == first


def test_given_a_pending_receipt_when_two_invocations_start_publishing_then_only_one_moves_it(aws):
    receipts = Receipts(aws, DATA)
    pending = receipts.claim(KEY, body())
    assert pending is not None
    publishing = receipts.start_publishing(pending)
    assert publishing is not None and publishing.state is State.PUBLISHING
    assert receipts.start_publishing(pending) is None  # the stale ETag loses


def test_given_publishing_when_metrics_failed_then_reopen_returns_it_to_pending_for_a_retry(aws):
    receipts = Receipts(aws, DATA)
    publishing = receipts.start_publishing(receipts.claim(KEY, body()))
    receipts.reopen(publishing)
    assert receipts.read(KEY).state is State.PENDING


def test_given_publishing_when_completed_then_complete_and_a_stale_completion_changes_nothing(aws):
    receipts = Receipts(aws, DATA)
    publishing = receipts.start_publishing(receipts.claim(KEY, body()))
    receipts.complete(publishing)
    done = receipts.read(KEY)
    assert done is not None and done.state is State.COMPLETE
    receipts.reopen(publishing)  # stale: must not reopen a completed receipt
    assert receipts.read(KEY) == done


def test_given_a_pending_receipt_when_older_than_the_takeover_time_then_takeover_is_due(aws):
    pending = Receipts(aws, DATA).claim(KEY, body())
    assert pending is not None
    assert not pending.takeover_due(NOW + timedelta(seconds=CLAIM_TAKEOVER_S - 1))
    assert pending.takeover_due(NOW + timedelta(seconds=CLAIM_TAKEOVER_S))
