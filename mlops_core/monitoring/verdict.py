"""The one drift rule: when a feature, the predictions, or the joint distribution of a batch has drifted.

The verdict printed by `mlops score`, written to the drift report, drawn in the HTML report and
watched by the alarms all come from `judge`, so they cannot disagree. A batch has drifted when

- the share of drifted features reaches `drift.drifted_share_threshold`, or
- the prediction scores drifted, or
- the multivariate check (a domain classifier, `mlops_core.monitoring.multivariate`) separates the batch from
  the reference better than a clean batch would, or
- a feature's missing or unknown share changed beyond what the batch size explains
  (`mlops_core.monitoring.quality`); such a feature also counts as a drifted feature;

and each has its own metric and alarm (DriftedFeatureShare, PredictionDriftScore, MultivariateDriftScore,
QualityDriftedFeatures).

Which PSI counts as drift depends on `drift.method`. "psi" is a fixed threshold. "adaptive" knows
the batch size: for a clean batch of n rows compared with a reference of m rows, PSI is close to
sum((a - e)^2 / e) over the bins, so PSI * n*m/(n+m) follows roughly a chi-square distribution with
bins - 1 degrees of freedom. A feature is drifted when its PSI exceeds that distribution's
(1 - false_alarm_rate / signals) quantile times (1/n + 1/m) (Bonferroni over every feature, the
predictions and the judged data-quality shares, so a clean batch as a whole is called drifted at most
at `false_alarm_rate`), and
never below `min_effect_psi`, so that a million-row batch is not flagged for a negligible shift.
`bench/bench_drift.py` measures how close the approximation holds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..config import DriftSettings
from .quality import QualitySignal


def psi_threshold_for(
    *, batch_rows: int, reference_rows: int, bins: int, signals: int, settings: DriftSettings, fixed: float
) -> float:
    """The PSI above which a signal (a feature, or the predictions) of a batch counts as drifted.

    `fixed` is the threshold of method "psi" (drift.psi_threshold or drift.prediction_psi_threshold).
    """
    if settings.method == "psi":
        return fixed
    from scipy.stats import chi2  # noqa: PLC0415 - scipy.stats costs 0.6 s of a cold start: imported when a verdict is asked

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
    # Per feature: missing, unknown and out-of-range shares beside the reference's (mlops_core.monitoring.quality);
    # empty for a model version whose profile predates them.
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)
    quality_drifted_features: list[str] = field(default_factory=list)  # missing or unknown share changed
    drifted_share_threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(
    *,
    rows: int,
    feature_signals: list[Signal],
    prediction: Signal,
    multivariate: Mapping[str, Any] | None,
    settings: DriftSettings,
    quality: Sequence[QualitySignal] = (),
) -> dict[str, Any]:
    """The verdict fields of a DriftSummary (see the module docstring for the rule).

    A feature whose missing or unknown share changed (`quality`, mlops_core.monitoring.quality) has drifted
    as one whose PSI is over its threshold does, and makes the verdict on its own: a blanked column is
    a broken batch however few of the features it is."""
    broken = [q for q in quality if q.changed]
    broken_names = {q.feature for q in broken}
    ranked = sorted(feature_signals, key=lambda s: s.score, reverse=True)
    drifted = [s for s in ranked if s.drifted or s.name in broken_names]
    share = len(drifted) / len(ranked) if ranked else 0.0
    reasons = []
    entries = [_drifted_entry(s, broken) for s in drifted]
    if drifted and share >= settings.drifted_share_threshold:
        listed = ", ".join(_entry_text(e) for e in entries)
        reasons.append(f"{len(drifted)} of {len(ranked)} features drifted: {listed}")
    if broken:
        reasons.append("data quality: " + "; ".join(q.reason for q in broken))
    if prediction.drifted:
        reasons.append(f"predictions drifted (PSI {prediction.psi:.3f} > {prediction.threshold:.3f})")
    if multivariate and multivariate.get("drifted"):
        named = ", ".join(name for name, _ in multivariate.get("features", []))
        reasons.append(f"joint distribution changed (domain classifier AUC {multivariate['auc']:.3f}; {named})")
    enough = rows >= settings.min_rows
    return {
        "drifted_features": [s.name for s in drifted],
        "drifted": entries,
        "drifted_share": round(share, 4),
        "drifted_share_threshold": settings.drifted_share_threshold,
        "quality_drifted_features": sorted(broken_names) if enough else [],
        "feature_scores": {s.name: s.score for s in feature_signals},
        "thresholds": {s.name: round(s.threshold, 6) for s in feature_signals},
        "prediction": prediction.to_dict(),
        "verdict": bool(reasons) if enough else None,
        "reasons": reasons if enough else [],
    }


def _drifted_entry(signal: Signal, broken: Sequence[QualitySignal]) -> dict[str, Any]:
    quality = [q.detail for q in broken if q.feature == signal.name]
    return {**signal.to_dict(), "psi_drifted": signal.drifted, **({"quality": quality} if quality else {})}


def verdict_line(drift: Mapping[str, Any]) -> str:
    """The verdict in one line for people: why it drifted (most drifted first), or how far from drift it is.

    Features that drifted are named even when too few of them for a verdict of their own."""
    if drift.get("verdict") is None:
        return f"no verdict: {drift.get('rows', 0):,} rows, a verdict needs {drift.get('min_rows', 0):,}"
    few = _too_few_features(drift)
    if drift["verdict"]:
        return "drift: " + "; ".join([*(drift.get("reasons") or ["see the drift report"]), *few])
    if few:
        return f"no drift ({few[0]})"
    scores = drift.get("feature_scores") or {}
    if not scores:
        return f"no drift (worst PSI {drift['worst_psi']:.3f} on {drift['worst_feature']})"
    closest = max(scores, key=scores.__getitem__)
    psi, threshold = drift["feature_psi"][closest], drift["thresholds"][closest]
    return f"no drift (closest: {closest}, PSI {psi:.3f} of {threshold:.3f} allowed at {drift['rows']:,} rows)"


def _too_few_features(drift: Mapping[str, Any]) -> list[str]:
    """The drifted features, when fewer than drift.drifted_share_threshold of them (no reason names them)."""
    entries, share = drift.get("drifted") or [], drift.get("drifted_share_threshold")
    if not entries or any(" features drifted: " in r for r in drift.get("reasons") or []):
        return []
    if not any(e.get("psi_drifted", True) for e in entries):  # each named by its data quality reason already
        return []
    total = len(drift.get("feature_scores") or drift.get("feature_psi") or {})
    needs = f", below the {share:.0%} of features a verdict needs" if share is not None else ""
    listed = ", ".join(_entry_text(e) for e in entries)
    return [f"{len(entries)} of {total} features drifted{needs}: {listed}"]


def _entry_text(entry: Mapping[str, Any]) -> str:
    parts = [f"PSI {entry['psi']:.3f} > {entry['threshold']:.3f}"] if entry.get("psi_drifted", True) else []
    parts += entry.get("quality", [])
    return f"{entry['feature']} ({'; '.join(parts)})"
