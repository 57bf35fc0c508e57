"""The challenger in a scoring job: found and loaded beside the champion, scoring its rows (shadow: all of
them into shadow/; split: its share, served), and what the job learned about it (mlops_core/registry/challenger.py
holds the rows' assignment, the evidence and the rule; lambdas/scoring/review.py acts on the rule).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlops_core.config import DriftSettings
from mlops_core.config.task import Task
from mlops_core.data.convert import Chunk
from mlops_core.modeling.predictions import Predictions, Predictor, metrics
from mlops_core.monitoring.drift import DriftAccumulator
from mlops_core.observability import function_logger
from mlops_core.registry.challenger import Evidence, challenger_rows, paired_evidence, unpaired_evidence
from mlops_core.registry.store import ArtifactIntegrityError, ModelAlias, ModelCodeMissing, Registry

from .models import load_version

logger = function_logger("scoring")

Alert = Callable[[str, str], None]  # (subject, message) to the alerts topic


@dataclass(frozen=True)
class Contender:
    """The active challenger: its pointer, model and manifest."""

    pointer: ModelAlias
    model: Any
    manifest: dict[str, Any]

    @property
    def version(self) -> str:
        return self.pointer.version

    @property
    def mode(self) -> str:
        return str(self.pointer.record["mode"])


def load_contender(registry: Registry, champion_version: str, *, alert: Alert) -> Contender | None:
    """The active challenger of `champion_version`, loaded; None when there is none.

    A challenger whose artifact fails its checksum is suspended (the champion scores alone) and people are
    told; one started against another champion (a rollback since) is retired. Either is decided once: the
    pointer is closed by a conditional write, and only the writer that wins records it and alerts.
    """
    pointer = registry.challenger()
    if pointer is None or pointer.record.get("status") != "active":
        return None
    if pointer.record.get("champion") != champion_version:
        _settle(registry, pointer)
        return None
    try:
        model, manifest = load_version(registry, pointer.version)
    except (ArtifactIntegrityError, ModelCodeMissing) as exc:  # checksum failed, or its code is not deployed
        _close(registry, pointer, "suspended", str(exc), alert=alert)
        return None
    return Contender(pointer, model, manifest)


def _settle(registry: Registry, pointer: ModelAlias) -> None:
    """A job whose champion is not the one the challenger challenges: close the challenger if the champion
    pointer itself moved (to the challenger: a review that stopped before closing it; elsewhere: a rollback).
    Otherwise the job is a byte range pinned to an earlier champion, and the challenger sits it out."""
    current = registry.champion()
    if current is None or current.version == pointer.record.get("champion"):
        return
    if current.version == pointer.version:
        registry.close_challenger(pointer, status="promoted", reasons=["it is the champion"])
        return
    reason = f"the champion is now {current.version}, not {pointer.record.get('champion')} it challenged"
    _close(registry, pointer, "retired", reason, alert=None)


def _close(registry: Registry, pointer: ModelAlias, status: str, reason: str, *, alert: Alert | None) -> None:
    """Close the challenger and record why; then tell people, best effort: the decision is already in the
    history (`mlops status`), and a failed publish must not fail the file, whose retry would find the
    challenger closed and tell no one either."""
    if not registry.close_challenger(pointer, status=status, reasons=[reason]):
        return
    registry.record_decision({"kind": f"challenger-{status}", "version": pointer.version, "reasons": [reason]})
    if alert is None:
        return
    try:
        alert(
            f"challenger {pointer.version} {status}",
            f"Challenger {pointer.version} was {status}; the champion scores every row alone.\n\n{reason}",
        )
    except Exception:
        logger.exception("the challenger alert was not sent", extra={"challenger": pointer.version, "status": status})


@dataclass
class ChallengerRun:
    """One job's challenger: scores its rows, writes shadow rows, and gathers its drift and evidence."""

    contender: Contender
    task: Task
    id_index: int | None  # split: the id column's place in the header; None: the file has no such column
    drift: DriftAccumulator
    predictor: Predictor = field(init=False)
    evidence: Evidence = field(default_factory=Evidence)
    labels: list[np.ndarray] = field(default_factory=list)
    labeled: list[Predictions] = field(default_factory=list)
    rows: int = 0

    def __post_init__(self) -> None:
        self.predictor = Predictor(self.contender.model, self.task)

    @classmethod
    def start(cls, contender: Contender, header: list[str], *, task: Task) -> ChallengerRun:
        id_column = contender.pointer.record.get("id_column")
        id_index = header.index(id_column) if id_column in header else None
        return cls(contender, task, id_index, DriftAccumulator(contender.manifest["profile"]))

    @property
    def shadow(self) -> bool:
        return self.contender.mode == "shadow"

    def predict_all(self, chunk: Chunk, x: pd.DataFrame, champion: Predictions) -> Predictions:
        """Shadow: the challenger's predictions of every row (to write under shadow/), counted as evidence."""
        theirs = self.predictor.predict(x)
        self._count(chunk.columns, theirs)
        if chunk.label is not None and (known := chunk.labeled).any():
            truth = chunk.label[known]
            self._labeled(truth, theirs.subset(known))
            self.evidence += paired_evidence(truth, champion.subset(known), theirs.subset(known))
        return theirs

    def serve_share(self, chunk: Chunk, x: pd.DataFrame, champion: Predictions) -> tuple[Predictions, np.ndarray]:
        """Split: the predictions served (the challenger's on its share of rows) and which rows are its."""
        mine = self.assigned(chunk)
        if not mine.any():
            return champion, mine
        theirs = self.predictor.predict(x.iloc[np.flatnonzero(mine)])
        self._count({k: v[mine] for k, v in chunk.columns.items()}, theirs)
        served = _merge(champion, theirs, mine)
        if chunk.label is not None and (known := chunk.labeled).any():
            self._labeled(chunk.label[known & mine], served.subset(known & mine))
            self.evidence += unpaired_evidence(
                chunk.label[known & ~mine],
                champion.subset(known & ~mine),
                chunk.label[known & mine],
                served.subset(known & mine),
            )
        return served, mine

    def assigned(self, chunk: Chunk) -> np.ndarray:
        """The chunk's rows whose id's hash falls in the challenger's share (none without the id column)."""
        if self.id_index is None:
            return np.zeros(len(chunk), dtype=bool)
        ids = chunk.text_columns[self.id_index]
        return challenger_rows(list(ids), float(self.contender.pointer.record["share"]))

    def _count(self, columns: dict[str, np.ndarray], predictions: Predictions) -> None:
        self.drift.update(columns, predictions.drift_values, self.predictor.analysed())
        self.rows += len(predictions)

    def _labeled(self, truth: np.ndarray, predictions: Predictions) -> None:
        if len(truth):
            self.labels.append(truth)
            self.labeled.append(predictions)

    def result(self, settings: DriftSettings, *, shadow_key: str | None) -> dict[str, Any]:
        """What the receipt keeps about the challenger in this job."""
        pointer = self.contender.pointer.record
        summary = self.drift.summary(settings).to_dict() if self.rows else None
        labeled = None
        if self.labels:
            labeled = metrics(self.task, np.concatenate(self.labels), Predictions.concatenate(self.labeled))
        out: dict[str, Any] = {
            "version": self.contender.version,
            "mode": self.contender.mode,
            "champion": pointer.get("champion"),
            "rows": self.rows,
            "drift": _drift_brief(summary),
            "labeled": labeled,
            "evidence": self.evidence.to_dict(),
        }
        if shadow_key:
            out["shadow"] = shadow_key
        if not self.shadow and self.id_index is None:
            out["note"] = f"no column {pointer.get('id_column')!r} in the file: the champion scored every row"
        return out


def _merge(champion: Predictions, challenger: Predictions, mine: np.ndarray) -> Predictions:
    predicted = champion.predicted.copy()
    predicted[mine] = challenger.predicted
    proba = None
    if champion.proba is not None and challenger.proba is not None:
        proba = champion.proba.copy()
        proba[mine] = challenger.proba
    return Predictions(predicted, proba, champion.positive)


def _drift_brief(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    if summary is None:
        return None
    keys = ("rows", "verdict", "drifted_share", "worst_feature", "worst_psi", "prediction_psi")
    return {k: summary.get(k) for k in keys}


def versions_column(champion: str, challenger: str, mine: np.ndarray) -> Iterable[str]:
    """The `model_version` cell of each row in split mode."""
    return np.where(mine, challenger, champion).tolist()
