"""Fitting the model of a run: the one configured model, or a search over `[[model.candidates]]`.

A search cross-validates every candidate on the training part only (the holdout stays untouched for the
gate): one GridSearchCV per candidate (`model.search = "grid"`: every point of its grid) or
RandomizedSearchCV (`"random"`: `model.n_iter` points drawn with `model.seed`), scored with
scikit-learn's scorer for the promotion metric (`tasks.METRICS`; a lower-is-better metric's scorer is its
negation, turned back here), on the same folds for every candidate: StratifiedKFold for classification,
KFold for regression, both shuffled with `model.seed`. The best candidate at its best point is refitted
on the whole training part and goes through the holdout gate like any other model.

The record (the manifest's and the run record's `search`): per candidate, best first, the mean and the
spread (standard deviation) of the metric over the folds at its best point, in the metric's own sign,
that point, its best `GRID_SHOWN` points, its fits and seconds; the chosen candidate; the fits in all.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import f1_score, make_scorer
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV, StratifiedKFold

from mlops_core.config import ProjectConfig
from mlops_core.config.task import METRICS, Task, fit_targets
from mlops_core.modeling.search import Planned, base_model, plan

GRID_SHOWN = 10  # grid points kept per candidate in the record, best first


class SearchError(ValueError):
    """The search cannot run on this data, or a candidate failed in it; the message names what to fix."""


@dataclass
class Fitted:
    """A run's fitted model and how the manifest describes it."""

    model: Any
    estimator: str
    params: dict[str, Any]
    search: dict[str, Any] | None = None  # the search record; None when nothing was searched


@dataclass
class FitPlan:
    """What a run fits, built before its data is read: a wrong grid or a failing pipeline function costs no
    reading. `single` without candidates, else the candidates with their grids."""

    single: Any = None
    candidates: list[Planned] = field(default_factory=list)

    @classmethod
    def of(cls, config: ProjectConfig) -> FitPlan:
        candidates = plan(config)
        return cls(None if candidates else base_model(config), candidates)

    def fit(self, config: ProjectConfig, x: pd.DataFrame, y: np.ndarray, task: Task) -> Fitted:
        """The single model fitted, or the search run and its best refitted; on the training rows only."""
        if not self.candidates:
            return Fitted(self.single.fit(x, y), _described(self.single, config), dict(config.model.params))
        return search(self.candidates, x, y, config=config, task=task)


def _described(model: Any, config: ProjectConfig) -> str:
    """The manifest's `estimator`: the configured class, or the last step's class of the user's pipeline."""
    if not config.model.pipeline:
        return config.model.estimator
    last = model.steps[-1][1] if hasattr(model, "steps") else model
    return f"{type(last).__module__}.{type(last).__qualname__}"


def search(candidates: list[Planned], x: pd.DataFrame, y: np.ndarray, *, config: ProjectConfig, task: Task) -> Fitted:
    """Cross-validate every candidate, refit the best on all of `x`, and record the leaderboard."""
    settings, spec = config.model, METRICS[config.promotion.metric]
    folds = _folds(y, config, task)
    scoring = _scoring(config.promotion.metric, task)
    started = time.monotonic()
    runs = [_cross_validate(p, x, y, config=config, scoring=scoring, folds=folds) for p in candidates]
    entries = sorted(
        (
            _entry(p, s, seconds, higher_is_better=spec.higher_is_better)
            for p, (s, seconds) in zip(candidates, runs, strict=True)
        ),
        key=lambda e: _worst_last(e["mean"], spec.higher_is_better),
    )
    cv_seconds = _seconds_since(started)
    chosen = next(i for i, p in enumerate(candidates) if p.candidate.name == entries[0]["name"])
    best_search = runs[chosen][0]
    refit_started = time.monotonic()
    model = clone(candidates[chosen].model).set_params(**best_search.cv_results_["params"][best_search.best_index_])
    model.fit(x, y)
    record = {
        "method": settings.search,
        "metric": config.promotion.metric,
        "higher_is_better": spec.higher_is_better,
        "cv_folds": settings.cv_folds,
        "rows": len(y),
        "cv_fits": sum(e["fits"] for e in entries),
        "seconds": cv_seconds,
        "refit_seconds": _seconds_since(refit_started),
        "chosen": entries[0]["name"],
        "leaderboard": [{"rank": rank, **e} for rank, e in enumerate(entries, start=1)],
    }
    candidate = candidates[chosen].candidate
    return Fitted(model, candidate.estimator, {**candidate.params, **entries[0]["best"]}, record)


