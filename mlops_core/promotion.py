"""The promotion gate: a candidate replaces the champion only if it is at least as good."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .config import PromotionSettings


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: list[str]
    metric: str
    candidate: float
    champion: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(candidate: dict[str, float], champion: dict[str, float] | None, settings: PromotionSettings) -> Decision:
    """Promote iff the candidate reaches the floor and (first model, or >= champion - tolerance).

    Both metric dicts must come from the same holdout; `champion` is None when there is none yet.
    """
    name = settings.metric
    cand = float(candidate[name])
    reasons = []
    floor_ok = cand >= settings.floor
    reasons.append(f"{name} {cand:.4f} {'>=' if floor_ok else '<'} floor {settings.floor:.4f}")
    if champion is None:
        reasons.append("no champion yet: the floor alone decides")
        return Decision(floor_ok, reasons, name, cand, None)
    champ = float(champion[name])
    bar = champ - settings.tolerance
    beats = cand >= bar
    reasons.append(
        f"{name} {cand:.4f} {'>=' if beats else '<'} champion {champ:.4f} - tolerance {settings.tolerance:.4f}"
        f" = {bar:.4f}"
    )
    return Decision(floor_ok and beats, reasons, name, cand, champ)
