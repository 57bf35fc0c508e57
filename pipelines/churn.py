"""An example of your own pipeline code for the churn data: a small custom transformer (the log of skewed
amounts) before a preprocessing of its own, then a scikit-learn model.

Used by examples/custom-pipeline/mlops.toml (`pipeline = "pipelines.churn:build"`), whose
[[model.candidates]] replace the last step ("model") with each estimator the search tries.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlops_core.config import ProjectConfig

SKEWED = ("data_usage_gb", "support_calls")  # long right tails: the log evens them out


class LogAmounts(BaseEstimator, TransformerMixin):
    """Replaces each of `columns` by log(1 + x), x clipped at 0 (amounts are never negative; a negative
    cell is a data error that should not turn into NaN here). Other columns pass through."""

    def __init__(self, columns: tuple[str, ...] = SKEWED) -> None:
        self.columns = columns

    def fit(self, x: pd.DataFrame, y: Any = None) -> LogAmounts:
        missing = [c for c in self.columns if c not in x.columns]
        if missing:
            raise ValueError(f"LogAmounts: the input has no column(s) {', '.join(missing)}")
        self.feature_names_in_ = np.asarray(x.columns, dtype=object)
        return self

    def transform(self, x: pd.DataFrame) -> pd.DataFrame:
        out = x.copy()
        for column in self.columns:
            out[column] = np.log1p(np.clip(x[column].to_numpy(dtype=np.float64), 0, None))
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self.feature_names_in_


def build(config: ProjectConfig) -> Pipeline:
    """The log of the skewed amounts, scaled numbers and one-hot categories (by the configured names), and a
    logistic regression (the search's candidates replace it)."""
    numeric = [f.name for f in config.features if f.is_numeric]
    categorical = [f for f in config.features if not f.is_numeric]
    preprocess = ColumnTransformer(
        [
            ("numeric", StandardScaler(), numeric),
            (
                "categorical",
                OneHotEncoder(categories=[list(f.categories) for f in categorical], handle_unknown="ignore"),
                [f.name for f in categorical],
            ),
        ]
    )
    skewed = tuple(name for name in SKEWED if name in numeric)
    return Pipeline(
        [("log", LogAmounts(skewed)), ("preprocess", preprocess), ("model", LogisticRegression(max_iter=1000))]
    )
