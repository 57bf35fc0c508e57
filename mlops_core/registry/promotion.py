"""The promotion gate: a candidate replaces the champion only if it is at least as good.

"Good" follows the metric's direction (mlops_core.config.task.METRICS): for a metric where higher is
better (ROC AUC, accuracy, F1, R²) the floor is the lowest acceptable value and the candidate may
fall short of the champion by `tolerance`; for one where lower is better (log loss, RMSE, MAE) the
floor is the highest acceptable value and the candidate may exceed the champion by `tolerance`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..config import METRICS, PromotionSettings


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: list[str]
    metric: str
    candidate: float
    champion: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(candidate: dict[str, Any], champion: dict[str, Any] | None, settings: PromotionSettings) -> Decision:
    """Promote iff the candidate reaches the floor and (first model, or is within `tolerance` of the
    champion, in the metric's direction).

    Both metric dicts must come from the same holdout; `champion` is None when there is none yet.
    """
    name = settings.metric
    higher = METRICS[name].higher_is_better
    cand = float(candidate[name])
    reasons = []
    floor_ok = cand >= settings.floor if higher else cand <= settings.floor
    limit = "floor" if higher else "ceiling"
    reasons.append(f"{name} {cand:.4f} {_relation(cand, settings.floor, floor_ok)} {limit} {settings.floor:.4f}")
    if champion is None:
        reasons.append(f"no champion yet: the {limit} alone decides")
        return Decision(floor_ok, reasons, name, cand, None)
    champ = float(champion[name])
    bar = champ - settings.tolerance if higher else champ + settings.tolerance
    beats = cand >= bar if higher else cand <= bar
    sign = "-" if higher else "+"
    reasons.append(
        f"{name} {cand:.4f} {_relation(cand, bar, beats)} champion {champ:.4f} {sign} tolerance "
        f"{settings.tolerance:.4f} = {bar:.4f}" + ("" if higher else " (lower is better)")
    )
    return Decision(floor_ok and beats, reasons, name, cand, champ)


def _relation(value: float, bar: float, ok: bool) -> str:
    """The comparison sign that reads true: `>=`/`<` when higher is better, `<=`/`>` when lower is."""
    if ok:
        return ">=" if value >= bar else "<="
    return "<" if value < bar else ">"
