"""`python -m mlopsctl.modelcheck MODEL REFERENCE --out DIR ...`: load a model file and try it on the
reference rows, in a process of its own.

Unpickling runs the file's code, so `mlops register` (mlopsctl/register.py) runs this in a child
process with a time and a memory limit: whatever the model does (raise, hang, exhaust memory, kill the
process) stays here. The checks, in order:
1. this process's scikit-learn is the layer's (same major.minor), else the checks would not tell;
2. the scikit-learn version the file was pickled with, read from its bytes before anything in it runs
   (mlopsctl/pickleinfo.py): another major.minor than the scoring layer's is refused;
3. the reference rows, read as training reads a file (mlops_core/registry/registration.py);
4. the file loaded as scoring loads it (joblib, from bytes), with scikit-learn's version warnings
   caught (a second source of the version, for a file the scan could not read);
5. the columns it was fitted on against the configured features, and its classes against the task;
6. its predictions on the reference rows, given as scoring gives them (a DataFrame of the configured
   feature names, mlops_core/features.model_input): their shape, finite values, probabilities.

It writes `result.json` into DIR (what it found, or the problem and what to fix) and, when the model
passed, `predictions.npy` (class probabilities in the task's class order, or predicted values); the
exit status is 0 whenever it wrote a result.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import resource
import sys
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import sklearn
from sklearn.base import is_classifier
from sklearn.exceptions import InconsistentVersionWarning

from mlops_core.config import ProjectConfig, load_config
from mlops_core.config.task import Task, model_classes
from mlops_core.modeling.pipeline import model_input
from mlops_core.modeling.predictions import Predictor
from mlops_core.registry.registration import ReferenceFileError, read_reference

from .pickleinfo import minor, scan_file

RESULT, PREDICTIONS = "result.json", "predictions.npy"
PROBABILITY_TOLERANCE = 1e-6  # rounding in a model's arithmetic, not a real departure from [0, 1]
SUM_TOLERANCE = 1e-3


class Problem(Exception):
    """What is wrong with the model (`kind`), in words, and what to do about it."""

    def __init__(self, kind: str, message: str, fix: str) -> None:
        super().__init__(message)
        self.kind, self.fix = kind, fix

    def to_dict(self) -> dict[str, Any]:
        return {"ok": False, "kind": self.kind, "message": str(self), "fix": self.fix}


def main(argv: list[str] | None = None) -> int:
    """Check the model, write the result; exit status 0 whenever a result was written."""
    args = _arguments(argv)
    _limit_memory(args.max_memory_mb)
    sys.path[:0] = args.path  # where the scoring layer's own code is (none by default)
    out = Path(args.out)
    try:
        config = load_config(args.config)
        result = check(Path(args.model), Path(args.reference), config=config, layer_sklearn=args.layer_sklearn)
        np.save(out / PREDICTIONS, result.pop("values"), allow_pickle=False)
    except Problem as problem:
        result = problem.to_dict()
    (out / RESULT).write_text(json.dumps(result))
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m mlopsctl.modelcheck", description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("reference")
    parser.add_argument("--config", required=True, help="the project's config file")
    parser.add_argument("--layer-sklearn", required=True, help="the scoring layer's scikit-learn version")
    parser.add_argument("--out", required=True, help="the folder for result.json and predictions.npy")
    parser.add_argument("--max-memory-mb", type=int, required=True, help="address space limit of this process")
    parser.add_argument("--path", action="append", default=[], help="a folder of code the scoring layer has")
    return parser.parse_args(argv)


def _limit_memory(megabytes: int) -> None:
    """Past the limit an allocation fails (MemoryError, reported) instead of the machine running out."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = megabytes << 20
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


