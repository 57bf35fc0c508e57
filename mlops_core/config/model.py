"""The [model] table's search and pipeline settings: `[[model.candidates]]`, `cv_folds`, `search`, `n_iter`,
`max_fits` and `pipeline`, parsed and checked when the config loads (ModelSettings, at the end, holds them).

Only what needs no scikit-learn is checked here (the config loads in every function's cold start): the
shapes of the tables, which settings go together, and the cost bound. Whether a candidate's estimator and
its grid's parameter names exist is checked where the estimators are built (mlops_core/modeling/search.py), at
synth and at the start of every training run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ConfigError

SEARCH_METHODS = ("grid", "random")
# A function in a module of the user's own top-level `pipelines` package, and nothing else: the config
# names scikit-learn classes or the user's own code, never an arbitrary import.
PIPELINE = re.compile(r"pipelines(\.[A-Za-z_][A-Za-z0-9_]*)+:[A-Za-z_][A-Za-z0-9_]*")
CANDIDATE_KEYS = ("name", "estimator", "params", "search")


@dataclass(frozen=True)
class Candidate:
    """One `[[model.candidates]]` table: an `sklearn.*` estimator, its fixed `params`, and an optional
    `search` grid (parameter -> values) whose points are cross-validated."""

    name: str
    estimator: str
    params: dict[str, Any]
    search: dict[str, tuple[Any, ...]]

    @property
    def points(self) -> int:
        """The number of points in the grid (1 without one)."""
        return math.prod(len(values) for values in self.search.values())

    @property
    def setting(self) -> str:
        """How error messages name this candidate."""
        return f'model.candidates["{self.name}"]'


def search_settings(model: Mapping[str, Any], *, known: Iterable[str]) -> dict[str, Any]:
    """ModelSettings' search and pipeline fields from the [model] table; refuses unknown settings."""
    unknown = sorted(set(model) - set(known))
    if unknown:
        raise ConfigError(f"[model] has unknown setting(s) {', '.join(unknown)}")
    pipeline = model.get("pipeline")
    return {
        "candidates": parse_candidates(model.get("candidates", [])),
        "cv_folds": _whole(model, "cv_folds", 5, minimum=2),
        "search": model.get("search", "grid"),
        "n_iter": _whole(model, "n_iter", 10, minimum=1),
        "max_fits": _whole(model, "max_fits", 100, minimum=1),
        "pipeline": None if pipeline is None else str(pipeline),
    }


def parse_candidates(items: Any) -> tuple[Candidate, ...]:
    """The `[[model.candidates]]` tables; each name unique (default: the estimator's class name, then -2, -3...)."""
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ConfigError(
            "[[model.candidates]] must be tables, each with an estimator (see docs/configuration.md, Model search)"
        )
    candidates: list[Candidate] = []
    for number, item in enumerate(items, start=1):
        unknown = sorted(set(item) - set(CANDIDATE_KEYS))
        if unknown or "estimator" not in item:
            problem = f"unknown key(s) {', '.join(unknown)}" if unknown else "no estimator"
            raise ConfigError(
                f"[[model.candidates]] number {number} has {problem}; its keys: {', '.join(CANDIDATE_KEYS)}"
            )
        estimator = str(item["estimator"])
        name = str(item.get("name") or estimator.rpartition(".")[2])
        taken = {c.name for c in candidates}
        if "name" not in item and name in taken:
            name = next(f"{name}-{i}" for i in range(2, len(items) + 2) if f"{name}-{i}" not in taken)
        if name in taken:
            raise ConfigError(f"[[model.candidates]] name {name!r} is used twice: give each candidate its own name")
        if not isinstance(item.get("params", {}), dict):
            raise ConfigError(f'model.candidates["{name}"].params must be a table, e.g. {{ max_iter = 1000 }}')
        search = _grid(name, item.get("search", {}))
        candidates.append(Candidate(name, estimator, dict(item.get("params", {})), search))
    return tuple(candidates)


