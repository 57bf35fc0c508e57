"""Label-free performance estimation (CBPE): checked against labels on synthetic data whose true
probabilities are known, including the limit it cannot pass (concept drift)."""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np
import pytest
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from mlops_core.monitoring.performance_estimate import (
    MAX_POINTS,
    PerformanceEstimator,
    calibrated,
    fit_calibration,
    realized_vs_estimated,
)

HOLDOUT_ROWS = 5_000
BATCH_ROWS = 100_000


class Batch(NamedTuple):
    scores: np.ndarray
    labels: np.ndarray

    @property
    def accuracy(self) -> float:
        return float(np.mean((self.scores >= 0.5) == self.labels))


def make_batch(seed: int, rows: int, *, shift: float = 0.0, concept_drift: bool = False) -> Batch:
    """y ~ Bernoulli(sigmoid(x)); the model's score is sigmoid(x) squared, monotone in the truth but
    miscalibrated (too low), and its 0.5 threshold is not the best one. Concept drift reverses P(y|x)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.5, rows)
    truth = expit(-x) if concept_drift else expit(x)
    return Batch(scores=expit(x) ** 2, labels=rng.random(rows) < truth)


def estimate(batch: Batch, calibration: dict, chunk_rows: int | None = None) -> dict:
    estimator = PerformanceEstimator(calibration)
    step = chunk_rows or len(batch.scores)
    for start in range(0, len(batch.scores), step):
        estimator.update(batch.scores[start : start + step])
    return estimator.result()


@pytest.fixture(scope="module")
def calibration() -> dict:
    holdout = make_batch(0, HOLDOUT_ROWS)
    return fit_calibration(holdout.scores, holdout.labels)


def test_given_a_calibrated_holdout_when_a_fresh_batch_is_estimated_then_accuracy_and_roc_auc_match_the_labels(
    calibration,
):
    batch = make_batch(1, BATCH_ROWS)

    result = estimate(batch, calibration)

    assert result["rows"] == BATCH_ROWS
    assert result["estimated_accuracy"] == pytest.approx(batch.accuracy, abs=0.02)
    assert result["estimated_roc_auc"] == pytest.approx(roc_auc_score(batch.labels, batch.scores), abs=0.03)


@pytest.mark.parametrize("shift", [-1.5, 1.5])
def test_given_covariate_shift_when_estimated_then_the_estimate_follows_the_changed_accuracy(calibration, shift):
    unshifted, shifted = make_batch(2, BATCH_ROWS), make_batch(3, BATCH_ROWS, shift=shift)

    result = estimate(shifted, calibration)

    assert abs(shifted.accuracy - unshifted.accuracy) > 0.03  # the shift really changes accuracy
    assert result["estimated_accuracy"] == pytest.approx(shifted.accuracy, abs=0.02)
    assert result["estimated_roc_auc"] == pytest.approx(roc_auc_score(shifted.labels, shifted.scores), abs=0.03)


def test_given_concept_drift_when_estimated_then_the_estimate_misses_the_accuracy_drop(calibration):
    """The documented limit: P(y|x) changed, the scores did not, so the estimate cannot move."""
    before, after = make_batch(4, BATCH_ROWS), make_batch(5, BATCH_ROWS, concept_drift=True)

    estimated_before, estimated_after = estimate(before, calibration), estimate(after, calibration)

    assert before.accuracy - after.accuracy > 0.3
    assert estimated_after["estimated_accuracy"] == pytest.approx(estimated_before["estimated_accuracy"], abs=0.01)
    assert estimated_after["estimated_accuracy"] - after.accuracy > 0.3


def test_given_a_batch_in_chunks_when_estimated_then_the_result_equals_one_chunk(calibration):
    batch = make_batch(6, 30_001)

    whole, chunked = estimate(batch, calibration), estimate(batch, calibration, chunk_rows=997)

    assert chunked["rows"] == whole["rows"] == 30_001
    assert chunked["estimated_accuracy"] == pytest.approx(whole["estimated_accuracy"], abs=1e-6)
    assert chunked["estimated_roc_auc"] == pytest.approx(whole["estimated_roc_auc"], abs=1e-6)


def test_given_a_holdout_when_calibrated_then_the_manifest_shows_its_out_of_fold_accuracy_estimate(calibration):
    holdout = make_batch(0, HOLDOUT_ROWS)

    assert calibration["method"] == "isotonic"
    assert calibration["holdout_rows"] == HOLDOUT_ROWS
    assert calibration["holdout_realized_accuracy"] == pytest.approx(holdout.accuracy, abs=1e-6)
    assert calibration["holdout_estimated_accuracy"] == pytest.approx(holdout.accuracy, abs=0.02)
    assert "note" not in calibration


def test_given_a_calibration_when_round_tripped_through_json_then_it_calibrates_the_same(calibration):
    scores = np.linspace(-0.1, 1.1, 1_001)

    restored = json.loads(json.dumps(calibration))

    assert restored == calibration
    np.testing.assert_array_equal(calibrated(scores, restored), calibrated(scores, calibration))


def test_given_a_large_holdout_when_calibrated_then_few_monotone_points_are_kept():
    rng = np.random.default_rng(7)
    scores = rng.random(400_000)

    result = fit_calibration(scores, rng.random(400_000) < scores)

    assert 2 <= len(result["scores"]) == len(result["probabilities"]) <= MAX_POINTS
    assert np.all(np.diff(result["scores"]) > 0) and np.all(np.diff(result["probabilities"]) >= 0)
    assert result["scores"][0] == scores.min() and result["scores"][-1] == scores.max()
    assert len(json.dumps(result)) < 20_000


def test_given_a_single_class_holdout_when_calibrated_then_the_identity_clipped_to_the_unit_interval():
    scores = np.linspace(0.0, 0.4, 500)

    result = fit_calibration(scores, np.zeros(500, dtype=bool))

    assert result["method"] == "identity" and "single class" in result["note"]
    assert result["holdout_realized_accuracy"] == 1.0
    np.testing.assert_allclose(calibrated(np.array([-0.5, 0.0, 0.3, 1.0, 1.7]), result), [0.0, 0.0, 0.3, 1.0, 1.0])
    assert estimate(Batch(scores, np.zeros(500, dtype=bool)), result)["estimated_accuracy"] == pytest.approx(0.8)


@pytest.mark.parametrize("rows", [0, 1, 3, 29])
def test_given_a_tiny_holdout_when_calibrated_then_the_identity_and_estimation_still_works(rows):
    scores = np.linspace(0.1, 0.9, rows)

    result = fit_calibration(scores, np.arange(rows) % 2 == 0)

    assert result["method"] == "identity" and result["holdout_rows"] == rows and result["note"]
    assert (result["holdout_realized_accuracy"] is None) == (rows == 0)
    assert estimate(make_batch(8, 1_000), result)["rows"] == 1_000


def test_given_no_rows_when_the_result_is_asked_then_no_estimates(calibration):
    estimator = PerformanceEstimator(calibration)
    estimator.update(np.array([]))

    assert estimator.result() == {"rows": 0, "estimated_accuracy": None, "estimated_roc_auc": None}


def test_given_only_expected_negatives_when_estimated_then_no_roc_auc():
    identity = fit_calibration(np.array([]), np.array([], dtype=bool))
    estimator = PerformanceEstimator(identity)
    estimator.update(np.zeros(10))

    assert estimator.result() == {"rows": 10, "estimated_accuracy": 1.0, "estimated_roc_auc": None}


def test_given_a_labeled_batch_when_compared_then_estimate_realized_and_error_side_by_side():
    estimated = {"rows": 100, "estimated_accuracy": 0.9, "estimated_roc_auc": 0.95}

    both = realized_vs_estimated(estimated, {"rows": 100, "accuracy": 0.8, "roc_auc": 0.9})
    accuracy_only = realized_vs_estimated(estimated, {"rows": 100, "accuracy": 0.8})

    assert both == {
        "estimated_accuracy": 0.9,
        "realized_accuracy": 0.8,
        "error": pytest.approx(0.1),
        "estimated_roc_auc": 0.95,
        "realized_roc_auc": 0.9,
        "roc_auc_error": pytest.approx(0.05),
    }
    assert accuracy_only == {"estimated_accuracy": 0.9, "realized_accuracy": 0.8, "error": pytest.approx(0.1)}


@pytest.mark.parametrize("realized", [None, {}, {"rows": 0, "accuracy": None}])
def test_given_no_realized_accuracy_when_compared_then_none(realized):
    assert realized_vs_estimated({"rows": 5, "estimated_accuracy": 0.9, "estimated_roc_auc": None}, realized) is None


def test_given_no_estimate_when_compared_then_none():
    empty = {"rows": 0, "estimated_accuracy": None, "estimated_roc_auc": None}

    assert realized_vs_estimated(empty, {"rows": 3, "accuracy": 1.0}) is None
