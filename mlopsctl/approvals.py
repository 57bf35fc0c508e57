"""Manual approval by an operator: `mlops approve VERSION` and `mlops reject VERSION --reason TEXT`.

Both act on a candidate that a training run held for approval (mlops_core/registry/approval.py) and record who
acted, as STS sees the caller's credentials. Approval checks, in this order: the candidate is known
and still pending; it has not expired (an expired one is recorded as such); its artifact still has
its manifest's SHA-256; the champion has not moved since the gate's decision (else the candidate is
closed as superseded: its evidence is stale). It then claims the record (a conditional write, so of
two approvals at once exactly one goes on), puts the candidate in place through `install_candidate`
(conditional on the champion pointer's ETag at decision time), records the decision and closes the
record. A claim older than CLAIM_TIMEOUT belongs to an approval that stopped half-way: the next
approval or rejection finishes it (the champion moved to it) or reopens it (it did not).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from mlops_core.config import ProjectConfig
from mlops_core.registry.approval import (
    APPROVED,
    APPROVING,
    EXPIRED,
    PENDING,
    REJECTED,
    SUPERSEDED,
    Held,
    PendingConflict,
    PendingRecords,
    install_candidate,
)
from mlops_core.registry.runs import utcnow
from mlops_core.registry.store import ArtifactIntegrityError, ChampionConflict, Registry, UnknownVersion

from .stack import OpsError

CLAIM_TIMEOUT = timedelta(minutes=10)  # an approval holds its claim for seconds; one this old has stopped
TRAIN_ANEW = "train a new candidate with `mlops train` (it is compared with the current champion)"


class ApprovalError(OpsError):
    """An approval or rejection was refused: the message says why, the hint what to do."""


def caller_identity(sts: Any) -> dict[str, str]:
    """Who is acting, as AWS sees the caller's credentials; recorded with every decision they make."""
    found = sts.get_caller_identity()
    return {"arn": found["Arn"], "account": found["Account"], "user_id": found["UserId"]}


