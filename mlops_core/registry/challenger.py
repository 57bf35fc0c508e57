"""Champion/challenger for batches: which rows a challenger scores, the evidence labeled rows give about
the two models, and the rule that promotes or retires the challenger. Pure functions; scoring
(lambdas/scoring/challenge.py) and `mlops status` use them.

Modes (`promotion.challenger`):
- shadow: the challenger scores every row beside the champion; its predictions go under shadow/ and
  are never served. Both models predict the same labeled rows, so the evidence is paired.
- split: a fixed share of rows, chosen by a hash of an id column (a row goes to the same model on every
  retry), is scored and served by the challenger. Each labeled row was predicted by one model, so the
  evidence is two independent samples.

The evidence is per-row quality on labeled rows: correct or not (classification), absolute error
(regression). It is a sum of counts, so batches add up and a batch counts once however often it is
retried. The test, one-sided at `challenger_confidence`, checked after every labeled batch once each
model has `challenger_min_rows` labeled rows:
- shadow, classification: McNemar's exact test (a binomial test on the rows where exactly one model is right);
- shadow, regression: a paired t-test on the difference of absolute errors;
- split, classification: a two-proportion z-test on accuracy;
- split, regression: Welch's t-test on absolute errors.
Better at the confidence: promoted. Worse: retired. Neither after `challenger_max_rows` labeled rows each:
retired, since the champion keeps its place without evidence against it. Looking after every batch
tests repeatedly, so the real chance of promoting an equal challenger is above 1 - confidence; raise the
confidence or the minimum rows to be stricter.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..config import PromotionSettings, Task
from ..modeling import Predictions, features_from_schema
from ..storage import layout
from ..storage.s3json import get_json
from .store import ModelAlias, Registry

Mode = Literal["shadow", "split"]
ASSIGNMENT_BUCKETS = 10_000  # the share is applied to a row's hash modulo this


def challenger_rows(ids: list[str], share: float) -> np.ndarray:
    """True for the rows the challenger scores in split mode: a stable hash of the id (the same in every
    process and release of pandas' hash_array with its default key) below `share` of the buckets."""
    hashes = pd.util.hash_array(np.asarray(ids, dtype=object), categorize=False)
    return (hashes % ASSIGNMENT_BUCKETS) < round(share * ASSIGNMENT_BUCKETS)


@dataclass(frozen=True)
class Evidence:
    """Labeled rows' per-row quality of the two models, as sums (add batches with `+`).

    Paired (shadow) fields describe rows both models predicted; unpaired (split) fields each model's own
    rows. `quality` is correctness (classification) or absolute error (regression).
    """

    champion_rows: int = 0
    challenger_rows: int = 0
    champion_sum: float = 0.0  # sum of quality: correct rows, or absolute errors
    challenger_sum: float = 0.0
    champion_sumsq: float = 0.0  # sum of squared quality (regression, for the t-tests)
    challenger_sumsq: float = 0.0
    only_champion_right: int = 0  # paired classification: McNemar's discordant pairs
    only_challenger_right: int = 0
    diff_sum: float = 0.0  # paired regression: sum of (champion error - challenger error)
    diff_sumsq: float = 0.0

    def __add__(self, other: Evidence) -> Evidence:
        return Evidence(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(values: dict[str, Any]) -> Evidence:
        return Evidence(**{f.name: values.get(f.name, 0) for f in fields(Evidence)})

    def mean(self, model: Literal["champion", "challenger"]) -> float | None:
        """Accuracy (classification) or mean absolute error (regression) of `model` on its labeled rows."""
        rows = getattr(self, f"{model}_rows")
        return getattr(self, f"{model}_sum") / rows if rows else None


def _quality(truth: np.ndarray, predictions: Predictions) -> np.ndarray:
    if predictions.proba is None:
        return np.abs(np.asarray(truth, dtype=np.float64) - predictions.predicted)
    return (predictions.predicted == np.asarray(truth, dtype=object)).astype(np.float64)


def _sums(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """The per-model fields of Evidence for the champion's quality `a` and the challenger's `b`."""
    return {
        "champion_rows": len(a),
        "challenger_rows": len(b),
        "champion_sum": float(a.sum()),
        "challenger_sum": float(b.sum()),
        "champion_sumsq": float((a * a).sum()),
        "challenger_sumsq": float((b * b).sum()),
    }


def paired_evidence(truth: np.ndarray, champion: Predictions, challenger: Predictions) -> Evidence:
    """Evidence from rows both models predicted (shadow)."""
    a, b = _quality(truth, champion), _quality(truth, challenger)
    if champion.proba is not None:  # classification: the rows where exactly one model is right
        return Evidence(
            **_sums(a, b),
            only_champion_right=int(((a == 1) & (b == 0)).sum()),
            only_challenger_right=int(((a == 0) & (b == 1)).sum()),
        )
    diff = a - b
    return Evidence(**_sums(a, b), diff_sum=float(diff.sum()), diff_sumsq=float((diff * diff).sum()))


def unpaired_evidence(
    champion_truth: np.ndarray, champion: Predictions, challenger_truth: np.ndarray, challenger: Predictions
) -> Evidence:
    """Evidence from each model's own rows (split)."""
    return Evidence(**_sums(_quality(champion_truth, champion), _quality(challenger_truth, challenger)))


@dataclass(frozen=True)
class Significance:
    """A test's name and its one-sided p-values: that the challenger is better, and that it is worse."""

    name: str
    p_better: float
    p_worse: float


def significance(evidence: Evidence, *, mode: Mode, classification: bool) -> Significance:
    """The mode's and task's test (see the module's docstring) on the evidence so far."""
    if mode == "shadow":
        return _mcnemar(evidence) if classification else _paired_t(evidence)
    return _two_proportions(evidence) if classification else _welch(evidence)


def _mcnemar(e: Evidence) -> Significance:
    from scipy import stats  # noqa: PLC0415 - 0.6 s of a cold start; only a challenger's ruling needs it

    discordant = e.only_champion_right + e.only_challenger_right
    if discordant == 0:
        return Significance("McNemar exact", 1.0, 1.0)
    better = stats.binomtest(e.only_challenger_right, discordant, 0.5, alternative="greater").pvalue
    worse = stats.binomtest(e.only_champion_right, discordant, 0.5, alternative="greater").pvalue
    return Significance("McNemar exact", float(better), float(worse))


def _paired_t(e: Evidence) -> Significance:
    """Differences are champion error - challenger error: above 0 means the challenger errs less."""
    from scipy import stats  # noqa: PLC0415 - 0.6 s of a cold start; only a challenger's ruling needs it

    n = e.champion_rows
    mean = e.diff_sum / n
    variance = max(e.diff_sumsq - n * mean * mean, 0.0) / (n - 1) if n > 1 else 0.0
    if variance == 0.0:
        return Significance("paired t", 0.0 if mean > 0 else 1.0, 0.0 if mean < 0 else 1.0)
    t = mean / math.sqrt(variance / n)
    return Significance("paired t", float(stats.t.sf(t, n - 1)), float(stats.t.cdf(t, n - 1)))


def _two_proportions(e: Evidence) -> Significance:
    from scipy import stats  # noqa: PLC0415 - 0.6 s of a cold start; only a challenger's ruling needs it

    n1, n2 = e.champion_rows, e.challenger_rows
    pooled = (e.champion_sum + e.challenger_sum) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0.0:
        return Significance("two-proportion z", 1.0, 1.0)
    z = (e.challenger_sum / n2 - e.champion_sum / n1) / se
    return Significance("two-proportion z", float(stats.norm.sf(z)), float(stats.norm.cdf(z)))


def _welch(e: Evidence) -> Significance:
    from scipy import stats  # noqa: PLC0415 - 0.6 s of a cold start; only a challenger's ruling needs it

    def spread(rows: int, total: float, squares: float) -> tuple[float, float]:
        mean = total / rows
        return mean, math.sqrt(max(squares - rows * mean * mean, 0.0) / max(rows - 1, 1))

    (m1, s1), (m2, s2) = (
        spread(e.champion_rows, e.champion_sum, e.champion_sumsq),
        spread(e.challenger_rows, e.challenger_sum, e.challenger_sumsq),
    )
    if s1 == 0.0 and s2 == 0.0:
        return Significance("Welch t", 0.0 if m2 < m1 else 1.0, 0.0 if m2 > m1 else 1.0)
    args = {"mean1": m2, "std1": s2, "nobs1": e.challenger_rows, "mean2": m1, "std2": s1, "nobs2": e.champion_rows}
    better = stats.ttest_ind_from_stats(**args, equal_var=False, alternative="less").pvalue
    worse = stats.ttest_ind_from_stats(**args, equal_var=False, alternative="greater").pvalue
    return Significance("Welch t", float(better), float(worse))


@dataclass(frozen=True)
class Ruling:
    """What the rule says about a challenger now: promote, retire, or wait for more labeled rows."""

    action: Literal["promote", "retire", "continue"]
    reasons: list[str]
    test: Significance | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rule(
    evidence: Evidence,
    *,
    mode: Mode,
    classification: bool,
    confidence: float,
    min_rows: int,
    max_rows: int,
) -> Ruling:
    """Promote when the challenger is better at `confidence`, retire when it is worse, or when `max_rows`
    labeled rows each showed no difference; else wait. Nothing is decided before `min_rows` each."""
    quality = "accuracy" if classification else "mean absolute error"
    seen = min(evidence.champion_rows, evidence.challenger_rows)
    means = (
        f"{quality}: challenger {_shown(evidence.mean('challenger'))} on {evidence.challenger_rows:,} labeled rows, "
        f"champion {_shown(evidence.mean('champion'))} on {evidence.champion_rows:,}"
    )
    if seen < min_rows:
        return Ruling("continue", [means, f"waiting for {min_rows:,} labeled rows per model"], None)
    test = significance(evidence, mode=mode, classification=classification)
    alpha = 1 - confidence
    ps = f"{test.name}: p(challenger better) = {test.p_better:.4g}, p(worse) = {test.p_worse:.4g}"
    if test.p_better < alpha:
        return Ruling("promote", [means, ps, f"better at {confidence:.0%} confidence"], test)
    if test.p_worse < alpha:
        return Ruling("retire", [means, ps, f"worse at {confidence:.0%} confidence"], test)
    if seen >= max_rows:
        no_difference = f"no difference at {confidence:.0%} confidence after {max_rows:,} rows: the champion stays"
        return Ruling("retire", [means, ps, no_difference], test)
    return Ruling("continue", [means, ps, "no difference yet"], test)


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def total_evidence(s3: Any, bucket: str, version: str) -> tuple[Evidence, int]:
    """The sum of every scored job's evidence about challenger `version`, and the number of jobs."""
    total, jobs = Evidence(), 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=layout.evidence_prefix(version)):
        for item in page.get("Contents", []):
            found = get_json(s3, bucket, item["Key"])
            if found is not None:
                total, jobs = total + Evidence.from_dict(found[0]["evidence"]), jobs + 1
    return total, jobs


def comparable(registry: Registry, version: str, other: str) -> bool:
    """Whether `version` reads the same features as `other` and predicts the same task and classes, so the
    two can be compared row by row (the check before any challenge, automatic or by hand)."""
    ours, theirs = (registry.manifest(v)["schema"] for v in (version, other))
    return features_from_schema(ours) == features_from_schema(theirs) and Task.from_schema(ours) == Task.from_schema(
        theirs
    )


def start_challenge(
    registry: Registry,
    version: str,
    *,
    champion: ModelAlias,
    promotion: PromotionSettings,
    decision: dict[str, Any],
    mode: Mode | None = None,
) -> dict[str, Any]:
    """Make `version` the challenger of `champion` (replacing an active one, which the history records);
    the pointer's record. `mode` defaults to `promotion.challenger`; the pointer keeps the mode, share and
    id column, so a change of config never reassigns the rows of a running challenge."""
    current = registry.challenger()
    record = {
        "version": version,
        "champion": champion.version,
        "mode": mode or promotion.challenger,
        "share": promotion.challenger_share,
        "id_column": promotion.challenger_id_column,
        "decision": decision,
    }
    registry.start_challenger(record, expected=current)
    if current is not None and current.record.get("status") == "active":
        registry.record_decision(
            {"kind": "challenger-replaced", "version": current.version, "reasons": [f"replaced by {version}"]}
        )
    return record
