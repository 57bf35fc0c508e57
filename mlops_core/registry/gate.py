"""The promotion gate as a candidate goes through it: the champion scored on the candidate's holdout,
the decision (mlops_core/registry/promotion.py), and what follows it, recorded in the registry's history.

Two holdouts judge a candidate. The fresh one (the newest rows, feedback included) says whether it fits
today's data; the reference holdout (`ReferenceHoldout`: rows under holdout/, or curated training/
rows, which no upload can write) says it has not been steered: the candidate must pass the same rule
there too, against the champion on the same rows, with its own floor and tolerance
(`promotion.reference_floor`, `promotion.reference_tolerance`).

A candidate that passes is put in place (`install_candidate`: the champion, or in challenger mode its
challenger) with `promotion.approval = "auto"`, or held for `mlops approve` with "manual". A training
run (training/train.py) and `mlops register --promote` (mlopsctl/register.py) both go through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..config import ProjectConfig, Task
from ..modeling import Predictor, features_from_schema
from ..modeling import metrics as metrics_of
from .approval import PendingRecords, hold_candidate, install_candidate
from .promotion import decide
from .runs import utcnow
from .store import ChampionConflict, ModelAlias, Registry


@dataclass(frozen=True)
class ReferenceHoldout:
    """Rows no upload can change, with the candidate's metrics on them; `source` says where they came from."""

    x: pd.DataFrame
    y: np.ndarray
    candidate_metrics: dict[str, float]
    source: str

    def describe(self) -> str:
        return f"reference holdout ({self.source}, {len(self.y):,} rows)"


@dataclass
class GateOutcome:
    record: dict[str, Any]  # the decision as the registry's history keeps it
    promoted: bool
    champion_metrics: dict[str, float] | None
    pending: dict[str, Any] | None = None  # manual approval: the candidate's pending record


def gate_promotion(
    registry: Registry,
    *,
    version: str,
    metrics: dict[str, float],
    x_holdout: pd.DataFrame,
    y_holdout: np.ndarray,
    task: Task,
    config: ProjectConfig,
    run_id: str | None,
    notes: Sequence[str] = (),
    reference: ReferenceHoldout | None = None,
) -> GateOutcome:
    """Score the champion on the candidate's holdout (and on the reference holdout), decide, and record the
    decision (with `notes` among its reasons); a candidate that passes is put in place (approval "auto") or
    held for `mlops approve` (approval "manual")."""
    champion = registry.champion()
    champion_metrics, compared = _champion_metrics(registry, champion, x_holdout, y_holdout, task=task, config=config)
    decision = decide(metrics, champion_metrics, config.promotion)
    record: dict[str, Any] = {
        "kind": "promote" if decision.promote else "reject",
        "version": version,
        "run_id": run_id,
        "champion": champion.version if champion else None,
        "reasons": [*decision.reasons, *compared, *notes],
        "candidate_metrics": metrics,
        "champion_metrics": champion_metrics,
    }
    promote = decision.promote
    if reference is not None:
        passed, judged = _reference_decision(registry, champion, reference, task=task, config=config)
        promote = promote and passed
        record = {**record, **judged, "kind": "promote" if promote else "reject"}
        record["reasons"] = [*record["reasons"], *judged["reference"]["reasons"]]
    outcome = GateOutcome(record, False, champion_metrics)
    if promote and config.promotion.approval == "manual":
        outcome = _hold(registry, outcome, champion=champion, config=config)
    elif promote:
        try:
            placed = install_candidate(registry, version, expected=champion, decision=record, config=config)
            outcome.promoted = placed == "champion"
            if placed == "challenger":  # it challenges the champion on live batches first
                outcome.record = {**record, "kind": "challenge", "mode": config.promotion.challenger}
        except ChampionConflict as exc:
            outcome.record = {**record, "kind": "conflict", "reasons": [*record["reasons"], str(exc)]}
    registry.record_decision(outcome.record)
    return outcome


def _reference_decision(
    registry: Registry, champion: ModelAlias | None, reference: ReferenceHoldout, *, task: Task, config: ProjectConfig
) -> tuple[bool, dict[str, Any]]:
    """The gate's rule on the reference holdout, with its own floor; (passed, what the record keeps)."""
    champion_metrics, compared = _champion_metrics(
        registry, champion, reference.x, reference.y, task=task, config=config
    )
    settings = config.promotion
    floor = settings.floor if settings.reference_floor is None else settings.reference_floor
    tolerance = 5 * settings.tolerance if settings.reference_tolerance is None else settings.reference_tolerance
    rule = replace(settings, floor=floor, tolerance=tolerance)
    decision = decide(reference.candidate_metrics, champion_metrics, rule)
    reasons = [f"{reference.describe()}: {reason}" for reason in [*decision.reasons, *compared]]
    judged = {
        "source": reference.source,
        "rows": len(reference.y),
        "candidate_metrics": reference.candidate_metrics,
        "champion_metrics": champion_metrics,
        "reasons": reasons,
    }
    return decision.promote, {"reference": judged}


def _hold(
    registry: Registry, outcome: GateOutcome, *, champion: ModelAlias | None, config: ProjectConfig
) -> GateOutcome:
    """Manual approval: nothing changes in scoring; the candidate waits, pending, for `mlops approve`."""
    record = {**outcome.record, "kind": "pending"}
    pending = PendingRecords(registry.s3, registry.bucket)
    held = hold_candidate(pending, decision=record, champion=champion, settings=config.promotion, now=utcnow())
    expires = held.record["expires_at"]
    waits = f"awaiting approval (promotion.approval = manual) until {expires}: `mlops approve {held.version}`"
    record = {**record, "expires_at": expires, "reasons": [*record["reasons"], waits]}
    return GateOutcome(record, False, outcome.champion_metrics, held.record)


def _champion_metrics(
    registry: Registry,
    champion: ModelAlias | None,
    x: pd.DataFrame,
    y: np.ndarray,
    *,
    task: Task,
    config: ProjectConfig,
) -> tuple[dict[str, float] | None, list[str]]:
    """The champion's metrics on the holdout, or None (no champion, or another feature schema, task or
    classes) with a note why."""
    if champion is None:
        return None, []
    model, manifest = registry.load_model(champion.version)
    if features_from_schema(manifest["schema"]) != config.features:
        return None, [f"champion {champion.version} has another feature schema: compared on the floor only"]
    theirs = Task.from_schema(manifest["schema"])
    if (theirs.kind, theirs.classes) != (task.kind, task.classes):
        return None, [
            f"champion {champion.version} predicts another task or classes ({theirs.kind}: "
            f"{', '.join(theirs.classes) or 'values'}): compared on the floor only"
        ]
    return metrics_of(task, y, Predictor(model, task).predict(x)), []
