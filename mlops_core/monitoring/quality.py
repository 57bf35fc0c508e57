"""Data quality as a drift signal: how often a feature is blank, outside its categories, or outside its range.

The reference profile keeps, per feature, the share of blank cells, the share of values outside the
categories (categorical), the range (numeric) and its row count (`quality_spec`). A batch counts the
same, chunk by chunk (`QualityCounts`). A share the feature's policy lets reach scoring is judged:
the missing share of a feature with missing = "impute", the unknown share of one with
unknown = "score" (a "reject" policy makes such rows bad rows, reported as errors, never scored).

The rule (`share_changed`) asks whether the batch's count could come from the reference's share: under
"no change", the batch's k of n and the reference's k0 of m are two binomial samples of one share, and
conditional on k + k0 the batch's count is hypergeometric (Fisher's exact test, which needs no
large-sample approximation and holds for a share of 0). The share changed when the two-sided p-value
is below `false_alarm_rate / signals` (Bonferroni over every signal of the batch, as the PSI rule) and
the shares differ by at least `min_effect_share`, so that a million-row batch is not flagged for a
tenth of a percentage point. The range is reported, not judged: values beyond it already fill the
outer PSI bins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..config import MISSING_CATEGORY, DriftSettings, Feature
from ..lookup import positions

MISSING, UNKNOWN = "missing", "unknown"


def share_p_value(*, batch_count: int, batch_rows: int, reference_count: int, reference_rows: int) -> float:
    """Two-sided p-value (twice the smaller tail, at most 1) of Fisher's exact test that the batch's share
    `batch_count / batch_rows` and the reference's `reference_count / reference_rows` are one share."""
    total, either = batch_rows + reference_rows, batch_count + reference_count
    if batch_rows <= 0 or reference_rows <= 0:
        return 1.0
    from scipy.stats import hypergeom  # noqa: PLC0415 - scipy.stats costs 0.6 s of a cold start: imported when a verdict is asked

    low = float(hypergeom.cdf(batch_count, total, either, batch_rows))
    high = float(hypergeom.sf(batch_count - 1, total, either, batch_rows))
    return min(1.0, 2 * min(low, high))


def share_changed(
    *,
    batch_count: int,
    batch_rows: int,
    reference_share: float,
    reference_rows: int,
    signals: int,
    settings: DriftSettings,
) -> bool:
    """Whether a batch's share (missing or unknown cells) changed beyond what its size explains (module docstring)."""
    if batch_rows <= 0:
        return False
    if abs(batch_count / batch_rows - reference_share) < settings.min_effect_share:
        return False
    p = share_p_value(
        batch_count=batch_count,
        batch_rows=batch_rows,
        reference_count=round(reference_share * reference_rows),
        reference_rows=reference_rows,
    )
    return p < settings.false_alarm_rate / max(signals, 1)


@dataclass(frozen=True)
class QualitySignal:
    """One judged share of one feature: the batch's count of its rows against the reference's share."""

    feature: str
    kind: str  # MISSING or UNKNOWN
    count: int
    rows: int
    reference_share: float
    reference_rows: int
    changed: bool

    @property
    def share(self) -> float:
        return self.count / self.rows if self.rows else 0.0

    @property
    def reason(self) -> str:
        """For people: "age: 48% missing (reference 20%)"."""
        what = "missing" if self.kind == MISSING else "unknown categories"
        return f"{self.feature}: {_percent(self.share)} {what} (reference {_percent(self.reference_share)})"

    @property
    def detail(self) -> str:
        """The reason without the feature's name, for a list of features: "48% missing, reference 20%"."""
        return self.reason.split(": ", 1)[1].replace(" (reference ", ", reference ").removesuffix(")")


def _percent(share: float) -> str:
    return f"{share:.0%}" if share == 0 or share >= 0.01 else f"{share:.2%}"


