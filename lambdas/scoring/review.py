"""After a job with labeled rows for the challenger: add up its evidence over every job so far, apply the
rule (mlops_core.registry.challenger.rule) and act on it: promote the challenger or retire it, once.

Promotion is the champion pointer's conditional write (the champion the challenger was started against,
at the ETag just read), so of two jobs reviewing at once only one promotes; retirement is the challenger
pointer's conditional write. Only the writer that wins records the decision, with its evidence, in the
registry's history and tells people.
"""

from __future__ import annotations

from typing import Any

from mlops_core.config import PromotionSettings
from mlops_core.registry.challenger import Ruling, rule, total_evidence
from mlops_core.registry.store import ChampionConflict, ModelAlias, Registry

from .challenge import Alert


def review_challenger(
    *,
    registry: Registry,
    s3: Any,
    data_bucket: str,
    version: str,
    promotion: PromotionSettings,
    classification: bool,
    alert: Alert,
) -> Ruling | None:
    """Apply the rule to challenger `version` if it is still the active one; act on a decision. The ruling,
    or None when the challenger is no longer active."""
    pointer = registry.challenger()
    if pointer is None or pointer.version != version or pointer.record.get("status") != "active":
        return None
    evidence, jobs = total_evidence(s3, data_bucket, version)
    ruling = rule(
        evidence,
        mode=pointer.record["mode"],
        classification=classification,
        confidence=promotion.challenger_confidence,
        min_rows=promotion.challenger_min_rows,
        max_rows=promotion.challenger_max_rows,
    )
    if ruling.action == "continue":
        return ruling
    decision = {
        "kind": f"challenger-{ruling.action}",
        "version": version,
        "champion": pointer.record.get("champion"),
        "mode": pointer.record["mode"],
        "reasons": ruling.reasons,
        "test": ruling.to_dict()["test"],
        "confidence": promotion.challenger_confidence,
        "evidence": {**evidence.to_dict(), "jobs": jobs},
    }
    if _act(registry, pointer, ruling, decision):
        registry.record_decision(decision)
        verb = "promoted to champion" if ruling.action == "promote" else "retired"
        alert(f"challenger {version} {verb}", "\n".join([f"Challenger {version} was {verb}.", "", *ruling.reasons]))
    return ruling


def _act(registry: Registry, pointer: ModelAlias, ruling: Ruling, decision: dict[str, Any]) -> bool:
    """Promote or retire; True when this call made the change (False: another job did, or the champion moved)."""
    if ruling.action == "retire":
        return registry.close_challenger(pointer, status="retired", reasons=ruling.reasons)
    champion = registry.champion()
    if champion is None or champion.version != pointer.record.get("champion"):
        return False  # the champion moved since the challenge started: the next job retires the challenger
    try:
        registry.promote(pointer.version, expected=champion, decision=decision)
    except ChampionConflict:
        return False
    registry.close_challenger(pointer, status="promoted", reasons=ruling.reasons)
    return True
