"""`mlops approve` and `mlops reject` (mlopsctl.approvals) against moto S3 and STS: the control, each bad
input, two operators at once, and an approval that stopped half-way."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from mlops_core.registry.approval import Held, PendingRecords, hold_candidate
from mlops_core.registry.runs import utcnow
from mlops_core.registry.store import Registry
from mlopsctl import approvals
from mlopsctl.approvals import CLAIM_TIMEOUT, ApprovalError
from tests.unit.conftest import MODELS, REGION

MOTO_ARN = "arn:aws:sts::123456789012:user/moto"  # moto's caller identity


@pytest.fixture
def sts(aws):
    return boto3.client("sts", region_name=REGION)


@pytest.fixture
def manual(config):
    return dataclasses.replace(config, promotion=dataclasses.replace(config.promotion, approval="manual"))


def hold(s3, trained, config, *, days_ago: float = 0) -> str:
    """A new version of the session's model, held for approval against the current champion; its version."""
    artifact, manifest = trained
    registry = Registry(s3, MODELS)
    version = registry.publish(artifact, manifest)
    champion = registry.champion()
    decision = {
        "kind": "pending",
        "version": version,
        "run_id": "run-1",
        "reasons": ["roc_auc 0.8000 >= floor 0.6000"],
        "candidate_metrics": manifest["metrics"],
        "champion_metrics": manifest["metrics"] if champion else None,
    }
    now = utcnow() - timedelta(days=days_ago)
    hold_candidate(PendingRecords(s3, MODELS), decision=decision, champion=champion, settings=config.promotion, now=now)
    return version


def approve(s3, sts, config, version, *, pending=None, registry=None, note="", now=None):
    return approvals.approve(
        registry=registry or Registry(s3, MODELS),
        pending=pending or PendingRecords(s3, MODELS),
        sts=sts,
        version=version,
        note=note,
        config=config,
        now=now,
    )


def reject(s3, sts, config, version, reason="worse on the holdout"):
    pending = PendingRecords(s3, MODELS)
    return approvals.reject(
        registry=Registry(s3, MODELS), pending=pending, sts=sts, version=version, reason=reason, config=config
    )


def state(s3, version: str) -> str:
    held = PendingRecords(s3, MODELS).get(version)
    assert held is not None
    return held.state


def kinds(s3) -> list[str]:
    return [d["kind"] for d in Registry(s3, MODELS).history(limit=50)]


class ActsFirst(PendingRecords):
    """Pending records where someone else acts (`other`) just before this operator's first write of one."""

    def __init__(self, s3, other: Callable[[], object]) -> None:
        super().__init__(s3, MODELS)
        self.other: Callable[[], object] | None = other

    def replace(self, held: Held, **changes) -> Held:
        if self.other is not None:
            other, self.other = self.other, None
            other()
        return super().replace(held, **changes)


# ---------------------------------------------------------------------------- the control
def test_given_a_pending_candidate_when_approved_then_it_is_champion_and_the_history_names_the_approver(
    aws, sts, champion, trained, manual
):
    version = hold(aws, trained, manual)

    decision = approve(aws, sts, manual, version, note="checked the holdout")

    registry = Registry(aws, MODELS)
    current = registry.champion()
    assert current.version == version and current.record["previous"] == champion
    assert current.record["decision"]["kind"] == "approve"
    latest = registry.history(limit=1)[0]
    assert latest["kind"] == "approve" and latest["version"] == version and latest["previous"] == champion
    assert latest["by"] == {"arn": MOTO_ARN, "account": "123456789012", "user_id": latest["by"]["user_id"]}
    assert latest["by"]["user_id"] and latest["note"] == "checked the holdout"
    assert latest["reasons"][0] == f"approved by {MOTO_ARN}: checked the holdout"
    assert latest["candidate_metrics"] == trained[1]["metrics"] == latest["champion_metrics"]
    assert decision["claim"] == latest["claim"]
    held = PendingRecords(aws, MODELS).get(version)
    assert held.state == "approved" and held.record["closed_by"]["arn"] == MOTO_ARN


def test_given_a_pending_first_model_when_approved_then_it_becomes_the_first_champion(aws, sts, trained, manual):
    version = hold(aws, trained, manual)
    assert Registry(aws, MODELS).champion() is None

    decision = approve(aws, sts, manual, version)

    assert Registry(aws, MODELS).champion().version == version and decision["previous"] is None
    assert decision["reasons"][0] == f"approved by {MOTO_ARN}"


