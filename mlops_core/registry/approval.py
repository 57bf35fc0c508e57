"""Candidates that passed the promotion gate: the one way such a candidate is put in place, and the
pending records of manual approval.

With `promotion.approval = "auto"` the training run puts a candidate that passed the gate in place
itself (`install_candidate`). With "manual" it holds it instead (`hold_candidate`): a pending record,
registry/pending/<version>.json, keeps the gate's decision with both models' metrics, the champion
and its pointer's ETag at decision time, and when it expires. `mlops approve` (mlopsctl/approvals.py)
later calls the same `install_candidate`, conditional on that ETag: a champion that moved since the
decision is never replaced on stale evidence.

A record's state moves only by conditional writes (IfMatch its ETag), so of two operators acting on
it at once exactly one wins:

    pending -> approving -> approved     (approving: claimed by one approval while it promotes)
    pending | approving -> superseded    (the champion moved after the decision)
    pending -> rejected | expired
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from ..config import ProjectConfig, PromotionSettings
from ..storage import is_precondition_failure, layout
from ..storage.s3json import get_json, put_json
from .challenger import comparable, start_challenge
from .store import ChampionConflict, ModelAlias, Registry, RegistryError

PENDING, APPROVING, APPROVED = "pending", "approving", "approved"
REJECTED, EXPIRED, SUPERSEDED = "rejected", "expired", "superseded"
OPEN = (PENDING, APPROVING)


class PendingConflict(RegistryError):
    """Someone else changed a pending record between our read and our write."""


def install_candidate(
    registry: Registry, version: str, *, expected: ModelAlias | None, decision: dict[str, Any], config: ProjectConfig
) -> str:
    """Put a candidate that passed the gate in place, if the champion pointer still is `expected`
    (ChampionConflict otherwise); returns where it went: "champion" or "challenger".

    It becomes the champion, unless challenger mode is on (`promotion.challenger`), a champion exists and
    the candidate reads the same features and predicts the same task: then it starts as the champion's
    challenger (mlops_core/registry/challenger.py) and live labeled batches decide. The training run's gate
    (approval "auto") and `mlops approve` (approval "manual") both call this, and nothing else moves a
    candidate into scoring.
    """
    if (
        config.promotion.challenger != "off"
        and expected is not None
        and comparable(registry, version, expected.version)
    ):
        current = registry.champion()
        if current is None or current.etag != expected.etag:
            raise ChampionConflict(f"the champion changed before {version} could challenge it; nothing was changed")
        challenge = {**decision, "mode": config.promotion.challenger}
        start_challenge(registry, version, champion=current, promotion=config.promotion, decision=challenge)
        return "challenger"
    registry.promote(version, expected=expected, decision=decision)
    return "champion"


@dataclass(frozen=True)
class Held:
    """A pending record as read, with the ETag that a conditional write of it needs."""

    record: dict[str, Any]
    etag: str

    @property
    def version(self) -> str:
        return str(self.record["version"])

    @property
    def state(self) -> str:
        return str(self.record["state"])

    @property
    def expires_at(self) -> datetime:
        return datetime.fromisoformat(self.record["expires_at"])

    def expected_champion(self) -> ModelAlias | None:
        """The champion pointer as the gate saw it: what approval's conditional write expects."""
        etag = self.record.get("champion_etag")
        return None if etag is None else ModelAlias("champion", self.record["champion"], etag, {})


class PendingRecords:
    """The candidates held for manual approval in one models bucket."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def hold(self, record: dict[str, Any]) -> Held:
        """Keep a new pending record (a version is held once: never overwritten)."""
        etag = put_json(self.s3, self.bucket, layout.pending_key(record["version"]), record, IfNoneMatch="*")
        return Held(record, etag)

    def get(self, version: str) -> Held | None:
        found = get_json(self.s3, self.bucket, layout.pending_key(version))
        return None if found is None else Held(*found)

    def replace(self, held: Held, **changes: Any) -> Held:
        """The record with `changes`, written only if it is still the one read (PendingConflict otherwise)."""
        record = {**held.record, **changes}
        try:
            etag = put_json(self.s3, self.bucket, layout.pending_key(held.version), record, IfMatch=held.etag)
        except ClientError as exc:
            if is_precondition_failure(exc):
                raise PendingConflict(f"the pending record of {held.version} changed meanwhile") from exc
            raise
        return Held(record, etag)

    def all(self) -> list[Held]:
        """Every pending record, whatever its state, oldest version first."""
        keys = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=layout.PENDING):
            keys += [o["Key"] for o in page.get("Contents", [])]
        found = (get_json(self.s3, self.bucket, key) for key in sorted(keys))
        return [Held(*f) for f in found if f is not None]

    def open(self) -> list[Held]:
        """The records still waiting for a decision (pending, or claimed by an approval in progress)."""
        return [h for h in self.all() if h.state in OPEN]


def hold_candidate(
    pending: PendingRecords,
    *,
    decision: dict[str, Any],
    champion: ModelAlias | None,
    settings: PromotionSettings,
    now: datetime,
) -> Held:
    """Hold a candidate that passed the gate for approval: its decision (with both models' metrics), the
    champion and its pointer's ETag as the gate saw them, and when it expires."""
    return pending.hold(
        {
            "version": decision["version"],
            "state": PENDING,
            "run_id": decision.get("run_id"),
            "decided_at": now.isoformat(),
            "expires_at": (now + timedelta(days=settings.pending_ttl_days)).isoformat(),
            "champion": champion.version if champion else None,
            "champion_etag": champion.etag if champion else None,
            "metric": settings.metric,
            "decision": decision,
        }
    )


def metrics_against(candidate: Mapping[str, Any], champion: Mapping[str, Any] | None) -> list[str]:
    """Each numeric metric of the candidate beside the champion's: `roc_auc 0.8123 (champion 0.8001)`."""
    lines = []
    for name, value in candidate.items():
        if not _is_number(value) or name == "rows":
            continue
        theirs = (champion or {}).get(name)
        beside = f" (champion {theirs:.4f})" if _is_number(theirs) else ""
        lines.append(f"{name} {value:.4f}{beside}")
    return lines


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def pending_alert(record: Mapping[str, Any], config: ProjectConfig) -> tuple[str, str]:
    """The SNS subject and message that tell people a candidate awaits approval, and how to decide."""
    version, decision = record["version"], record["decision"]
    champion = record.get("champion")
    project = "" if config.name == "mlops" else f"--config <{config.name}'s config file> "
    scoring = f"scoring keeps using the champion {champion}" if champion else "there is no champion: nothing is scored"
    lines = [
        f"Model {version} passed the promotion gate and awaits approval (promotion.approval = manual); "
        f"{scoring} until it is approved.",
        "",
        f"Candidate against champion {champion or '(none)'}, on the candidate's holdout:",
        *(f"  {line}" for line in metrics_against(decision["candidate_metrics"], decision.get("champion_metrics"))),
        "",
        "The gate's reasons:",
        *(f"  {reason}" for reason in decision.get("reasons", [])),
        "",
        f"It expires at {record['expires_at']} (promotion.pending_ttl_days = {config.promotion.pending_ttl_days:g}).",
        f"To promote it:  mlops {project}approve {version} --note TEXT",
        f"To reject it:   mlops {project}reject {version} --reason TEXT",
    ]
    return f"{config.name}: model {version} awaits approval"[:100], "\n".join(lines)
