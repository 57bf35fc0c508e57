"""The one drift rule: when a feature, the predictions, or the joint distribution of a batch has drifted.

The verdict printed by `mlops score`, written to the drift report, drawn in the HTML report and
watched by the alarms all come from `judge`, so they cannot disagree. A batch has drifted when

- the share of drifted features reaches `drift.drifted_share_threshold`, or
- the prediction scores drifted, or
- the multivariate check (a domain classifier, `mlops_core.monitoring.multivariate`) separates the batch from
  the reference better than a clean batch would;

and each of the three has its own metric and alarm (DriftedFeatureShare, PredictionDriftScore,
MultivariateDriftScore).

Which PSI counts as drift depends on `drift.method`. "psi" is a fixed threshold. "adaptive" knows
the batch size: for a clean batch of n rows compared with a reference of m rows, PSI is close to
sum((a - e)^2 / e) over the bins, so PSI * n*m/(n+m) follows roughly a chi-square distribution with
bins - 1 degrees of freedom. A feature is drifted when its PSI exceeds that distribution's
(1 - false_alarm_rate / signals) quantile times (1/n + 1/m) (Bonferroni over every feature and the
predictions, so a clean batch as a whole is called drifted at most at `false_alarm_rate`), and
never below `min_effect_psi`, so that a million-row batch is not flagged for a negligible shift.
`bench/bench_drift.py` measures how close the approximation holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from scipy.stats import chi2

from ..config import DriftSettings


def psi_threshold_for(
    *, batch_rows: int, reference_rows: int, bins: int, signals: int, settings: DriftSettings, fixed: float
) -> float:
    """The PSI above which a signal (a feature, or the predictions) of a batch counts as drifted.

    `fixed` is the threshold of method "psi" (drift.psi_threshold or drift.prediction_psi_threshold).
    """
    if settings.method == "psi":
        return fixed
    quantile = float(chi2.ppf(1 - settings.false_alarm_rate / max(signals, 1), max(bins - 1, 1)))
    return max(settings.min_effect_psi, quantile * (1 / max(batch_rows, 1) + 1 / max(reference_rows, 1)))


@dataclass(frozen=True)
class Signal:
    """One drift signal of a batch: its PSI, the threshold for this batch size, and PSI / threshold."""

    name: str
    psi: float
    threshold: float

    @property
    def score(self) -> float:
        return round(self.psi / self.threshold, 6) if self.threshold > 0 else 0.0

    @property
    def drifted(self) -> bool:
        return self.psi > self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.name, "psi": self.psi, "threshold": round(self.threshold, 6), "score": self.score}


@dataclass
class DriftSummary:
    """The drift verdict of one batch against a model's reference profile."""

    rows: int
    min_rows: int
    method: str
    feature_psi: dict[str, float]
    prediction_psi: float | None
    worst_feature: str | None
    worst_psi: float | None
    drifted_features: list[str]  # most drifted first (by score)
    drifted_share: float | None
    verdict: bool | None  # None: too few rows for a verdict
    reasons: list[str] = field(default_factory=list)  # why the verdict is yes, one line per component
    feature_scores: dict[str, float] = field(default_factory=dict)  # PSI / threshold; > 1 is drift
    thresholds: dict[str, float] = field(default_factory=dict)  # the PSI threshold per feature at this size
    drifted: list[dict[str, Any]] = field(default_factory=list)  # the drifted features with their values
    prediction: dict[str, Any] | None = None  # the prediction signal (psi, threshold, score)
    multivariate: dict[str, Any] | None = None  # the domain classifier's result, when it ran
    performance: dict[str, Any] | None = None  # the label-free performance estimate, when available
    notes: list[str] = field(default_factory=list)  # e.g. signals an older model version cannot give
    actual: dict[str, list[float]] = field(default_factory=dict)  # the batch's proportions per bin
    text: dict[str, dict[str, Any]] = field(default_factory=dict)  # per text feature: both PSIs, new words
    # Per categorical feature with values outside its categories (unknown = "score"): the most frequent.
    new_categories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(
    *,
    rows: int,
    feature_signals: list[Signal],
    prediction: Signal,
    multivariate: Mapping[str, Any] | None,
    settings: DriftSettings,
) -> dict[str, Any]:
    """The verdict fields of a DriftSummary (see the module docstring for the rule)."""
    ranked = sorted(feature_signals, key=lambda s: s.score, reverse=True)
    drifted = [s for s in ranked if s.drifted]
    share = len(drifted) / len(ranked) if ranked else 0.0
    reasons = []
    if drifted and share >= settings.drifted_share_threshold:
        listed = ", ".join(f"{s.name} (PSI {s.psi:.3f} > {s.threshold:.3f})" for s in drifted)
        reasons.append(f"{len(drifted)} of {len(ranked)} features drifted: {listed}")
    if prediction.drifted:
        reasons.append(f"predictions drifted (PSI {prediction.psi:.3f} > {prediction.threshold:.3f})")
    if multivariate and multivariate.get("drifted"):
        named = ", ".join(name for name, _ in multivariate.get("features", []))
        reasons.append(f"joint distribution changed (domain classifier AUC {multivariate['auc']:.3f}; {named})")
    enough = rows >= settings.min_rows
    return {
        "drifted_features": [s.name for s in drifted],
        "drifted": [s.to_dict() for s in drifted],
        "drifted_share": round(share, 4),
        "feature_scores": {s.name: s.score for s in feature_signals},
        "thresholds": {s.name: round(s.threshold, 6) for s in feature_signals},
        "prediction": prediction.to_dict(),
        "verdict": bool(reasons) if enough else None,
        "reasons": reasons if enough else [],
    }


def verdict_line(drift: Mapping[str, Any]) -> str:
    """The verdict in one line for people: why it drifted (most drifted first), or how far from drift it is."""
    if drift.get("verdict") is None:
        return f"no verdict: {drift.get('rows', 0):,} rows, a verdict needs {drift.get('min_rows', 0):,}"
    if drift["verdict"]:
        return "drift: " + "; ".join(drift.get("reasons") or ["see the drift report"])
    scores = drift.get("feature_scores") or {}
    if not scores:
        return f"no drift (worst PSI {drift['worst_psi']:.3f} on {drift['worst_feature']})"
    closest = max(scores, key=scores.__getitem__)
    psi, threshold = drift["feature_psi"][closest], drift["thresholds"][closest]
    return f"no drift (closest: {closest}, PSI {psi:.3f} of {threshold:.3f} allowed at {drift['rows']:,} rows)"
