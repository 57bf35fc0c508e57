"""Label-free performance estimation for a binary classifier: confidence-based performance estimation (CBPE).

Most scored batches carry no labels, so their accuracy cannot be measured, only estimated. CBPE (the
method NannyML popularised) does it from the model's own scores: at training time an isotonic
regression learned on the holdout maps raw positive-class scores to calibrated probabilities; on a
batch, each row's calibrated probability says how likely its prediction is to be right, and the
expected confusion matrix (hence accuracy and the ROC curve) follows by summing those probabilities.

The one assumption: P(label | score) learned on the holdout still holds on the batch. The estimate
therefore follows covariate shift (the features move, the relation to the label stays), which
changes accuracy in ways it tracks, but it cannot see concept drift (the relation itself changes):
then the model is confidently wrong and the estimate stays where it was while accuracy falls. Only
labels reveal concept drift, so the realized accuracy of labeled batches stays the ground truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sklearn.isotonic import IsotonicRegression

THRESHOLD = 0.5  # scoring predicts the positive class when its score is at least this
MIN_CALIBRATION_ROWS = 30  # below this an isotonic fit is noise: keep the scores as they are
MAX_POINTS = 200  # calibration points kept in the manifest
FOLDS = 5
BINS = 1000  # equal-width score bins of the streaming ROC estimate: memory O(BINS) at any batch size


def fit_calibration(scores: np.ndarray, is_positive: np.ndarray) -> dict[str, Any]:
    """Learn, on the holdout, the map from raw positive-class scores to calibrated probabilities.

    Isotonic regression (monotone, no shape assumed), stored as at most MAX_POINTS (score, probability)
    points for linear interpolation, clipped outside the holdout's score range. The record also says
    how well the holdout itself is estimated: `holdout_realized_accuracy` next to
    `holdout_estimated_accuracy`, the latter out-of-fold (each row estimated by a calibration fitted
    on the other folds), since an isotonic fit scored on its own rows nearly agrees with them by construction.

    A holdout with fewer than MIN_CALIBRATION_ROWS rows or a single class cannot be calibrated: the
    calibration is then the identity clipped to [0, 1] (the scores taken at their word), with a "note".
    The estimates made with it are valid only while P(label | score) on a batch is what it was on the
    holdout; concept drift breaks that, unseen.
    """
    scores = np.asarray(scores, dtype=np.float64)
    is_positive = np.asarray(is_positive, dtype=bool)
    rows = len(scores)
    if rows < MIN_CALIBRATION_ROWS or is_positive.all() or not is_positive.any():
        calibration = _identity(rows)
        probabilities = calibrated(scores, calibration)
    else:
        calibration = {"method": "isotonic", "holdout_rows": rows, **_thinned(_isotonic().fit(scores, is_positive))}
        from sklearn.model_selection import KFold, cross_val_predict  # noqa: PLC0415 - training only

        folds = KFold(FOLDS, shuffle=True, random_state=0)
        probabilities = cross_val_predict(_isotonic(), scores, is_positive, cv=folds)
    return calibration | _holdout_accuracy(scores, is_positive, probabilities)


def calibrated(scores: np.ndarray, calibration: Mapping[str, Any]) -> np.ndarray:
    """Calibrated probabilities of the positive class: the stored points interpolated linearly,
    clipped to the end points outside them."""
    return np.interp(np.asarray(scores, dtype=np.float64), calibration["scores"], calibration["probabilities"])


class PerformanceEstimator:
    """The estimated accuracy and ROC AUC of a batch without labels (CBPE), streamed chunk by chunk.

    Each row is predicted positive when its raw score is at least 0.5, as scoring predicts; with p its
    calibrated probability the prediction is right with probability p (predicted positive) or 1 - p,
    and the expected accuracy is the mean of that. For the ROC curve the rows are counted into BINS
    equal-width score bins, keeping per bin the row count and the expected positives (sum of p);
    lowering the threshold bin by bin gives the expected true and false positive rates, and the AUC
    is the area under them (trapezoids; rows sharing a bin count as ties).

    Valid while the calibration learned on the holdout holds on the batch: under concept drift the
    estimate stays put while real accuracy drops, which only labels reveal.
    """

    def __init__(self, calibration: Mapping[str, Any]) -> None:
        self._calibration = calibration
        self._rows = 0
        self._expected_correct = 0.0
        self._counts = np.zeros(BINS, dtype=np.int64)
        self._positives = np.zeros(BINS)

    def update(self, scores: np.ndarray) -> None:
        """Add a chunk's raw positive-class scores."""
        scores = np.asarray(scores, dtype=np.float64)
        probabilities = calibrated(scores, self._calibration)
        self._rows += len(scores)
        self._expected_correct += float(_p_correct(scores, probabilities).sum())
        bins = np.minimum((np.clip(scores, 0.0, 1.0) * BINS).astype(np.int64), BINS - 1)
        self._counts += np.bincount(bins, minlength=BINS)
        self._positives += np.bincount(bins, weights=probabilities, minlength=BINS)

    def result(self) -> dict[str, Any]:
        """{"rows", "estimated_accuracy", "estimated_roc_auc"}; the estimates are None without rows, and
        the ROC AUC is None too when the calibrated probabilities expect a single class."""
        if not self._rows:
            return {"rows": 0, "estimated_accuracy": None, "estimated_roc_auc": None}
        return {
            "rows": self._rows,
            "estimated_accuracy": _round(self._expected_correct / self._rows),
            "estimated_roc_auc": _expected_roc_auc(self._counts, self._positives),
        }