def check(model: Path, reference: Path, *, config: ProjectConfig, layer_sklearn: str) -> dict[str, Any]:
    """The checks of the module's docstring; the result, with the predictions under "values". Raises Problem."""
    if minor(sklearn.__version__) != minor(layer_sklearn):
        raise Problem(
            "environment",
            f"this CLI runs scikit-learn {sklearn.__version__}, the scoring layer has {layer_sklearn}: "
            "a model checked here could still fail in scoring",
            "run `make setup` (the CLI's .venv installs lambdas/requirements.txt)",
        )
    data = model.read_bytes()  # read once: what is scanned, loaded and hashed is the same
    pickled = scan_file(io.BytesIO(data))
    _check_versions(pickled.sklearn, layer_sklearn)
    try:
        rows = read_reference(reference, config)
    except ReferenceFileError as exc:
        raise Problem("reference", str(exc), exc.fix) from exc
    loaded, warned = _load(data, layer_sklearn)
    _check_versions(warned, layer_sklearn)
    task = _task(loaded, config)
    notes = _check_columns(loaded, config)
    values = _predict(loaded, task, model_input(rows.columns, config.features), config)
    return {
        "ok": True,
        "pickled": {**pickled.to_dict(), "sklearn": pickled.sklearn or warned},
        "model": {**_described(loaded), "sha256": hashlib.sha256(data).hexdigest()},
        "task": task.to_dict(),
        "reference": {"rows": rows.rows, "sha256": rows.entry["sha256"]},
        "notes": notes,
        "values": values,
    }


def _check_versions(found: list[str], layer: str) -> None:
    other = [v for v in found if minor(v) != minor(layer)]
    if other:
        raise Problem(
            "version",
            f"it was pickled with scikit-learn {', '.join(other)}, the scoring layer has scikit-learn {layer} "
            "(lambdas/requirements.txt): a model pickled with another major.minor version may load wrongly or "
            "not at all",
            f"re-train or re-pickle the model with scikit-learn {minor(layer)} (pip install 'scikit-learn=={layer}')",
        )


def _load(data: bytes, layer: str) -> tuple[Any, list[str]]:
    """The model, loaded as scoring loads it, and the scikit-learn versions its estimators say they were
    pickled with (from InconsistentVersionWarning; none when it is this one)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            loaded = joblib.load(io.BytesIO(data))
        except Exception as exc:  # the file's own code may raise anything
            _check_versions(_warned_versions(caught), layer)  # a version problem says more
            raise _load_problem(exc) from exc
    return loaded, _warned_versions(caught)


def _warned_versions(caught: list[warnings.WarningMessage]) -> list[str]:
    found = [w.message.original_sklearn_version for w in caught if isinstance(w.message, InconsistentVersionWarning)]
    return list(dict.fromkeys(found))


def _load_problem(exc: Exception) -> Problem:
    what = f"it cannot be loaded: {type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError):
        limit = resource.getrlimit(resource.RLIMIT_AS)[0] >> 20
        return Problem(
            "load",
            f"it ran out of memory while loading (the check allows {limit:,} MB)",
            "a model must load within the scoring function's memory: make it smaller",
        )
    if isinstance(exc, ModuleNotFoundError | AttributeError):
        return Problem(
            "load",
            f"{what}; the file refers to code the scoring layer does not have",
            "build the model from scikit-learn classes (a Pipeline with a ColumnTransformer), then joblib.dump it",
        )
    return Problem("load", what, "re-save the model with joblib.dump(model, path) and check that joblib.load reads it")


def _task(model: Any, config: ProjectConfig) -> Task:
    """The configured task with the model's classes, if they fit it."""
    task = config.task
    if not task.is_classification:
        if is_classifier(model) or not callable(getattr(model, "predict", None)):
            raise Problem("task", "the task is regression: the model must be a regressor", "register a regressor")
        return task
    if not callable(getattr(model, "predict_proba", None)) or not hasattr(model, "classes_"):
        raise Problem(
            "task",
            f"a {task.kind} task needs class probabilities: the model has no predict_proba (or no classes_)",
            "use a fitted classifier with predict_proba (CalibratedClassifierCV gives one to any classifier)",
        )
    known = model_classes(model)
    if task.classes and sorted(known) != sorted(task.classes):
        raise Problem(
            "classes",
            f"the model knows the classes {', '.join(known)}; [label] classes are {', '.join(task.classes)}",
            "train the model on labels of exactly the configured classes, or change [label] classes",
        )
    if len(set(known)) != len(known):
        raise Problem("classes", f"the model's classes_ repeat a class: {', '.join(known)}", "fix the model's labels")
    try:
        return task if task.classes else task.with_classes(known)
    except ValueError as exc:
        raise Problem("classes", f"the model's classes do not fit the task: {exc}", "set [label] to fit") from exc


