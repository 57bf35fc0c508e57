"""What training fits: the one model, or each search candidate as a model with the space its grid spans.

- No candidates: the configured pipeline (`features.build_pipeline`: preprocessing + model.estimator), or
  the user's own (`[model] pipeline`, mlops_core/modeling/usercode.py), fitted once.
- Candidates: each candidate's `sklearn.*` estimator as the last step of that same pipeline (after our
  preprocessing, or after the steps of the user's own Pipeline), searched over its grid.

A grid key is the candidate estimator's own parameter, as in its `params` (`C`; a nested one as
scikit-learn names it, `estimator__C`), searched on the pipeline as `<last step>__C` (`model__C`); a key
that names another step's parameter in scikit-learn's `step__param` form (`preprocess__numeric__with_mean`)
is taken as it is. Anything else is refused with the names it could have been. Everything here runs at
synth (`check_model`) and before a training run reads its data, so a wrong name costs no training time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sklearn.pipeline import Pipeline

from ..config import Candidate, ConfigError, ProjectConfig
from .pipeline import _estimator, build_pipeline
from .usercode import PipelineError, user_pipeline

SHOWN_NAMES = 12  # parameter names listed in an unknown-parameter error


@dataclass(frozen=True)
class Planned:
    """A candidate ready to search: its unfitted model and its grid in the model's parameter names."""

    candidate: Candidate
    model: Pipeline
    space: dict[str, list[Any]]


def base_model(config: ProjectConfig) -> Any:
    """The one model training fits without candidates: the user's pipeline, or the configured one."""
    return user_pipeline(config) if config.model.pipeline else build_pipeline(config)


def candidate_model(config: ProjectConfig, candidate: Candidate) -> Pipeline:
    """The candidate's estimator after the same steps as every other candidate."""
    estimator = _estimator(candidate.estimator, candidate.params, config.task, setting=candidate.setting)
    if not config.model.pipeline:
        return build_pipeline(config, estimator=estimator)
    pipeline = user_pipeline(config)
    if not isinstance(pipeline, Pipeline):
        raise PipelineError(
            f"[[model.candidates]] replace the last step of your pipeline, but {config.model.pipeline} returned "
            f"{type(pipeline).__name__}, not a sklearn.pipeline.Pipeline: return a Pipeline, or remove the candidates"
        )
    return pipeline.set_params(**{pipeline.steps[-1][0]: estimator})


def search_space(model: Pipeline, candidate: Candidate) -> dict[str, list[Any]]:
    """The candidate's grid in the pipeline's parameter names (see the module's docstring)."""
    known = model.get_params(deep=True)
    last = model.steps[-1][0]
    space = {}
    for key, values in candidate.search.items():
        if f"{last}__{key}" in known:
            space[f"{last}__{key}"] = list(values)
        elif "__" in key and key in known:
            space[key] = list(values)
        else:
            own = sorted(k.removeprefix(f"{last}__") for k in known if k.startswith(f"{last}__"))
            more = f", ... ({len(own)} in all)" if len(own) > SHOWN_NAMES else ""
            raise ConfigError(
                f"{candidate.setting}.search: {key!r} is not a parameter of {candidate.estimator} "
                f"(its parameters: {', '.join(own[:SHOWN_NAMES])}{more}) nor a pipeline step's in step__param form "
                f"(steps: {', '.join(name for name, _ in model.steps)}): fix or remove it"
            )
    return space


def plan(config: ProjectConfig) -> list[Planned]:
    """Every candidate built and its grid checked (an empty list without candidates)."""
    planned = []
    for candidate in config.model.candidates:
        model = candidate_model(config, candidate)
        planned.append(Planned(candidate, model, search_space(model, candidate)))
    return planned


def check_model(config: ProjectConfig) -> None:
    """Build what training would fit, so a wrong estimator, parameter, grid or pipeline fails the synth."""
    if not plan(config):
        base_model(config)