def blank_mask(values: np.ndarray, kind: str) -> np.ndarray:
    """The cells of a model-input column that were blank: NaN (numeric), the empty category, empty text."""
    if kind == "numeric":
        return np.isnan(np.asarray(values, dtype=np.float64))
    if kind == "categorical":
        return np.asarray(values, dtype=object) == MISSING_CATEGORY
    return pd.Series(values, dtype=object).str.strip().eq("").to_numpy(dtype=bool)


def quality_spec(values: np.ndarray, feature: Feature, categories: Sequence[str] = ()) -> dict[str, Any]:
    """A training column's quality reference: rows, missing share, unknown share (categorical, against
    `categories`), range (numeric), and the shares its policies let reach scoring (`judged`)."""
    blank = blank_mask(values, feature.type)
    rows = len(blank)
    spec: dict[str, Any] = {"rows": rows, "missing_share": float(blank.mean()) if rows else 0.0, "judged": []}
    if feature.imputes:
        spec["judged"].append(MISSING)
    if feature.is_categorical:
        known = positions(pd.Index(list(categories), dtype=object), values) >= 0
        spec["unknown_share"] = float((~known & ~blank).mean()) if rows else 0.0
        if feature.scores_unknown:
            spec["judged"].append(UNKNOWN)
    if feature.is_numeric:
        known_values = np.asarray(values, dtype=np.float64)[~blank]
        spec["min"], spec["max"] = (
            (float(known_values.min()), float(known_values.max())) if known_values.size else (None, None)
        )
    return spec


class QualityCounts:
    """A batch's blank, unknown and out-of-range cells of one feature, counted chunk by chunk."""

    def __init__(self, name: str, spec: Mapping[str, Any]) -> None:
        self.name, self.kind, self.reference = name, spec["type"], spec["quality"]
        self.rows = self.missing = self.unknown = self.outside_range = 0

    def update(self, values: np.ndarray, *, unknown: int = 0, blank: int | None = None) -> None:
        """Add a chunk; `unknown` is its count of values outside the categories (the "other" bin's), `blank`
        its count of blank cells when the bins already counted them (the empty category's bin)."""
        self.rows += len(values)
        self.unknown += unknown
        if blank is not None:
            self.missing += blank
            return
        mask = blank_mask(values, self.kind)
        self.missing += int(mask.sum())
        low, high = self.reference.get("min"), self.reference.get("max")
        if self.kind == "numeric" and low is not None:
            known = np.asarray(values, dtype=np.float64)[~mask]
            self.outside_range += int(((known < low) | (known > high)).sum())

    def signals(self, *, signals: int, settings: DriftSettings) -> list[QualitySignal]:
        """The judged shares of this feature, each with its verdict."""
        out = []
        for kind in self.reference["judged"]:
            count = self.missing if kind == MISSING else self.unknown
            share, rows = self.reference[f"{kind}_share"], self.reference["rows"]
            changed = share_changed(
                batch_count=count,
                batch_rows=self.rows,
                reference_share=share,
                reference_rows=rows,
                signals=signals,
                settings=settings,
            )
            out.append(QualitySignal(self.name, kind, count, self.rows, share, rows, changed))
        return out

    def report(self) -> dict[str, Any]:
        """The batch's shares beside the reference's, for the drift report."""
        ref, rows = self.reference, max(self.rows, 1)
        out = {"rows": self.rows, "missing_share": self.missing / rows, "reference_missing_share": ref["missing_share"]}
        if "unknown_share" in ref:
            out |= {"unknown_share": self.unknown / rows, "reference_unknown_share": ref["unknown_share"]}
        if self.kind == "numeric" and ref.get("min") is not None:
            known = max(self.rows - self.missing, 1)
            out |= {"outside_range_share": self.outside_range / known, "reference_range": [ref["min"], ref["max"]]}
        return {k: round(v, 6) if isinstance(v, float) else v for k, v in out.items()}
