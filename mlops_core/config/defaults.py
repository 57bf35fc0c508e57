"""What a section or a setting left out of `mlops.toml` means, when that depends on the task or the features,
and the file's known sections (a misspelt one is refused, with the closest known name).

The fixed defaults are on the settings' records (`sections`, `lifecycle`, `model`); this module adds the
task-aware ones to a section's table before the record is built, so the record still refuses unknown keys.
Only `[label]` and `[[features]]` are required; docs/configuration.md, "Defaults", lists them all.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError
from .lifecycle import LOCK_MARGIN_S
from .task import METRICS, Task

SECTIONS = (
    "project",
    "label",
    "features",
    "model",
    "training",
    "scoring",
    "drift",
    "promotion",
    "retraining",
    "queue",
    "monitoring",
    "online",
    "tracking",
)
REQUIRED_SECTIONS = ("label", "features")
# The holdout metric a candidate is promoted on: ROC AUC ranks (it does not depend on a threshold or on
# class balance); macro F1 weighs every class alike, so a rare class cannot be ignored; R2 has no unit,
# so its floor (0: better than always predicting the mean) holds for any label's scale.
DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "r2"}
# A metric's default floor and tolerance; metrics in the label's units (rmse, mae) and log_loss have none.
METRIC_DEFAULTS = {
    "roc_auc": (0.6, 0.01),
    "accuracy": (0.6, 0.01),
    "f1": (0.5, 0.01),
    "f1_macro": (0.5, 0.01),
    "r2": (0.0, 0.01),
}
ACCURACY_FLOOR = 0.7
# The estimator when [model] names none: gradient boosting (strong on tables, missing values handled) unless
# a text feature makes the matrix sparse, which HistGradientBoosting refuses: then a linear model.
DEFAULT_ESTIMATORS = {
    (True, False): "sklearn.ensemble.HistGradientBoostingClassifier",
    (False, False): "sklearn.ensemble.HistGradientBoostingRegressor",
    (True, True): "sklearn.linear_model.LogisticRegression",
    (False, True): "sklearn.linear_model.Ridge",
}


def check_sections(raw: Mapping[str, Any]) -> None:
    """Raise ConfigError for a required section left out, or a top-level name that is no known section
    (a typo such as [retrainig] would otherwise be ignored, and the settings under it with it)."""
    for name in raw:
        if name not in SECTIONS:
            close = difflib.get_close_matches(name, SECTIONS, n=1, cutoff=0.6)
            hint = f"; did you mean [{close[0]}]?" if close else f"; the sections are {', '.join(SECTIONS)}"
            raise ConfigError(f"[{name}] is not a section of mlops.toml{hint}")
    for name in (s for s in SECTIONS if s not in ("label", "features")):
        if name in raw and not isinstance(raw[name], dict):
            raise ConfigError(f"{name} must be a table ([{name}]), not {raw[name]!r}")
    if not isinstance(raw.get("label"), dict):
        raise ConfigError("[label] section is missing from mlops.toml: name the label column (column = ...)")


def model_defaults(model: Mapping[str, Any], task: Task, *, has_text: bool) -> dict[str, Any]:
    """[model] with the default estimator when it names nothing to fit (no estimator, params, candidates
    or pipeline), seeded with `seed` where the estimator takes a random_state."""
    if any(key in model for key in ("estimator", "params", "candidates", "pipeline")):
        return dict(model)
    estimator = DEFAULT_ESTIMATORS[(task.is_classification, has_text)]
    if estimator.endswith("LogisticRegression"):
        params: dict[str, Any] = {"max_iter": 1000}
    elif estimator.endswith("Ridge"):
        params = {}
    else:
        params = {"random_state": model.get("seed", 42)}
    return {**model, "estimator": estimator, "params": params}


def promotion_defaults(promotion: Mapping[str, Any], task: Task) -> dict[str, Any]:
    """[promotion] with the task's metric and that metric's floor and tolerance where they are left out;
    a metric in the label's units has no default floor or tolerance: they are required, and said so."""
    out = {"metric": DEFAULT_METRIC[task.kind], **promotion}
    if str(out["metric"]) not in METRICS:  # the message check_fits_task gives a metric of another task
        fitting = [name for name, spec in METRICS.items() if task.kind in spec.tasks]
        raise ConfigError(
            f"[promotion] metric {out['metric']!r} does not fit a {task.kind} task; use one of {', '.join(fitting)}"
        )
    defaults = METRIC_DEFAULTS.get(str(out["metric"]))
    for position, name in enumerate(("floor", "tolerance")):
        if name in out:
            continue
        if defaults is None:
            raise ConfigError(
                f"[promotion] {name} is required with metric {out['metric']!r}: it is in the label's units (or, "
                f"for log_loss, depends on the classes), so no default fits every data set; or use metric "
                f"{DEFAULT_METRIC[task.kind]!r}, whose defaults hold for any scale"
            )
        out[name] = defaults[position]
    return out


def drift_defaults(drift: Mapping[str, Any], task: Task) -> dict[str, Any]:
    """[drift] with accuracy_floor for a classification task; a regression task must set max_error."""
    if task.is_classification:  # a max_error here is refused by check_fits_task, naming accuracy_floor instead
        return {"accuracy_floor": ACCURACY_FLOOR, **drift}
    if "max_error" not in drift and "accuracy_floor" not in drift:
        raise ConfigError(
            "[drift] max_error is required for a regression task: the mean absolute error above which a labeled "
            "batch raises the alarm, in the label's units, so no default fits every data set (`mlops init` "
            "writes one from your data: the error of always predicting the median label)"
        )
    return dict(drift)


def retraining_defaults(retraining: Mapping[str, Any]) -> dict[str, Any]:
    """[retraining] with lock_ttl_seconds, when left out, at max_runtime_seconds plus LOCK_MARGIN_S."""
    runtime = retraining.get("max_runtime_seconds", 3600)
    if "lock_ttl_seconds" in retraining or not isinstance(runtime, int) or isinstance(runtime, bool):
        return dict(retraining)
    return {**retraining, "lock_ttl_seconds": runtime + LOCK_MARGIN_S}
