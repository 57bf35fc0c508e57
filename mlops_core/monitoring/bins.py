"""Reference bins and the population stability index (PSI): the statistics every drift signal counts with.

A numeric column's bins are cut at the reference's quantiles; a categorical column's bins are its
categories plus one for values the model never saw. A batch is counted into the same bins, chunk by
chunk, and compared with `psi`. Both `drift` (features, predictions) and `text` (text lengths) use
these, so neither imports the other for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..lookup import positions

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
    # An imputed feature's blank cells (NaN) are in no bin: the shares are those of the known values.
    values = values[~np.isnan(values)]
    return np.bincount(np.searchsorted(np.asarray(edges), values, side="left"), minlength=len(edges) + 1)


def _categorical_counts(values: np.ndarray, categories: Sequence[str]) -> np.ndarray:
    """Counts per category, then one count for values outside `categories`."""
    codes = positions(pd.Index(categories, dtype=object), values)  # a hash table
    codes[codes < 0] = len(categories)
    return np.bincount(codes, minlength=len(categories) + 1)


def proportions(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return [float(c) for c in (counts / total if total else counts.astype(float))]


def column_spec(values: np.ndarray, *, categories: Sequence[str] | None, bins: int) -> dict[str, Any]:
    """One column's reference bins: quantile edges and proportions (numeric, `categories` None), or
    the share of each category."""
    if categories is None:
        values = np.asarray(values, dtype=np.float64)  # no copy when already float64
        edges = _quantile_edges(values, bins)
        return {"type": "numeric", "edges": edges, "proportions": proportions(_numeric_counts(values, edges))}
    counts = _categorical_counts(values, categories)[:-1]
    return {"type": "categorical", "categories": list(categories), "proportions": proportions(counts)}


def bin_counts(spec: Mapping[str, Any], values: np.ndarray) -> np.ndarray:
    """`values` counted into a column spec's bins; categorical specs get a last bin for other values."""
    if spec.get("type", "numeric") == "numeric":  # profiles from before tasks have an untyped prediction
        return _numeric_counts(np.asarray(values, dtype=np.float64), spec["edges"])
    return _categorical_counts(values, spec["categories"])


def expected_proportions(spec: Mapping[str, Any]) -> list[float]:
    """A spec's reference proportions, bin for bin with `bin_counts`."""
    if spec.get("type", "numeric") in ("numeric", "text"):  # a text spec's last bin is already "other words"
        return list(spec["proportions"])
    return [*spec["proportions"], 0.0]  # the model saw no other category: any share of them is drift


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
