"""Drift statistics: reference profiles, and a batch compared with them by PSI, computed streaming.

A profile stores, per feature, the bins of the training data: quantile bin edges and proportions
for numeric features, category proportions for categorical ones, and the same for the model's
predictions (the positive class's probability, the predicted class, or the predicted value). A
batch is compared by counting its values into the same bins, chunk by chunk, so memory stays
O(bins) however large the file. The bins and PSI themselves are in `bins`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..config import MISSING_CATEGORY, DriftSettings, Feature, Task
from ..lookup import positions
from ..words import TextAnalysis
from .bins import bin_counts, column_spec, expected_proportions, proportions, psi
from .multivariate import BatchSample, domain_classifier_drift
from .performance_estimate import PerformanceEstimator
from .quality import QualityCounts, quality_spec
from .text import TextCounts, text_spec
from .verdict import DriftSummary, Signal, judge, psi_threshold_for


def build_profile(
    columns: Mapping[str, np.ndarray],
    features: Sequence[Feature],
    predictions: np.ndarray,
    bins: int,
    *,
    task: Task | None = None,
) -> dict[str, Any]:
    """The reference profile of a training set (JSON-serialisable, stored in the model manifest).

    `predictions` are `Predictions.drift_values` (the positive class's probability for a binary task,
    the predicted class for multiclass, the predicted value for regression; `task` None is binary),
    and should be the model's on rows it was not fitted on (training uses the holdout): on its own
    training rows a model is more confident than on new data, which would look like drift.
    """
    task, values = task or Task(), predictions
    rows = len(next(iter(columns.values()))) if columns else len(values)
    profile: dict[str, Any] = {"features": {}, "rows": rows, "task": task.kind}
    for feature in features:
        column = columns[feature.name]
        if feature.is_text:
            spec = text_spec(column, feature, bins=bins)
        else:
            # An imputed feature's blank is a category of the model's (the empty one): its share is a bin.
            blank = (MISSING_CATEGORY,) if feature.imputes else ()
            categories = None if feature.is_numeric else (*feature.categories, *blank)
            spec = column_spec(column, categories=categories, bins=bins)
        profile["features"][feature.name] = {**spec, "quality": quality_spec(column, feature, feature.categories)}
    categories = task.classes if task.kind == "multiclass" else None
    profile["prediction"] = {**column_spec(values, categories=categories, bins=bins), "rows": len(values)}
    return profile


NEW_CATEGORIES_SHOWN = 10  # per feature, in the report
NEW_CATEGORIES_KEPT = 1_000  # distinct values counted exactly; beyond, the counter keeps its most frequent


class NewCategories:
    """The values of a categorical feature outside its profile's categories (unknown = "score" lets them
    reach scoring), counted chunk by chunk, in bounded memory."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self._known = pd.Index(spec["categories"], dtype=object)
        self.counts: Counter[str] = Counter()

    def update(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=object)
        outside = values[positions(self._known, values) < 0]
        self.counts.update(pd.Series(outside, dtype=object).value_counts().to_dict())
        if len(self.counts) > NEW_CATEGORIES_KEPT:
            self.counts = Counter(dict(self.counts.most_common(NEW_CATEGORIES_KEPT // 10)))

    def report(self) -> list[dict[str, Any]]:
        """The most frequent new values, most frequent first, with their row counts."""
        return [{"value": v[:100], "rows": n} for v, n in self.counts.most_common(NEW_CATEGORIES_SHOWN)]


def features_from_profile(profile: Mapping[str, Any]) -> list[Feature]:
    """The numeric and categorical features a profile describes (name, type, categories), in profile order:
    what the multivariate check reads (a text feature is judged by its words and lengths alone)."""
    return [
        Feature(name=name, type=spec["type"], categories=tuple(spec.get("categories", ())))
        for name, spec in profile["features"].items()
        if spec["type"] != "text"
    ]


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
        self._text_details: dict[str, dict[str, Any]] = {}
        self._text = {name: TextCounts(spec) for name, spec in self._features() if spec["type"] == "text"}
        self._counts = {
            name: np.zeros(len(expected_proportions(spec)), dtype=np.int64)
            for name, spec in self._features()
            if name not in self._text
        }
        self._prediction_counts = np.zeros(len(expected_proportions(profile["prediction"])), dtype=np.int64)
        self._new = {name: NewCategories(spec) for name, spec in self._features() if spec["type"] == "categorical"}
        # A profile from before data quality has no "quality": the signal is absent, the rest unchanged.
        self._quality = {name: QualityCounts(name, spec) for name, spec in self._features() if "quality" in spec}
        judged = sum(len(spec["quality"]["judged"]) for _, spec in self._features() if "quality" in spec)
        self._signal_count = len(self.profile["features"]) + 1 + judged  # Bonferroni over every signal

    def _features(self) -> list[tuple[str, Mapping[str, Any]]]:
        return list(self.profile["features"].items())

    def update(
        self,
        columns: Mapping[str, np.ndarray],
        predictions: np.ndarray,
        words: Mapping[str, TextAnalysis] | None = None,
    ) -> None:
        """Add one chunk: feature columns (as for model_input), the model's `Predictions.drift_values` and the
        words its vectorizers found in text columns (`Predictor.analysed`), if any."""
        for name, spec in self._features():
            if name in self._text:
                self._text[name].update(columns[name], (words or {}).get(name))
                counts = None
            else:
                counts = bin_counts(spec, columns[name])
                self._counts[name] += counts
                if name in self._new and counts[-1]:  # the last bin: categories outside the profile's
                    self._new[name].update(columns[name])
            if name in self._quality:
                self._update_quality(name, spec, columns[name], counts)
        self._prediction_counts += bin_counts(self.profile["prediction"], predictions)
        self.rows += len(predictions)
        if self.performance is not None:
            self.performance.update(predictions)
        if self.sample is not None:
            self.sample.update(columns)

    def _update_quality(
        self, name: str, spec: Mapping[str, Any], values: np.ndarray, counts: np.ndarray | None
    ) -> None:
        if spec["type"] != "categorical" or counts is None:
            self._quality[name].update(values)
            return
        # The bins counted both already: the empty category's (an imputed blank) and the last, other values.
        categories = spec["categories"]
        blank = int(counts[categories.index(MISSING_CATEGORY)]) if MISSING_CATEGORY in categories else 0
        self._quality[name].update(values, unknown=int(counts[-1]), blank=blank)

    def summary(self, settings: DriftSettings) -> DriftSummary:
        """The batch's drift against the profile, judged by the one rule of `mlops_core.monitoring.verdict`."""
        feature_psi, actual, signals = {}, {}, []
        for name, spec in self._features():
            if name in self._text:
                signal = self._text_signal(name, spec, settings)
                actual[name] = proportions(self._text[name].words)
            else:
                value = round(psi(expected_proportions(spec), self._counts[name]), 6)
                signal = self._signal(name, spec, value, settings, settings.psi_threshold)
                actual[name] = proportions(self._counts[name])
            feature_psi[name] = signal.psi
            signals.append(signal)
        prediction_psi = round(psi(expected_proportions(self.profile["prediction"]), self._prediction_counts), 6)
        actual["prediction"] = proportions(self._prediction_counts)
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
            text=self._text_details,
            new_categories={name: new.report() for name, new in self._new.items() if new.counts},
            quality={name: counts.report() for name, counts in self._quality.items()},
            **judge(
                rows=self.rows,
                feature_signals=signals,
                prediction=prediction,
                multivariate=multivariate,
                settings=settings,
                quality=[
                    s for q in self._quality.values() for s in q.signals(signals=self._signal_count, settings=settings)
                ],
            ),
        )

    def _text_signal(self, name: str, spec: Mapping[str, Any], settings: DriftSettings) -> Signal:
        """A text feature's signal: its words or its lengths, whichever is further over its threshold."""
        counts = self._text[name]
        words = round(psi(spec["proportions"], counts.words), 6)
        length = round(psi(spec["length"]["proportions"], counts.lengths), 6)
        both = [
            self._signal(name, spec, words, settings, settings.psi_threshold),
            self._signal(name, spec["length"], length, settings, settings.psi_threshold),
        ]
        self._text_details[name] = counts.detail(words, length)
        return max(both, key=lambda s: s.score)

    def _signal(
        self, name: str, spec: Mapping[str, Any], value: float, settings: DriftSettings, fixed: float
    ) -> Signal:
        if "edges" in spec:
            bins = len(spec["edges"]) + 1
        else:  # a text spec's word bins, or the categories
            bins = len(spec["proportions"]) if spec.get("type") == "text" else len(spec["categories"])
        threshold = psi_threshold_for(
            batch_rows=self.rows,
            reference_rows=int(spec.get("rows", self.profile.get("rows", 0))),
            bins=bins,
            signals=self._signal_count,
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
        if self.profile.get("task", "binary") != "binary":
            notes.append("no label-free performance estimate: it is made for binary classifiers only")
        elif "calibration" not in self.profile:
            predates = "no label-free performance estimate: this model version predates it; retrain to get it"
            notes.append(self.profile.get("calibration_note", predates))  # a registered model says why it has none
        if not settings.reference_sample_rows:
            notes.append("no multivariate drift check: drift.reference_sample_rows is 0")
        elif "reference_sample" not in self.profile:
            notes.append("no multivariate drift check: this model version predates it; retrain to get it")
        return notes