def realized_vs_estimated(estimate: Mapping[str, Any], realized: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """For a labeled batch, the estimate next to what the labels say: {"estimated_accuracy",
    "realized_accuracy", "error"} (error = estimated - realized), plus "estimated_roc_auc",
    "realized_roc_auc", "roc_auc_error" when both ROC AUCs exist. None without a realized accuracy (or
    without an estimate). A large error is the one signal of what the estimate cannot see by itself:
    concept drift, or a calibration that no longer holds.

    `estimate` is PerformanceEstimator.result(); `realized` has "accuracy" and maybe "roc_auc".
    """
    if not realized or realized.get("accuracy") is None or estimate.get("estimated_accuracy") is None:
        return None
    pairs = {"accuracy": "error", "roc_auc": "roc_auc_error"}
    out: dict[str, Any] = {}
    for metric, error in pairs.items():
        guess, truth = estimate.get(f"estimated_{metric}"), realized.get(metric)
        if guess is not None and truth is not None:
            out |= {f"estimated_{metric}": guess, f"realized_{metric}": truth, error: _round(guess - truth)}
    return out


def _isotonic() -> IsotonicRegression:
    from sklearn.isotonic import IsotonicRegression  # noqa: PLC0415 - training only

    return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)


def _identity(rows: int) -> dict[str, Any]:
    return {
        "method": "identity",
        "holdout_rows": rows,
        "scores": [0.0, 1.0],
        "probabilities": [0.0, 1.0],
        "note": f"not calibrated: the holdout has {rows} rows or a single class "
        f"(calibration needs both classes and at least {MIN_CALIBRATION_ROWS} rows); scores taken as probabilities",
    }


def _thinned(isotonic: IsotonicRegression) -> dict[str, list[float]]:
    """At most MAX_POINTS of the isotonic fit's points, the end points included (still monotone)."""
    x, y = isotonic.X_thresholds_, isotonic.y_thresholds_
    keep = np.unique(np.linspace(0, len(x) - 1, min(len(x), MAX_POINTS)).round().astype(np.int64))
    return {"scores": x[keep].tolist(), "probabilities": y[keep].tolist()}


def _holdout_accuracy(scores: np.ndarray, is_positive: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    if not len(scores):
        return {"holdout_realized_accuracy": None, "holdout_estimated_accuracy": None}
    return {
        "holdout_realized_accuracy": _round(np.mean((scores >= THRESHOLD) == is_positive)),
        "holdout_estimated_accuracy": _round(np.mean(_p_correct(scores, probabilities))),
    }


def _p_correct(scores: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Per row, the probability that its prediction is right."""
    return np.where(scores >= THRESHOLD, probabilities, 1.0 - probabilities)


def _expected_roc_auc(counts: np.ndarray, positives: np.ndarray) -> float | None:
    # From the highest bin down: the threshold falls one bin at a time, adding its expected TP and FP.
    true_positives = np.concatenate(([0.0], np.cumsum(positives[::-1])))
    false_positives = np.concatenate(([0.0], np.cumsum((counts - positives)[::-1])))
    if true_positives[-1] <= 0 or false_positives[-1] <= 0:
        return None
    return _round(np.trapezoid(true_positives / true_positives[-1], false_positives / false_positives[-1]))


def _round(value: float) -> float:
    return round(float(value), 6)