def _grid(name: str, raw: Any) -> dict[str, tuple[Any, ...]]:
    """A candidate's search grid: each parameter a non-empty list of values; a list inside the list is
    passed as a tuple (scikit-learn wants ngram_range = (1, 2), TOML writes [1, 2])."""
    if not isinstance(raw, dict):
        raise ConfigError(f'model.candidates["{name}"].search must be a table, e.g. {{ C = [0.1, 1.0, 10.0] }}')
    grid = {}
    for key, values in raw.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(
                f'model.candidates["{name}"].search.{key} must be a non-empty list of values '
                f"(e.g. {key} = [0.1, 1.0]), not {values!r}"
            )
        grid[str(key)] = tuple(tuple(v) if isinstance(v, list) else v for v in values)
    return grid


def _whole(model: Mapping[str, Any], key: str, default: int, *, minimum: int) -> int:
    value = model.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"[model] {key} must be a whole number of at least {minimum}, not {value!r}")
    return value


def cv_fits(settings: ModelSettings) -> int:
    """The cross-validation fits a search runs: per candidate, its grid's points (random: at most n_iter of
    them) times cv_folds; 0 without candidates. The refit of the best comes on top."""
    per_candidate = (
        min(c.points, settings.n_iter) if settings.search == "random" else c.points for c in settings.candidates
    )
    return sum(per_candidate) * settings.cv_folds if settings.candidates else 0


def check_model_settings(settings: ModelSettings) -> None:
    """Raise ConfigError when [model]'s settings do not go together or the search exceeds max_fits."""
    if settings.search not in SEARCH_METHODS:
        raise ConfigError(f'[model] search must be "grid" or "random", not {settings.search!r}')
    if settings.pipeline is not None and not PIPELINE.fullmatch(settings.pipeline):
        raise ConfigError(
            '[model] pipeline must name a function in a module of your own pipelines/ package, as "pipelines.'
            f'<module>:<function>" (e.g. "pipelines.churn:build"), not {settings.pipeline!r}'
        )
    _check_combination(settings)
    fits = cv_fits(settings)
    if fits > settings.max_fits:
        per = ", ".join(
            f"{c.name} {min(c.points, settings.n_iter) if settings.search == 'random' else c.points}"
            for c in settings.candidates
        )
        raise ConfigError(
            f"[model] the search would run {fits} cross-validation fits (points per candidate: {per}; "
            f"x {settings.cv_folds} folds), over model.max_fits = {settings.max_fits}: shrink a grid, use "
            'search = "random" with a smaller n_iter, lower cv_folds, or raise max_fits'
        )


def _check_combination(settings: ModelSettings) -> None:
    """One way to say what to fit: an estimator, candidates, or a pipeline (candidates may follow a pipeline)."""
    if settings.candidates and (settings.estimator or settings.params):
        raise ConfigError(
            "[model] has both estimator/params and [[model.candidates]]: list the estimator as one of the candidates"
        )
    if settings.pipeline and (settings.estimator or settings.params):
        raise ConfigError(
            "[model] pipeline builds the whole model, so estimator and params are not used: remove them "
            "(to search scikit-learn estimators as your pipeline's last step, list them in [[model.candidates]])"
        )
    if not (settings.estimator or settings.candidates or settings.pipeline):
        raise ConfigError(
            '[model] needs an estimator (e.g. "sklearn.linear_model.LogisticRegression"), '
            "[[model.candidates]] to search, or a pipeline of your own"
        )


@dataclass(frozen=True)
class ModelSettings:
    estimator: str
    params: dict[str, Any]
    seed: int
    holdout_share: float
    # Model search (mlops_core/config/model.py): each candidate cross-validated on the training part and the
    # best refitted; no candidates = the one estimator above, fitted once, no cross-validation.
    candidates: tuple[Candidate, ...] = ()
    cv_folds: int = 5
    search: Literal["grid", "random"] = "grid"
    n_iter: int = 10  # random: the points drawn (seeded) from each candidate's grid
    max_fits: int = 100  # the bound on the search's cross-validation fits (candidates x points x folds)
    # The user's own code: "pipelines.<module>:<function>" returns the whole unfitted model for the config.
    pipeline: str | None = None

    def __post_init__(self) -> None:
        check_model_settings(self)

    @property
    def cv_fits(self) -> int:
        """The cross-validation fits the search runs (0 without candidates)."""
        return cv_fits(self)
