"""mlops_core.modeling.boosting: gradient boosting predicted from its bins gives the model's own predictions,
value for value (missing values, infinities, values outside the training range, every task), through leaf masks
where its trees fit them and walked otherwise; a model it cannot reproduce is left as it is, and the model itself
is never changed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlops_core.modeling import leaf_masks
from mlops_core.modeling.boosting import BinnedBoosting, with_binned_boosting


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": rng.integers(0, 300, rows).astype(float),  # more values than bins: bins hold several
            "c": rng.choice(["x", "y", "z"], rows),
        }
    )
    frame.loc[frame.index[::13], "a"] = np.nan
    return frame


def _batch(infinities: bool = False) -> pd.DataFrame:
    batch = _frame(3000, seed=2)
    beyond = [np.inf, -np.inf, 1e300, -1e300] if infinities else [1e300, -1e300, 1e12, -1e12]
    batch.loc[batch.index[:4], "a"] = beyond  # beyond every threshold (a scaler refuses infinities)
    batch.loc[batch.index[4:8], "b"] = [-5.0, 10_000.0, np.nan, 150.5]  # outside the range, missing, between
    return batch


def _pipeline(model) -> Pipeline:
    columns = ColumnTransformer([("numeric", StandardScaler(), ["a", "b"]), ("categorical", OneHotEncoder(), ["c"])])
    return Pipeline([("preprocess", columns), ("model", model)])


@pytest.mark.parametrize("classes", [2, 3])
def test_given_a_boosting_classifier_then_its_binned_probabilities_are_its_own(classes):
    train = _frame(2000, seed=1)
    label = (np.nan_to_num(train["a"]) * 3 + train["b"] / 100).astype(int) % classes
    model = _pipeline(HistGradientBoostingClassifier(max_iter=40, random_state=0)).fit(train, label)

    binned = with_binned_boosting(model)

    assert isinstance(binned.steps[-1][1], BinnedBoosting)
    assert np.array_equal(binned.predict_proba(_batch()), model.predict_proba(_batch()))
    assert np.array_equal(binned.predict(_batch()), model.predict(_batch()))
    assert type(model.steps[-1][1]) is HistGradientBoostingClassifier  # the model itself is unchanged


def test_given_a_boosting_regressor_alone_then_its_binned_predictions_are_its_own():
    train = _frame(2000, seed=1)[["a", "b"]]
    model = HistGradientBoostingRegressor(max_iter=60, random_state=0).fit(train, train["b"] * 2 + 1)

    binned = with_binned_boosting(model)

    assert isinstance(binned, BinnedBoosting)
    batch = _batch(infinities=True)[["a", "b"]]
    assert np.array_equal(binned.predict(batch), model.predict(batch))


def test_given_categorical_features_or_another_model_then_it_predicts_as_it_is():
    train = _frame(500, seed=1)
    categorical = HistGradientBoostingClassifier(categorical_features=["c"], max_iter=5).fit(train, train["b"] > 150)
    linear = _pipeline(LogisticRegression()).fit(train.fillna({"a": 0.0}), train["b"] > 150)

    assert with_binned_boosting(categorical) is categorical
    assert with_binned_boosting(linear) is linear


@pytest.mark.parametrize("table_bytes", [leaf_masks.TABLE_BYTES, 0])
def test_given_trees_that_fit_in_leaf_masks_then_they_are_read_through_them_else_walked(monkeypatch, table_bytes):
    monkeypatch.setattr(leaf_masks, "TABLE_BYTES", table_bytes)
    train = _frame(2000, seed=1)[["a", "b"]]
    model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(train, train["b"] * 2 + 1)
    walked = []
    walk = model._predict_iterations
    monkeypatch.setattr(model, "_predict_iterations", lambda *args: walked.append(1) or walk(*args))

    binned = with_binned_boosting(model)
    predicted = binned.predict(_batch()[["a", "b"]])

    assert (binned.leaf_masks is not None) == (table_bytes > 0)
    assert bool(walked) == (table_bytes == 0)
    assert np.array_equal(predicted, model.predict(_batch()[["a", "b"]]))
