"""Drift statistics: reference profiles and the population stability index (PSI), computed streaming.

A profile stores, per feature, the bins of the training data: quantile bin edges and proportions
for numeric features, category proportions for categorical ones, and the same for the model's
prediction scores. A batch is compared by counting its values into the same bins, chunk by chunk,
so memory stays O(bins) however large the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .config import DriftSettings, Feature
from .estimate import PerformanceEstimator
from .multivariate import BatchSample, domain_classifier_drift
from .verdict import DriftSummary, Signal, judge, psi_threshold_for

OTHER = "__other__"  # categories the model never saw
EPSILON = 1e-4


def _quantile_edges(values: np.ndarray, bins: int) -> list[float]:
    """Inner cut points at the quantiles of `values` (duplicates dropped, so ties make fewer bins).

    A constant reference gets a bin of its own value between two others, so that any other value in
    a batch shows as drift rather than falling into the reference's only bin.
    """
    values = values[np.isfinite(values)]
    if values.size == 0:
        return []
    qs = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    if qs.size == 1 and values.min() == values.max():
        qs = np.asarray([np.nextafter(qs[0], -np.inf), qs[0]])
    return [float(q) for q in qs]


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
    """The reference profile of a training set (JSON-serialisable, stored in the model manifest).

    `scores` should be the model's scores on rows it was not fitted on (training uses the holdout): on
    its own training rows a model is more confident than on new data, which would look like drift.
    """
    rows = len(next(iter(columns.values()))) if columns else len(scores)
    profile: dict[str, Any] = {"features": {}, "rows": rows}
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
    counts = _numeric_counts(scores, edges)
    profile["prediction"] = {"edges": edges, "proportions": _proportions(counts), "rows": len(scores)}
    return profile


def features_from_profile(profile: Mapping[str, Any]) -> list[Feature]:
    """The features a profile describes (name, type, categories), in profile order."""
    return [
        Feature(name=name, type=spec["type"], categories=tuple(spec.get("categories", ())))
        for name, spec in profile["features"].items()
    ]


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


class DriftAccumulator:
    """Counts a batch into a profile's bins chunk by chunk; `summary` gives the PSI verdict."""

    def __init__(self, profile: Mapping[str, Any], *, sample_rows: int = 0, seed: int = 0) -> None:
        """`sample_rows` > 0 keeps a sample of the batch for the multivariate check (when the profile has a
        reference sample); a profile with a calibration gets a label-free performance estimate."""
        self.profile = profile
        self.rows = 0
        calibration = profile.get("calibration")
        self.performance = PerformanceEstimator(calibration) if calibration else None
        self.sample = (
            BatchSample(features_from_profile(profile), sample_rows, seed)
            if sample_rows and profile.get("reference_sample")
            else None
        )
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
        if self.performance is not None:
            self.performance.update(scores)
        if self.sample is not None:
            self.sample.update(columns)

    def summary(self, settings: DriftSettings) -> DriftSummary:
        """The batch's drift against the profile, judged by the one rule of `mlops_core.verdict`."""
        feature_psi, actual = {}, {}
        for name, spec in self.profile["features"].items():
            expected = list(spec["proportions"])
            if spec["type"] == "categorical":
                expected.append(0.0)  # the model saw no other category: any share of them is drift
            feature_psi[name] = round(psi(expected, self._counts[name]), 6)
            actual[name] = _proportions(self._counts[name])
        prediction_psi = round(psi(self.profile["prediction"]["proportions"], self._score_counts), 6)
        actual["prediction"] = _proportions(self._score_counts)
        features = self.profile["features"]
        signals = [self._signal(n, features[n], v, settings, settings.psi_threshold) for n, v in feature_psi.items()]
        prediction = self._signal(
            "prediction", self.profile["prediction"], prediction_psi, settings, settings.prediction_psi_threshold
        )
        multivariate, notes = self._multivariate(settings), self._notes(settings)
        worst = max(feature_psi, key=feature_psi.__getitem__) if feature_psi else None
        return DriftSummary(
            rows=self.rows,
            min_rows=settings.min_rows,
            method=settings.method,
            feature_psi=feature_psi,
            prediction_psi=prediction_psi,
            worst_feature=worst,
            worst_psi=feature_psi[worst] if worst else None,
            multivariate=multivariate,
            performance=self.performance.result() if self.performance else None,
            notes=notes,
            actual=actual,
            **judge(
                rows=self.rows,
                feature_signals=signals,
                prediction=prediction,
                multivariate=multivariate,
                settings=settings,
            ),
        )

    def _signal(
        self, name: str, spec: Mapping[str, Any], value: float, settings: DriftSettings, fixed: float
    ) -> Signal:
        bins = len(spec["edges"]) + 1 if "edges" in spec else len(spec["categories"])
        threshold = psi_threshold_for(
            batch_rows=self.rows,
            reference_rows=int(spec.get("rows", self.profile.get("rows", 0))),
            bins=bins,
            signals=len(self.profile["features"]) + 1,
            settings=settings,
            fixed=fixed,
        )
        return Signal(name, value, threshold)

    def _multivariate(self, settings: DriftSettings) -> dict[str, Any] | None:
        reference = self.profile.get("reference_sample")
        if self.sample is None or not reference or self.rows < settings.min_rows:
            return None
        features = features_from_profile(self.profile)
        return domain_classifier_drift(
            reference, self.sample.columns(), features, false_alarm_rate=settings.false_alarm_rate, seed=0
        )

    def _notes(self, settings: DriftSettings) -> list[str]:
        notes = []
        if "calibration" not in self.profile:
            notes.append("no label-free performance estimate: this model version predates it; retrain to get it")
        if not settings.reference_sample_rows:
            notes.append("no multivariate drift check: drift.reference_sample_rows is 0")
        elif "reference_sample" not in self.profile:
            notes.append("no multivariate drift check: this model version predates it; retrain to get it")
        return notes