def test_given_a_pending_candidate_when_rejected_then_closed_champion_unchanged_and_the_reason_in_the_history(
    aws, sts, champion, trained, manual
):
    version = hold(aws, trained, manual)

    reject(aws, sts, manual, version, reason="too close to call")

    assert Registry(aws, MODELS).champion().version == champion and state(aws, version) == "rejected"
    latest = Registry(aws, MODELS).history(limit=1)[0]
    assert (latest["kind"], latest["version"], latest["reason"]) == ("reject-pending", version, "too close to call")
    assert latest["by"]["arn"] == MOTO_ARN and latest["reasons"][0] == f"rejected by {MOTO_ARN}: too close to call"


# ---------------------------------------------------------------------------- bad input
def test_given_an_unknown_version_when_approved_then_refused_listing_the_pending_ones(aws, sts, trained, manual):
    waiting = hold(aws, trained, manual)

    with pytest.raises(ApprovalError, match="unknown model version 'v-nope': nothing to approve") as refused:
        approve(aws, sts, manual, "v-nope")

    assert refused.value.hint == f"pending: {waiting}; see `mlops status`"


def test_given_a_version_never_held_when_approved_under_auto_then_refused_saying_training_promotes_itself(
    aws, sts, champion, config
):
    with pytest.raises(ApprovalError, match=f"model version {champion} was never held for approval") as refused:
        approve(aws, sts, config, champion)

    assert "no candidate awaits approval (promotion.approval is auto" in refused.value.hint


def test_given_an_approved_candidate_when_approved_again_then_refused_naming_who_and_when(aws, sts, trained, manual):
    version = hold(aws, trained, manual)
    approve(aws, sts, manual, version)

    with pytest.raises(ApprovalError, match=rf"{version} is not pending: it was approved at .* by {MOTO_ARN}") as again:
        approve(aws, sts, manual, version)

    assert "in place already" in again.value.hint and kinds(aws).count("approve") == 1


def test_given_a_rejected_candidate_when_approved_then_refused_with_the_reason_and_nothing_changes(
    aws, sts, champion, trained, manual
):
    version = hold(aws, trained, manual)
    reject(aws, sts, manual, version, reason="drifted labels")

    with pytest.raises(ApprovalError, match=r"not pending: it was rejected at .*: drifted labels") as refused:
        approve(aws, sts, manual, version)

    assert "mlops train" in refused.value.hint and Registry(aws, MODELS).champion().version == champion
    with pytest.raises(ApprovalError, match="not pending: it was rejected"):
        reject(aws, sts, manual, version)


def test_given_a_candidate_older_than_the_ttl_when_approved_then_recorded_as_expired_and_refused(
    aws, sts, champion, trained, manual
):
    version = hold(aws, trained, manual, days_ago=manual.promotion.pending_ttl_days + 0.01)

    with pytest.raises(ApprovalError, match=f"{version} expired at .* recorded as expired, nothing was promoted"):
        approve(aws, sts, manual, version)

    assert Registry(aws, MODELS).champion().version == champion and state(aws, version) == "expired"
    assert kinds(aws)[0] == "expire"
    with pytest.raises(ApprovalError, match=f"{version} is not pending: it was expired at"):
        approve(aws, sts, manual, version)


def test_given_a_tampered_artifact_when_approved_then_refused_and_it_stays_pending(aws, sts, champion, trained, manual):
    version = hold(aws, trained, manual)
    artifact_key = Registry(aws, MODELS).manifest(version)["artifact_key"]
    aws.put_object(Bucket=MODELS, Key=artifact_key, Body=trained[0] + b"x")

    with pytest.raises(ApprovalError, match="no longer has the SHA-256 its manifest records") as refused:
        approve(aws, sts, manual, version)

    assert f"mlops reject {version}" in refused.value.hint
    assert Registry(aws, MODELS).champion().version == champion and state(aws, version) == "pending"


def test_given_the_champion_moved_since_the_decision_when_approved_then_superseded_and_nothing_promoted(
    aws, sts, champion, trained, manual
):
    version = hold(aws, trained, manual)
    registry = Registry(aws, MODELS)
    registry.rollback(champion, reason="operator rolled back meanwhile")  # the same version, a new pointer

    with pytest.raises(ApprovalError, match=f"the champion moved since {version} was compared with it"):
        approve(aws, sts, manual, version)

    assert registry.champion().version == champion and state(aws, version) == "superseded"
    assert kinds(aws)[0] == "supersede"


def test_given_no_reason_when_rejected_then_refused_and_it_stays_pending(aws, sts, trained, manual):
    version = hold(aws, trained, manual)

    with pytest.raises(ApprovalError, match="a rejection needs a reason"):
        reject(aws, sts, manual, version, reason="  ")

    assert state(aws, version) == "pending"


