"""Drift statistics: reference profiles and the population stability index (PSI), computed streaming.

A profile stores, per feature, the bins of the training data: quantile bin edges and proportions
for numeric features, category proportions for categorical ones, and the same for the model's
prediction scores. A batch is compared by counting its values into the same bins, chunk by chunk,
so memory stays O(bins) however large the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .config import DriftSettings, Feature

OTHER = "__other__"  # categories the model never saw
EPSILON = 1e-4


def _quantile_edges(values: np.ndarray, bins: int) -> list[float]:
    """Inner cut points at the quantiles of `values` (duplicates dropped, so ties make fewer bins)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return []
    qs = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
    return [float(q) for q in np.unique(qs)]


def _numeric_counts(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    # Bin i holds edges[i-1] < x <= edges[i]; values beyond the outer edges fall in the outer bins.
    return np.bincount(np.searchsorted(np.asarray(edges), values, side="left"), minlength=len(edges) + 1)


def _categorical_counts(values: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    """Counts per category, then one count for values outside `categories`."""
    index = {c: i for i, c in enumerate(categories)}
    uniques, counts = np.unique(values.astype(str), return_counts=True)
    out = np.zeros(len(categories) + 1, dtype=np.int64)
    for value, count in zip(uniques, counts, strict=True):
        out[index.get(value, len(categories))] += count
    return out


def _proportions(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [float(c) for c in (counts / total if total else counts.astype(float))]


def build_profile(
    columns: Mapping[str, np.ndarray], features: Sequence[Feature], scores: np.ndarray, bins: int
) -> dict[str, Any]:
    """The reference profile of a training set (JSON-serialisable, stored in the model manifest)."""
    profile: dict[str, Any] = {"features": {}, "rows": len(scores)}
    for feature in features:
        values = columns[feature.name]
        if feature.is_numeric:
            values = np.asarray(values, dtype=np.float64)  # no copy when already float64
            edges = _quantile_edges(values, bins)
            counts = _numeric_counts(values, edges)
            profile["features"][feature.name] = {"type": "numeric", "edges": edges, "proportions": _proportions(counts)}
        else:
            counts = _categorical_counts(values, feature.categories)[:-1]
            profile["features"][feature.name] = {
                "type": "categorical",
                "categories": list(feature.categories),
                "proportions": _proportions(counts),
            }
    edges = _quantile_edges(scores.astype(float), bins)
    profile["prediction"] = {"edges": edges, "proportions": _proportions(_numeric_counts(scores, edges))}
    return profile


def psi(expected: Sequence[float] | np.ndarray, actual: Sequence[float] | np.ndarray, eps: float = EPSILON) -> float:
    """Population stability index of `actual` (counts or proportions) against `expected` proportions.

    Empty bins are smoothed with `eps` so that a bin seen on one side only gives a large, finite value.
    """
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if a.sum() > 0:
        a = a / a.sum()
    e = np.clip(e, eps, None)
    a = np.clip(a, eps, None)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


@dataclass
class DriftSummary:
    """The drift verdict of one batch against a model's reference profile."""

    rows: int
    min_rows: int
    feature_psi: dict[str, float]
    prediction_psi: float | None
    worst_feature: str | None
    worst_psi: float | None
    drifted_features: list[str]
    drifted_share: float | None
    verdict: bool | None  # None: too few rows for a verdict
    actual: dict[str, list[float]] = field(default_factory=dict)  # the batch's proportions per bin

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DriftAccumulator:
    """Counts a batch into a profile's bins chunk by chunk; `summary` gives the PSI verdict."""

    def __init__(self, profile: Mapping[str, Any]) -> None:
        self.profile = profile
        self.rows = 0
        self._counts: dict[str, np.ndarray] = {}
        for name, spec in profile["features"].items():
            # Categorical features get one extra bin for unseen categories.
            size = len(spec["edges"]) + 1 if spec["type"] == "numeric" else len(spec["categories"]) + 1
            self._counts[name] = np.zeros(size, dtype=np.int64)
        self._score_counts = np.zeros(len(profile["prediction"]["edges"]) + 1, dtype=np.int64)

    def update(self, columns: Mapping[str, np.ndarray], scores: np.ndarray) -> None:
        """Add one chunk: feature columns (as for model_input) and the model's scores on them."""
        for name, spec in self.profile["features"].items():
            values = columns[name]
            if spec["type"] == "numeric":
                self._counts[name] += _numeric_counts(np.asarray(values, dtype=np.float64), spec["edges"])
            else:
                self._counts[name] += _categorical_counts(values, spec["categories"])
        self._score_counts += _numeric_counts(scores, self.profile["prediction"]["edges"])
        self.rows += len(scores)

    def summary(self, settings: DriftSettings) -> DriftSummary:
        feature_psi: dict[str, float] = {}
        actual: dict[str, list[float]] = {}
        for name, spec in self.profile["features"].items():
            expected = list(spec["proportions"])
            if spec["type"] == "categorical":
                expected.append(0.0)  # the model saw no other category: any share of them is drift
            feature_psi[name] = round(psi(expected, self._counts[name]), 6)
            actual[name] = _proportions(self._counts[name])
        prediction_psi = round(psi(self.profile["prediction"]["proportions"], self._score_counts), 6)
        actual["prediction"] = _proportions(self._score_counts)
        enough = self.rows >= settings.min_rows
        drifted = sorted(n for n, v in feature_psi.items() if v > settings.psi_threshold)
        worst = max(feature_psi, key=feature_psi.__getitem__) if feature_psi else None
        share = len(drifted) / len(feature_psi) if feature_psi else 0.0
        drifted_enough = bool(drifted) and share >= settings.drifted_share_threshold
        verdict = (drifted_enough or prediction_psi > settings.prediction_psi_threshold) if enough else None
        return DriftSummary(
            rows=self.rows,
            min_rows=settings.min_rows,
            feature_psi=feature_psi,
            prediction_psi=prediction_psi,
            worst_feature=worst,
            worst_psi=feature_psi[worst] if worst else None,
            drifted_features=drifted,
            drifted_share=round(share, 4),
            verdict=verdict,
            actual=actual,
        )
