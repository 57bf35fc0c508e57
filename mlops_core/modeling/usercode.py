"""The user's own pipeline code: `[model] pipeline = "pipelines.<module>:<function>"`.

The function lives in the `pipelines/` package at the repository root, which deploy bundles into every
function's code (so a pickled custom transformer unpickles in scoring) and into the training image. It is
called with the ProjectConfig and returns the whole unfitted model: the model receives the model input
DataFrame (one column per configured feature, named as configured: `features.model_input`) and does its
own preprocessing. It is the user's code, deployed by the user and run with the functions' permissions;
the config itself still names nothing but `sklearn.*` classes as estimators.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ..config import ConfigError, ProjectConfig, Task

WHERE = (
    "pipelines/<module>.py, in the pipelines/ package (with its __init__.py) at the repository root, "
    "which `mlops deploy` bundles into the functions and the training image"
)


class PipelineError(RuntimeError):
    """The user's pipeline code failed to import or run, or built something that is not a model."""


def load_function(path: str) -> Callable[[ProjectConfig], Any]:
    """The function `path` ("pipelines.<module>:<function>") names; errors say what to fix and where."""
    module_name, _, function_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):
            raise ConfigError(f"[model] pipeline {path!r}: no module {module_name}; it must be {WHERE}") from exc
        raise PipelineError(
            f"your pipeline module {module_name} imports {exc.name}, which is not installed where models are "
            "trained and scored (the Lambda layer and the training image hold lambdas/requirements.txt)"
        ) from exc
    except Exception as exc:  # the user's module ran and failed: name what it raised
        raise PipelineError(
            f"importing your pipeline module {module_name} failed: {type(exc).__name__}: {exc}"
        ) from exc
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ConfigError(f"[model] pipeline {path!r}: {module_name} has no function {function_name}")
    return function


def user_pipeline(config: ProjectConfig) -> Any:
    """A fresh unfitted model from the user's pipeline function, checked to be one for the task."""
    path = config.model.pipeline
    if path is None:
        raise ConfigError("[model] pipeline is not set")
    function = load_function(path)
    try:
        model = function(config)
    except Exception as exc:  # the user's code: training stops with what it raised, and nothing is registered
        raise PipelineError(f"your pipeline function {path} raised {type(exc).__name__}: {exc}") from exc
    check_user_model(model, config.task, path)
    return model


def check_user_model(model: Any, task: Task, path: str) -> None:
    """Raise PipelineError unless `model` is a scikit-learn style estimator that predicts what the task needs."""
    if not (hasattr(model, "fit") and hasattr(model, "get_params")):
        raise PipelineError(
            f"your pipeline function {path} returned {type(model).__name__}, not an unfitted scikit-learn estimator "
            "(an object with fit, get_params and predict); return e.g. a sklearn.pipeline.Pipeline"
        )
    needs = "predict_proba" if task.is_classification else "predict"
    if not hasattr(model, needs):
        raise PipelineError(
            f"your pipeline function {path} returned a model without {needs}: a {task.kind} task needs "
            + ("class probabilities" if task.is_classification else "predicted values")
        )