# ---------------------------------------------------------------------------- two at once
def test_given_another_approval_wins_first_when_approving_then_exactly_one_approval_and_a_clear_message(
    aws, sts, champion, trained, manual
):
    version = hold(aws, trained, manual)
    first = ActsFirst(aws, lambda: approve(aws, sts, manual, version, note="the other operator"))

    with pytest.raises(
        ApprovalError, match=f"someone else acted on {version} at the same time and won: it was approved"
    ):
        approve(aws, sts, manual, version, pending=first)

    assert Registry(aws, MODELS).champion().version == version
    approvals_made = [d for d in Registry(aws, MODELS).history(limit=50) if d["kind"] == "approve"]
    assert [d["note"] for d in approvals_made] == ["the other operator"]


def test_given_a_rejection_at_the_same_moment_when_approving_then_the_rejection_wins_and_nothing_is_promoted(
    aws, sts, champion, trained, manual
):
    version = hold(aws, trained, manual)
    first = ActsFirst(aws, lambda: reject(aws, sts, manual, version, reason="the other operator said no"))

    with pytest.raises(ApprovalError, match=r"won: it was rejected at .*: the other operator said no"):
        approve(aws, sts, manual, version, pending=first)

    assert Registry(aws, MODELS).champion().version == champion and "approve" not in kinds(aws)


def test_given_an_approval_in_progress_when_approving_then_refused_as_only_one_wins(aws, sts, trained, manual):
    version = hold(aws, trained, manual)
    pending = PendingRecords(aws, MODELS)
    claim = {"id": "c1", "by": {"arn": "arn:aws:iam::1:user/ana"}, "at": utcnow().isoformat()}
    pending.replace(pending.get(version), state="approving", claim=claim)

    with pytest.raises(
        ApprovalError, match=r"being approved by arn:aws:iam::1:user/ana since .* only one approval wins"
    ):
        approve(aws, sts, manual, version)

    assert Registry(aws, MODELS).champion() is None


def test_given_the_champion_moves_between_the_check_and_the_write_then_superseded_and_the_other_champion_stays(
    aws, sts, champion, trained, manual
):
    version = hold(aws, trained, manual)
    registry = Registry(aws, MODELS)
    other = registry.publish(*trained)
    moved = ActsFirst(aws, lambda: registry.promote(other, expected=registry.champion(), decision={}))

    with pytest.raises(ApprovalError, match=f"the champion moved since {version} .* now {other}"):
        approve(aws, sts, manual, version, pending=moved)

    assert registry.champion().version == other and state(aws, version) == "superseded"


# ---------------------------------------------------------------------------- faults
class FailingRegistry(Registry):
    def promote(self, version, *, expected, decision) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "S3 is down"}}, "PutObject")


def test_given_s3_fails_while_promoting_then_the_claim_is_given_back_and_it_stays_pending(
    aws, sts, champion, trained, manual
):
    version = hold(aws, trained, manual)

    with pytest.raises(ClientError, match="S3 is down"):
        approve(aws, sts, manual, version, registry=FailingRegistry(aws, MODELS))

    assert state(aws, version) == "pending" and Registry(aws, MODELS).champion().version == champion
    approve(aws, sts, manual, version)  # and a later approval goes through
    assert Registry(aws, MODELS).champion().version == version


def stopped_half_way(s3, version: str, *, promoted: bool) -> None:
    """An approval that claimed `version` long ago and stopped (after moving the champion, or before)."""
    pending, registry = PendingRecords(s3, MODELS), Registry(s3, MODELS)
    claimed_at = utcnow() - CLAIM_TIMEOUT - timedelta(minutes=1)
    claim = {"id": "c-old", "by": {"arn": "arn:aws:iam::1:user/ana"}, "at": claimed_at.isoformat()}
    held = pending.replace(pending.get(version), state="approving", claim=claim)
    if promoted:
        decision = {"kind": "approve", "version": version, "claim": "c-old", "note": "before the crash"}
        registry.promote(version, expected=held.expected_champion(), decision=decision)


def test_given_an_approval_that_stopped_after_promoting_when_approved_then_finished_and_reported_as_approved(
    aws, sts, champion, trained, manual
):
    version = hold(aws, trained, manual)
    stopped_half_way(aws, version, promoted=True)

    with pytest.raises(ApprovalError, match=f"{version} is not pending: it was approved at .*: before the crash"):
        approve(aws, sts, manual, version)

    assert state(aws, version) == "approved" and kinds(aws)[0] == "approve"
    assert Registry(aws, MODELS).history(limit=1)[0]["claim"] == "c-old"


def test_given_an_approval_that_stopped_before_promoting_when_approved_then_reopened_and_approved(
    aws, sts, champion, trained, manual
):
    version = hold(aws, trained, manual)
    stopped_half_way(aws, version, promoted=False)

    approve(aws, sts, manual, version)

    assert Registry(aws, MODELS).champion().version == version and state(aws, version) == "approved"
