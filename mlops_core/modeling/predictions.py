"""A model's predictions per task, as scoring writes them, and their metrics against labels.

Training (holdout metrics, the prediction profile for drift) and scoring (output columns, the
prediction drift, the metrics of labeled batches) both go through here, so a version is judged on
exactly what it writes.

Output columns, after the input's pass-through columns and before `model_version`:
- binary: `prediction` (the class), `score` (the positive class's probability);
- multiclass: `prediction`, `score` (the predicted class's probability), one `proba_<class>` per class;
- regression: `prediction` (the value).
A class name becomes a column name with every character other than a letter, digit or underscore
replaced by `_`; when two classes end up with the same name, the later ones get `_2`, `_3`, ...
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import Task, model_classes
from ..words import TextAnalysis
from .boosting import with_binned_boosting
from .vectorizer import with_fast_text

THRESHOLD = 0.5  # binary: the positive class is predicted when its probability is at least this


@dataclass(frozen=True)
class Predictions:
    predicted: np.ndarray  # class names (object array) or values (float64)
    proba: np.ndarray | None  # classification: one column per class of the task, in the task's order
    positive: int | None = None  # binary: the positive class's column in `proba`; None for other tasks

    @property
    def drift_values(self) -> np.ndarray:
        """What prediction drift bins: the positive class's probability (binary), the predicted class
        (multiclass) or the predicted value (regression)."""
        if self.proba is not None and self.positive is not None:
            return self.proba[:, self.positive]
        return self.predicted

    def __len__(self) -> int:
        return len(self.predicted)

    def subset(self, mask: np.ndarray) -> Predictions:
        """The predictions of the rows where `mask` is true."""
        return Predictions(self.predicted[mask], None if self.proba is None else self.proba[mask], self.positive)

    @staticmethod
    def concatenate(parts: list[Predictions]) -> Predictions:
        """Chunks' predictions as one."""
        proba = None if parts[0].proba is None else np.concatenate([p.proba for p in parts])
        return Predictions(np.concatenate([p.predicted for p in parts]), proba, parts[0].positive)


class Predictor:
    """Predicts with a fitted model for a task, and formats the predictions as output columns."""

    def __init__(self, model: Any, task: Task) -> None:
        # The same model, faster: its text vectorizers' transform a block at a time (modeling/vectorizer.py), its
        # gradient boosting from its bins (modeling/boosting.py); the predictions are the model's own.
        fast_text, self._text = with_fast_text(model)
        self.model = with_binned_boosting(fast_text)
        self.task = task
        if task.is_classification:
            known = model_classes(model)
            # A configured class the model never saw (no training row) gets probability 0.
            self._columns = [known.index(c) if c in known else None for c in task.classes]

    @property
    def output_columns(self) -> list[str]:
        if self.task.kind == "binary":
            return ["prediction", "score"]
        if self.task.kind == "multiclass":
            return ["prediction", "score", *proba_columns(self.task.classes)]
        return ["prediction"]

    def predict(self, x: Any) -> Predictions:
        if not self.task.is_classification:
            return Predictions(np.asarray(self.model.predict(x), dtype=np.float64), None)
        return self.of_proba(self.model.predict_proba(x))

    def analysed(self) -> dict[str, TextAnalysis]:
        """The words of each text column the last `predict` analysed (text drift counts them again otherwise)."""
        return {column: v.last for column, v in self._text.items() if v.last is not None}

    def of_proba(self, raw: np.ndarray) -> Predictions:
        """The predictions of the model's `predict_proba` output (a column per entry of its classes_)."""
        proba = np.column_stack([raw[:, j] if j is not None else np.zeros(len(raw)) for j in self._columns])
        return class_predictions(self.task, proba)

    def output_text(self, predictions: Predictions) -> list[list[str]]:
        """The output columns' text, column by column."""
        if predictions.proba is None:
            return [list(map("{:.9g}".format, predictions.predicted.tolist()))]  # 2.5x np.char.mod's speed
        columns = [predictions.predicted.tolist()]
        if self.task.kind == "binary":
            return [*columns, probability_text(predictions.proba[:, predictions.positive])]
        per_class = [probability_text(predictions.proba[:, j]) for j in range(predictions.proba.shape[1])]
        return [*columns, probability_text(predictions.proba.max(axis=1)), *per_class]


def class_predictions(task: Task, proba: np.ndarray) -> Predictions:
    """A classification task's predictions from class probabilities in the task's class order: binary
    predicts the positive class at THRESHOLD, multiclass the most probable class."""
    classes = np.asarray(task.classes, dtype=object)
    if task.kind == "binary":
        positive = task.classes.index(task.positive)
        chosen = np.where(proba[:, positive] >= THRESHOLD, positive, 1 - positive)
        return Predictions(classes[chosen], proba, positive)
    return Predictions(classes[np.argmax(proba, axis=1)], proba)