def _folds(y: np.ndarray, config: ProjectConfig, task: Task) -> KFold | StratifiedKFold:
    """The same shuffled, seeded folds for every candidate; every class needs a row in each fold."""
    k, seed = config.model.cv_folds, config.model.seed
    if not task.is_classification:
        return KFold(n_splits=k, shuffle=True, random_state=seed)
    label, rows = min(Counter(y.tolist()).items(), key=lambda kv: kv[1])
    if rows < k:
        raise SearchError(
            f"class {label!r} has {rows} training row(s), fewer than model.cv_folds = {k}: the search needs one "
            "in every fold; lower cv_folds or add labeled rows of that class"
        )
    return StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)


def _scoring(metric: str, task: Task) -> Any:
    """scikit-learn's scorer for the promotion metric. ROC AUC needs no positive class (it is the same either
    way round); F1 does: the task's positive class, as the fitted targets hold it."""
    if metric == "f1":
        positive = fit_targets(np.asarray([task.positive], dtype=object), task)[0]
        return make_scorer(f1_score, pos_label=positive.item() if hasattr(positive, "item") else positive)
    return METRICS[metric].scorer


def _cross_validate(
    planned: Planned, x: pd.DataFrame, y: np.ndarray, *, config: ProjectConfig, scoring: Any, folds: Any
) -> tuple[Any, float]:
    """One candidate's search (no refit: only the winner is refitted); (the fitted search, seconds)."""
    settings = config.model
    common = {"scoring": scoring, "cv": folds, "refit": False, "error_score": "raise"}
    if settings.search == "random":
        n_iter = min(settings.n_iter, planned.candidate.points)
        searcher: Any = RandomizedSearchCV(
            planned.model, planned.space, n_iter=n_iter, random_state=settings.seed, **common
        )
    else:
        searcher = GridSearchCV(planned.model, planned.space, **common)
    started = time.monotonic()
    try:
        searcher.fit(x, y)
    except Exception as exc:  # a grid value the estimator refuses, a fit that fails on a fold
        raise SearchError(
            f"{planned.candidate.setting} failed in cross-validation: {type(exc).__name__}: {exc}"
        ) from exc
    return searcher, _seconds_since(started)


def _entry(planned: Planned, searcher: Any, seconds: float, *, higher_is_better: bool) -> dict[str, Any]:
    """A candidate's line of the leaderboard (see the module's docstring)."""
    results, sign = searcher.cv_results_, 1.0 if higher_is_better else -1.0
    names = dict(zip(planned.space, planned.candidate.search, strict=True))  # pipeline name -> the config's key
    order = np.argsort(results["rank_test_score"], kind="stable")[:GRID_SHOWN]
    grid = [
        {
            "params": {names[k]: _plain(v) for k, v in results["params"][i].items()},
            "mean": round(sign * float(results["mean_test_score"][i]), 6),
            "std": round(float(results["std_test_score"][i]), 6),
        }
        for i in order.tolist()
    ]
    points = len(results["params"])
    return {
        "name": planned.candidate.name,
        "estimator": planned.candidate.estimator,
        "mean": grid[0]["mean"],
        "std": grid[0]["std"],
        "best": grid[0]["params"],
        "points": points,
        "fits": points * searcher.n_splits_,
        "seconds": seconds,
        "grid": grid,
    }


def _plain(value: Any) -> Any:
    """A grid value as JSON keeps it (a tuple as a list; numpy scalars as Python's)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def _worst_last(mean: float, higher_is_better: bool) -> tuple[bool, float]:
    """Sort key: best mean first in the metric's direction, an undefined (NaN) mean last."""
    return (math.isnan(mean), -mean if higher_is_better else mean)


def _seconds_since(start: float) -> float:
    return round(time.monotonic() - start, 3)