def approve(
    *,
    registry: Registry,
    pending: PendingRecords,
    sts: Any,
    version: str,
    note: str,
    config: ProjectConfig,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Put a pending candidate in place; returns the history's `approve` decision (ApprovalError if refused)."""
    now = now or utcnow()
    who = caller_identity(sts)
    held = _open_candidate(registry, pending, version=version, who=who, now=now, config=config)
    _check_artifact(registry, version)
    if _champion_etag(registry) != held.record.get("champion_etag"):
        raise _supersede(registry, pending, held, who=who, now=now)
    claim = {"id": secrets.token_hex(8), "by": who, "at": now.isoformat()}
    held = _replace(pending, held, state=APPROVING, claim=claim)
    why = f"approved by {who['arn']}" + (f": {note}" if note else "")
    decision = _decision(held, "approve", who, why, note=note, claim=claim["id"], previous=held.record["champion"])
    try:
        placed = install_candidate(
            registry, version, expected=held.expected_champion(), decision=decision, config=config
        )
        decision["placed_as"] = placed  # the champion, or (challenger mode) the champion's challenger
    except ChampionConflict as exc:
        raise _supersede(registry, pending, held, who=who, now=now) from exc
    except Exception:
        pending.replace(held, state=PENDING, claim=None)  # nothing was put in place: give the claim back
        raise
    registry.record_decision(decision)
    _replace(pending, held, state=APPROVED, closed_at=now.isoformat(), closed_by=who, note=note)
    return decision


def reject(
    *,
    registry: Registry,
    pending: PendingRecords,
    sts: Any,
    version: str,
    reason: str,
    config: ProjectConfig,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Close a pending candidate without promoting it; returns the history's `reject-pending` decision."""
    if not reason.strip():
        raise ApprovalError("a rejection needs a reason", f"say why: `mlops reject {version} --reason TEXT`")
    now = now or utcnow()
    who = caller_identity(sts)
    held = _open_candidate(registry, pending, version=version, who=who, now=now, config=config)
    closed = _replace(pending, held, state=REJECTED, closed_at=now.isoformat(), closed_by=who, reason=reason)
    decision = _decision(closed, "reject-pending", who, f"rejected by {who['arn']}: {reason}", reason=reason)
    registry.record_decision(decision)
    return decision


def _open_candidate(
    registry: Registry,
    pending: PendingRecords,
    *,
    version: str,
    who: dict[str, str],
    now: datetime,
    config: ProjectConfig,
) -> Held:
    """The candidate's record if it still awaits a decision; else ApprovalError saying what became of it."""
    held = pending.get(version)
    if held is None:
        raise _unknown(registry, pending, version, config)
    if held.state == APPROVING:
        held = _settle(registry, pending, held, now=now)
    if held.state != PENDING:
        hint = "it is in place already: see `mlops status`" if held.state == APPROVED else TRAIN_ANEW
        raise ApprovalError(f"{version} is not pending: it was {state_text(held.record)}", hint)
    if now >= held.expires_at:
        closed = _replace(pending, held, state=EXPIRED, closed_at=now.isoformat(), closed_by=who)
        registry.record_decision(_decision(closed, "expire", who, f"not approved by {held.record['expires_at']}"))
        raise ApprovalError(
            f"{version} expired at {held.record['expires_at']} (held since {held.record['decided_at']}, "
            "promotion.pending_ttl_days): recorded as expired, nothing was promoted",
            TRAIN_ANEW,
        )
    return held


def _unknown(registry: Registry, pending: PendingRecords, version: str, config: ProjectConfig) -> ApprovalError:
    waiting = [h.version for h in pending.open()]
    listed = f"pending: {', '.join(waiting)}" if waiting else "no candidate awaits approval"
    if config.promotion.approval == "auto":
        listed += " (promotion.approval is auto: training promotes a candidate that passes the gate itself)"
    try:
        registry.manifest(version)
        what = f"model version {version} was never held for approval"
    except UnknownVersion:
        what = f"unknown model version {version!r}"
    return ApprovalError(f"{what}: nothing to approve or reject", f"{listed}; see `mlops status`")


def _settle(registry: Registry, pending: PendingRecords, held: Held, *, now: datetime) -> Held:
    """A record claimed by another approval: refused while that approval may still run; past CLAIM_TIMEOUT,
    finished if the champion moved to it (recording its decision), else reopened."""
    claim = held.record["claim"]
    if now - datetime.fromisoformat(claim["at"]) < CLAIM_TIMEOUT:
        raise ApprovalError(
            f"{held.version} is being approved by {claim['by']['arn']} since {claim['at']}: only one approval wins",
            "see `mlops status` in a moment",
        )
    champion = registry.champion()
    decision = (champion.record.get("decision") or {}) if champion else {}
    if decision.get("claim") == claim["id"]:
        registry.record_decision(decision)  # the champion moved: the approval only missed its bookkeeping
        closed = {"closed_at": claim["at"], "closed_by": claim["by"], "note": decision.get("note", "")}
        return _replace(pending, held, state=APPROVED, **closed)
    return _replace(pending, held, state=PENDING, claim=None)


def _check_artifact(registry: Registry, version: str) -> None:
    try:
        registry.verified_artifact(version)
    except ArtifactIntegrityError as exc:
        raise ApprovalError(
            f"the artifact of {version} no longer has the SHA-256 its manifest records (corrupted or swapped): "
            "refusing to approve it",
            f"reject it (`mlops reject {version} --reason ...`), then {TRAIN_ANEW}",
        ) from exc


def _champion_etag(registry: Registry) -> str | None:
    current = registry.champion()
    return current.etag if current else None


def _supersede(
    registry: Registry, pending: PendingRecords, held: Held, *, who: dict[str, str], now: datetime
) -> ApprovalError:
    """Close a candidate whose champion moved after the gate's decision; the error that says so."""
    current = registry.champion()
    then, moved_to = held.record["champion"] or "none", current.version if current else "none"
    closed = _replace(pending, held, state=SUPERSEDED, closed_at=now.isoformat(), closed_by=who, champion_now=moved_to)
    registry.record_decision(_decision(closed, "supersede", who, f"the champion moved from {then} to {moved_to}"))
    return ApprovalError(
        f"the champion moved since {held.version} was compared with it (then {then}, now {moved_to}): "
        "its evidence is stale, so it was closed as superseded and nothing was promoted",
        TRAIN_ANEW,
    )


def _replace(pending: PendingRecords, held: Held, **changes: Any) -> Held:
    """`pending.replace`, with the lost race explained: someone else acted on the candidate first."""
    try:
        return pending.replace(held, **changes)
    except PendingConflict as exc:
        now = pending.get(held.version)
        state = state_text(now.record) if now else "gone"
        raise ApprovalError(
            f"someone else acted on {held.version} at the same time and won: it was {state}; you changed nothing",
            "see `mlops status`",
        ) from exc


def _decision(held: Held, kind: str, who: dict[str, str], why: str, **extra: Any) -> dict[str, Any]:
    """A history decision about a held candidate: who acted and why, with the gate's evidence."""
    gate = held.record["decision"]
    return {
        "kind": kind,
        "version": held.version,
        "run_id": held.record.get("run_id"),
        "champion": held.record.get("champion"),
        "by": who,
        "decided_at": held.record["decided_at"],
        "reasons": [why, *gate.get("reasons", [])],
        "candidate_metrics": gate.get("candidate_metrics"),
        "champion_metrics": gate.get("champion_metrics"),
        **extra,
    }


def state_text(record: dict[str, Any]) -> str:
    """What became of a held candidate, in words: `rejected at T by ARN: reason`."""
    state, by = record["state"], (record.get("closed_by") or {}).get("arn", "?")
    closed = f"{state} at {record.get('closed_at')} by {by}"
    return {
        PENDING: f"pending since {record['decided_at']} (expires {record['expires_at']})",
        APPROVING: f"being approved by {(record.get('claim') or {}).get('by', {}).get('arn', '?')}",
        APPROVED: closed + (f": {record['note']}" if record.get("note") else ""),
        REJECTED: f"{closed}: {record.get('reason')}",
        EXPIRED: f"expired at {record['expires_at']} (recorded at {record.get('closed_at')} by {by})",
        SUPERSEDED: f"{closed}: the champion moved from {record.get('champion') or 'none'} to "
        f"{record.get('champion_now')} after its decision",
    }.get(state, state)
