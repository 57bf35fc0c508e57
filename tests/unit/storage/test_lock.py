"""`ObjectLock`: one holder at a time, an expired lock taken over, only its holder releases it, on moto S3."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from mlops_core.storage.lock import ObjectLock
from tests.unit.conftest import MODELS

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
KEY = "registry/some.lock"


@pytest.mark.parametrize("conditional_deletes", [True, False])
def test_given_a_held_lock_then_no_one_else_takes_or_releases_it_until_it_expires(aws, conditional_deletes):
    lock = ObjectLock(aws, MODELS, KEY, conditional_deletes=conditional_deletes)
    assert lock.acquire("a", ttl_seconds=60, now=NOW)
    assert not lock.acquire("b", ttl_seconds=60, now=NOW + timedelta(seconds=59))
    assert not lock.release("b") and lock.current().owner == "a"
    assert lock.acquire("b", ttl_seconds=60, now=NOW + timedelta(seconds=61))  # expired: taken over
    assert not lock.release("a") and lock.release("b") and lock.current() is None


def test_given_two_locks_under_other_keys_then_each_is_held_on_its_own(aws):
    training, tracking = (ObjectLock(aws, MODELS, key) for key in ("registry/a.lock", "registry/b.lock"))
    assert training.acquire("run-1", ttl_seconds=60, now=NOW)
    assert tracking.acquire("sync-1", ttl_seconds=60, now=NOW)


def test_given_a_lock_written_before_owners_were_named_then_its_run_id_is_its_owner(aws):
    body = {"run_id": "run-old", "acquired_at": NOW.isoformat(), "expires_at": (NOW + timedelta(hours=1)).isoformat()}
    aws.put_object(Bucket=MODELS, Key=KEY, Body=json.dumps(body).encode())
    lock = ObjectLock(aws, MODELS, KEY, conditional_deletes=False)
    assert lock.current().owner == "run-old" and not lock.acquire("run-new", ttl_seconds=60, now=NOW)
    assert lock.release("run-old")