def _check_columns(model: Any, config: ProjectConfig) -> list[str]:
    """Problem when the model was fitted on columns the config does not have; notes for the record."""
    names = getattr(model, "feature_names_in_", None)
    configured = config.feature_names
    if names is None:
        return ["the model was fitted without column names: it takes the features by position, in the config's order"]
    unknown = [str(n) for n in names if str(n) not in configured]
    if unknown:
        raise Problem(
            "columns",
            f"the model was fitted on column(s) {', '.join(unknown)} that are not configured features "
            f"({', '.join(configured)})",
            "fit it on a DataFrame of the configured feature columns, or add those columns to [[features]]",
        )
    return []


def _predict(model: Any, task: Task, x: Any, config: ProjectConfig) -> np.ndarray:
    """The model's predictions on `x`: class probabilities in the task's order, or values."""
    method = "predict_proba" if task.is_classification else "predict"
    try:
        raw = getattr(model, method)(x)
        values = np.asarray(raw, dtype=np.float64)
    except Exception as exc:  # the model's own code may raise anything
        raise Problem(
            "predict",
            f"the model's {method} failed on the reference rows, given as a DataFrame of the configured feature "
            f"columns ({', '.join(config.feature_names)}): {type(exc).__name__}: {exc}",
            "the model must accept a pandas DataFrame with these columns (select them by name in a ColumnTransformer)",
        ) from exc
    if task.is_classification:
        _check_probabilities(values, len(x), model_classes(model))
        return Predictor(model, task).of_proba(values).proba  # type: ignore[return-value]  # classification
    values = values.reshape(-1) if values.ndim == 2 and values.shape[1] == 1 else values
    if values.shape != (len(x),):
        raise Problem("shape", f"predict returned shape {values.shape} for {len(x)} rows", "return one value per row")
    _check_finite(values, "predict")
    return values


def _check_probabilities(values: np.ndarray, rows: int, classes: list[str]) -> None:
    if values.shape != (rows, len(classes)):
        raise Problem(
            "shape",
            f"predict_proba returned shape {values.shape} for {rows} rows; the model's classes_ are "
            f"{', '.join(classes)}, so it must be ({rows}, {len(classes)}): one column per class",
            "return one probability column per entry of classes_, in its order",
        )
    _check_finite(values, "predict_proba")
    low, high = -PROBABILITY_TOLERANCE, 1 + PROBABILITY_TOLERANCE
    outside = np.flatnonzero((values.min(axis=1) < low) | (values.max(axis=1) > high))
    sums = np.flatnonzero(np.abs(values.sum(axis=1) - 1) > SUM_TOLERANCE)
    if len(outside) or len(sums):
        row = int(min([*outside[:1], *sums[:1]]))
        raise Problem(
            "values",
            f"predict_proba did not return probabilities: {len(outside)} row(s) outside [0, 1], {len(sums)} row(s) "
            f"not summing to 1 (the first is row {row + 1} of the rows used: {values[row].tolist()})",
            "return class probabilities (each in [0, 1], each row summing to 1)",
        )


def _check_finite(values: np.ndarray, method: str) -> None:
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1) if values.ndim == 2 else ~np.isfinite(values))
    if len(bad):
        raise Problem(
            "values",
            f"{method} returned NaN or infinity for {len(bad)} reference row(s), the first is row "
            f"{int(bad[0]) + 1} of the rows used",
            "the model must give a finite prediction for every valid row",
        )


def _described(model: Any) -> dict[str, Any]:
    """The model's class path and, for a Pipeline, its steps' (the last one is its estimator)."""
    steps = [(str(name), _class_path(step)) for name, step in getattr(model, "steps", [])]
    return {
        "class": _class_path(model),
        "steps": steps,
        "estimator": steps[-1][1] if steps else _class_path(model),
    }


def _class_path(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


if __name__ == "__main__":
    sys.exit(main())