def probability_text(p: np.ndarray) -> list[str]:
    """Each probability as `"%.6f" % p` writes it, without a Python call per value (3x faster).

    The digits come from round(p * 1e6), whose error is below 1e-9: wherever that could change the
    rounding (within 1e-6 of a half) and for anything outside [0, 1], Python formats the value itself.
    """
    scaled = p * 1e6
    rest = np.rint(np.clip(np.nan_to_num(scaled), 0, 1e6)).astype(np.int64)  # the values outside: see below
    digits = np.empty((len(p), 8), dtype=np.uint8)  # "d.dddddd"
    digits[:, 0] = rest // 1_000_000 + ord("0")
    digits[:, 1] = ord(".")
    rest %= 1_000_000
    for j in range(7, 1, -1):
        digits[:, j] = rest % 10 + ord("0")
        rest //= 10
    text = digits.view("S8").ravel().astype("U8").tolist()
    near_half = np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6
    for i in np.flatnonzero(near_half | ~np.isfinite(p) | np.signbit(p) | (p > 1)).tolist():
        text[i] = f"{p[i]:.6f}"
    return text


def proba_columns(classes: tuple[str, ...]) -> list[str]:
    """`proba_<class>` per class, safe as a column name and unique (see the module's docstring)."""
    names: list[str] = []
    seen: Counter[str] = Counter()
    for c in classes:
        base = "proba_" + re.sub(r"[^0-9A-Za-z_]", "_", c)
        seen[base] += 1
        names.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return names


def metrics(task: Task, truth: np.ndarray, predictions: Predictions) -> dict[str, Any]:
    """The task's metrics of `predictions` against the labels `truth` (class names or values).

    Classification: a label the model does not know counts as a wrong prediction (accuracy, F1) and is
    left out of the probability metrics (log loss, ROC AUC), which need a known class; such labels are
    counted under `unseen_classes`.
    """
    from sklearn import metrics as m  # noqa: PLC0415 - scoring needs it for labeled batches only

    if predictions.proba is None:
        values = np.asarray(truth, dtype=np.float64)
        result = {
            "rmse": float(np.sqrt(m.mean_squared_error(values, predictions.predicted))),
            "mae": float(m.mean_absolute_error(values, predictions.predicted)),
            "r2": float(m.r2_score(values, predictions.predicted)) if len(values) > 1 else float("nan"),
        }
        return {**_rounded(result), "rows": len(values)}
    truth = np.asarray(truth, dtype=object)
    known = np.isin(truth, np.asarray(task.classes, dtype=object))
    result = {"accuracy": float(np.mean(predictions.predicted == truth))}
    if task.kind == "binary":
        result |= _binary(m, task, truth, known, predictions)
    else:
        result |= _multiclass(m, task, truth, known, predictions)
    out: dict[str, Any] = {**_rounded(result), "rows": len(truth)}
    if task.kind == "multiclass":
        recall = m.recall_score(truth, predictions.predicted, labels=list(task.classes), average=None, zero_division=0)
        out["recall"] = {c: round(float(r), 6) for c, r in zip(task.classes, recall, strict=True)}
    if not known.all():
        out["unseen_classes"] = dict(Counter(truth[~known].tolist()).most_common(10))
    return out


def _binary(m: Any, task: Task, truth: np.ndarray, known: np.ndarray, p: Predictions) -> dict[str, float]:
    positive = truth == task.positive
    result = {"f1": float(m.f1_score(positive, p.predicted == task.positive, zero_division=0))}
    scores, is_positive = p.proba[known, p.positive], positive[known]  # type: ignore[index]  # binary has proba
    if is_positive.any() and not is_positive.all():
        result["roc_auc"] = float(m.roc_auc_score(is_positive, scores))
    if known.any():
        result["log_loss"] = float(m.log_loss(is_positive, scores, labels=[False, True]))
    return result


def _multiclass(m: Any, task: Task, truth: np.ndarray, known: np.ndarray, p: Predictions) -> dict[str, float]:
    labels = list(task.classes)
    result = {"f1_macro": float(m.f1_score(truth, p.predicted, labels=labels, average="macro", zero_division=0))}
    if known.any():
        proba = p.proba[known]  # type: ignore[index]  # multiclass has proba
        result["log_loss"] = float(m.log_loss(truth[known].tolist(), proba, labels=labels))
    return result


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in values.items()}
