"""mlops_core.modeling.leaf_masks: a boosted model's binned trees read as leaf masks give the sums of scikit-learn's
own walk, bit for bit (every mask width, missing values sent either way, fewer bins, every task); models the masks
cannot hold are left to the walk."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from mlops_core.modeling import leaf_masks
from mlops_core.modeling.leaf_masks import LeafMasks


def _data(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 6))
    x[:, 3] = rng.integers(0, 4, rows)  # few values: few bins
    x[rng.random((rows, 6)) < 0.08] = np.nan  # missing values in training: nodes send them either way
    signal = (
        np.nan_to_num(x[:, 0]) * 2 + np.sin(np.nan_to_num(x[:, 1]) * 3) + np.isnan(x[:, 2]) + np.nan_to_num(x[:, 3]) % 2
    )
    return x, signal + rng.normal(scale=0.3, size=rows)


def _walk(model, binned: np.ndarray) -> np.ndarray:
    """scikit-learn's own sums of binned rows (what its fit computes for early stopping)."""
    raw = np.zeros((len(binned), model.n_trees_per_iteration_), order="F")
    raw += model._baseline_prediction
    model._predict_iterations(binned, model._predictors, raw, True, 1)
    return raw


def _binned(model, rows: int = 5000) -> np.ndarray:
    x, _ = _data(rows, seed=7)
    x[:3, 0] = [1e300, -1e300, np.inf]  # beyond every threshold
    return model._bin_mapper.transform(x)


@pytest.mark.parametrize(
    ("leaves", "max_bins", "mask_type"),
    [(6, 255, np.uint8), (15, 255, np.uint16), (31, 40, np.uint32), (64, 255, np.uint64)],
)
def test_given_a_regressor_then_the_masks_give_the_walks_sums_bit_for_bit(leaves, max_bins, mask_type):
    x, y = _data(4000, seed=1)
    model = HistGradientBoostingRegressor(max_iter=150, max_leaf_nodes=leaves, max_bins=max_bins, random_state=0)
    model.fit(x, y)

    masks = LeafMasks.of(model)

    assert masks is not None and masks.masks.dtype == mask_type
    binned = _binned(model)
    assert np.array_equal(masks.raw(binned), _walk(model, binned))


@pytest.mark.parametrize("classes", [2, 3])
def test_given_a_classifier_then_each_class_sums_its_own_trees_in_the_walks_order(classes):
    x, y = _data(3000, seed=2)
    label = np.digitize(y, np.quantile(y, np.linspace(0, 1, classes + 1)[1:-1]))
    model = HistGradientBoostingClassifier(max_iter=80, random_state=0).fit(x, label)

    masks = LeafMasks.of(model)

    binned = _binned(model, rows=2500)  # more than one step of rows, the last one short
    assert masks is not None and np.array_equal(masks.raw(binned), _walk(model, binned))


def test_given_no_rows_then_there_are_no_sums():
    x, y = _data(500, seed=3)
    model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(x, y > 0)

    raw = LeafMasks.of(model).raw(np.empty((0, 6), dtype=np.uint8))

    assert raw.shape == (0, 1)


def test_given_more_than_64_leaves_or_no_split_or_tables_too_large_then_it_is_left_to_the_walk(monkeypatch):
    x, y = _data(4000, seed=4)
    wide = HistGradientBoostingRegressor(max_iter=3, max_leaf_nodes=100, min_samples_leaf=5).fit(x, y)
    constant = HistGradientBoostingRegressor(max_iter=3).fit(x, np.ones(len(x)))
    small = HistGradientBoostingRegressor(max_iter=20, max_leaf_nodes=8).fit(x, y)

    assert max(np.count_nonzero(p.nodes["is_leaf"]) for (p,) in wide._predictors) > 64
    assert LeafMasks.of(wide) is None
    assert LeafMasks.of(constant) is None
    assert LeafMasks.of(small) is not None
    monkeypatch.setattr(leaf_masks, "TABLE_BYTES", 1000)
    assert LeafMasks.of(small) is None
