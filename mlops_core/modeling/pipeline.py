"""The feature schema and the model pipeline: what training fits and scoring feeds, in one place."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..config import MISSING_CATEGORY, ConfigError, Feature, ProjectConfig, Task

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

# scikit-learn is imported where a pipeline is built or checked, not with this module: scoring needs only
# the schema and `model_input` until it loads a model (the pickle imports what it holds), so a file refused
# at its header, or a duplicate event, costs no import of scikit-learn and scipy (about 1 s of a cold start).


def _estimator(path: str, params: dict[str, Any], task: Task, *, setting: str = "model") -> Any:
    """An instance of the scikit-learn class `path` with `params`, checked against the task; `setting` is how
    error messages name where it is configured ("model", or a search candidate)."""
    from sklearn.base import is_classifier, is_regressor  # noqa: PLC0415 - see the module's imports

    cls = _sklearn_class(path, setting)
    try:
        estimator = cls(**_built(params, setting))
    except TypeError as exc:
        raise ConfigError(f"{setting}.params do not fit {path}: {exc}") from exc
    if task.is_classification and not (is_classifier(estimator) and hasattr(cls, "predict_proba")):
        raise ConfigError(
            f"{setting}.estimator {path!r} is not a classifier with predict_proba: a {task.kind} task needs "
            "class probabilities"
        )
    if not task.is_classification and not is_regressor(estimator):
        raise ConfigError(f"{setting}.estimator {path!r} is not a regressor: a regression task predicts numbers")
    return estimator


def _sklearn_class(path: str, setting: str) -> Any:
    # Only scikit-learn classes: the config must never be a way to import arbitrary code.
    module_name, _, class_name = path.rpartition(".")
    if not module_name.startswith("sklearn."):
        raise ConfigError(f"{setting}.estimator must be a scikit-learn class (sklearn.*), not {path!r}")
    try:
        return getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{setting}.estimator {path!r} does not exist in this scikit-learn") from exc


def _built(params: dict[str, Any], setting: str) -> dict[str, Any]:
    """`params` with each `{ class = "sklearn....", params = {...} }` table built into that estimator: how a
    wrapper gets the model it wraps (CalibratedClassifierCV's `estimator`, a LinearSVC, say)."""
    out = dict(params)
    for key, value in params.items():
        if isinstance(value, dict) and "class" in value:
            inner = _sklearn_class(str(value["class"]), f"{setting}.params.{key}")
            try:
                out[key] = inner(**_built(dict(value.get("params", {})), setting))
            except TypeError as exc:
                raise ConfigError(f"{setting}.params.{key}.params do not fit {value['class']}: {exc}") from exc
    return out


def build_pipeline(config: ProjectConfig, *, estimator: Any = None) -> Pipeline:
    """Preprocessing (scaled numerics, one-hot categories, TF-IDF per text column) + the configured estimator,
    or `estimator` (a search candidate's, see mlops_core/modeling/search.py) after the same preprocessing.

    With a text feature the preprocessed matrix is sparse: the estimator must accept sparse input (linear
    models, SVMs, naive Bayes, random forests do; HistGradientBoosting does not).
    """
    from sklearn.compose import ColumnTransformer  # noqa: PLC0415 - see the module's imports
    from sklearn.pipeline import Pipeline  # noqa: PLC0415

    if estimator is None:
        estimator = _estimator(config.model.estimator, config.model.params, config.task)
    return Pipeline(
        [
            ("preprocess", ColumnTransformer(preprocessing(config.features))),
            ("model", estimator),
        ]
    )


def preprocessing(features: Sequence[Feature]) -> list[tuple[str, Any, Any]]:
    """The ColumnTransformer's transformers: numerics scaled (those with `missing = "impute"` first given
    the median and a missing-indicator column), categories one-hot (a blank cell of an imputed feature
    is the empty category), TF-IDF per text column (a blank is an empty text: no words).

    Only scikit-learn classes, so that a pickled model loads wherever scikit-learn does.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: PLC0415 - see the module's imports
    from sklearn.impute import SimpleImputer  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415
    from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: PLC0415

    numeric = [f.name for f in features if f.is_numeric and not f.imputes]
    imputed = [f.name for f in features if f.is_numeric and f.imputes]
    categorical = [f for f in features if f.is_categorical]
    transformers: list[tuple[str, Any, Any]] = []
    if numeric:
        transformers.append(("numeric", StandardScaler(), numeric))
    if imputed:
        steps = [("impute", SimpleImputer(strategy="median", add_indicator=True)), ("scale", StandardScaler())]
        transformers.append(("numeric_imputed", Pipeline(steps), imputed))
    if categorical:
        encoder = OneHotEncoder(
            categories=[[*f.categories, *([MISSING_CATEGORY] if f.imputes else [])] for f in categorical],
            handle_unknown="ignore",
            sparse_output=False,
        )
        transformers.append(("categorical", encoder, [f.name for f in categorical]))
    for f in features:  # a column name, not a list: the vectorizer takes one column of documents
        if f.is_text:
            transformers.append((f"text_{f.name}", TfidfVectorizer(**f.vectorizer), f.name))
    return transformers


def model_input(columns: Mapping[str, np.ndarray], features: Sequence[Feature]) -> pd.DataFrame:
    """The pipeline's input: one column per feature in schema order, named as configured (every model,
    trained here or registered from a notebook, selects its columns by name), numbers as float64 and
    categories as text.

    A DataFrame rather than a 2-D object array: the numbers reach the scaler without being boxed into
    Python objects and converted back (~0.6 s per million rows), and the predictions are the same. Text and
    categories stay object columns: pandas 3 would copy them into its Arrow string dtype, and scikit-learn's
    encoders copy them back (10 of 28 ms to encode two categorical features of 50,000 rows).
    """
    return pd.DataFrame(
        {
            f.name: columns[f.name] if f.is_numeric else pd.Series(columns[f.name], dtype=object, copy=False)
            for f in features
        },
        copy=False,
    )


def schema_dict(config: ProjectConfig, task: Task) -> dict[str, Any]:
    """The schema as stored in a model's manifest: the features (scoring validates input against them),
    the label column and the task with the classes the version was trained on (`task`)."""
    return {
        "features": [_feature_dict(f) for f in config.features],
        "label": config.label,
        **task.to_dict(),
    }


def _feature_dict(feature: Feature) -> dict[str, Any]:
    out: dict[str, Any] = {"name": feature.name, "type": feature.type, "categories": list(feature.categories)}
    out |= {"missing": feature.missing, "unknown": feature.unknown}
    if feature.is_text:
        out |= {"max_chars": feature.max_chars, "vectorizer": feature.vectorizer}
    return out


def features_from_schema(schema: Mapping[str, Any]) -> tuple[Feature, ...]:
    """The features of a manifest's schema."""
    return tuple(
        Feature(
            name=f["name"],
            type=f["type"],
            categories=tuple(f.get("categories", ())),
            max_chars=f.get("max_chars"),
            missing=f.get("missing", "reject"),  # models trained before the setting rejected blanks
            unknown=f.get("unknown", "reject"),
            # JSON has no tuples: ngram_range comes back as a list.
            vectorizer={k: tuple(v) if isinstance(v, list) else v for k, v in f.get("vectorizer", {}).items()},
        )
        for f in schema["features"]
    )
