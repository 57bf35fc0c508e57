"""What the model predicts: the task (binary, multiclass, regression), its classes and its metrics.

Every per-task rule lives here, so training, scoring, the gate and the alarms cannot disagree:
how a label cell is read, which classes a model knows and in which order, which metrics a task
has and which way each one is better.

Class labels are kept as their canonical text: the cell stripped, and a whole number written
without a decimal part ("1.0" and " 1" are the class "1"), so integer and string labels work alike
and a CSV written by another tool still matches.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from .errors import ConfigError

TaskKind = Literal["binary", "multiclass", "regression"]
TASKS: tuple[TaskKind, ...] = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class MetricSpec:
    """A holdout metric: the tasks that have it, which way is better, and scikit-learn's scorer for it (what
    the model search cross-validates; a lower-is-better metric's scorer is its negation)."""

    name: str
    tasks: frozenset[str]
    higher_is_better: bool
    scorer: str = ""


METRICS = {
    spec.name: spec
    for spec in (
        MetricSpec("roc_auc", frozenset({"binary"}), True, "roc_auc"),
        MetricSpec("accuracy", frozenset({"binary", "multiclass"}), True, "accuracy"),
        MetricSpec("f1", frozenset({"binary"}), True, "f1"),  # the search passes the positive class as pos_label
        MetricSpec("f1_macro", frozenset({"multiclass"}), True, "f1_macro"),
        MetricSpec("log_loss", frozenset({"binary", "multiclass"}), False, "neg_log_loss"),
        MetricSpec("rmse", frozenset({"regression"}), False, "neg_root_mean_squared_error"),
        MetricSpec("mae", frozenset({"regression"}), False, "neg_mean_absolute_error"),
        MetricSpec("r2", frozenset({"regression"}), True, "r2"),
    )
}


@dataclass(frozen=True)
class Task:
    """The task of a project or a model version. `classes` empty means: the classes found in the data."""

    kind: TaskKind = "binary"
    classes: tuple[str, ...] = ()
    positive_class: str | None = None  # binary only; None: the last class in order, as scikit-learn takes it
    # True when the classes were found in the training data rather than configured: scoring then reads
    # an unknown label as a class the model has not seen yet, not as a bad label.
    found_in_data: bool = False

    @property
    def is_classification(self) -> bool:
        return self.kind != "regression"

    @property
    def positive(self) -> str:
        """The positive class of a binary task with known classes."""
        return self.positive_class if self.positive_class is not None else self.classes[-1]

    def with_classes(self, found: Iterable[str]) -> Task:
        """This task with its classes fixed: the configured ones, else `found` (the training labels) in order.

        Raises ValueError, naming the classes, when they do not fit the task.
        """
        if not self.is_classification or self.classes:
            return self
        classes = order_classes(found)
        kinds = {_is_integer(c) for c in classes}
        if len(kinds) > 1:
            numbers = [c for c in classes if _is_integer(c)][:5]
            words = [c for c in classes if not _is_integer(c)][:5]
            raise ValueError(
                f"the label column mixes numbers ({', '.join(numbers)}) and text ({', '.join(words)}); "
                "fix the labels, or list the valid ones in [label] classes so that the others are skipped as bad labels"
            )
        task = replace(self, classes=classes, found_in_data=True)
        task.check_classes()
        return task

    def check_classes(self) -> None:
        """Raise ValueError when the classes do not fit the task."""
        if self.kind == "binary" and len(self.classes) != 2:
            raise ValueError(
                f"a binary task needs exactly 2 classes, the labels hold {len(self.classes)}: "
                f'{_listed(self.classes)}; set [label] task = "multiclass" or fix the labels'
            )
        if self.kind == "multiclass" and len(self.classes) < 2:
            raise ValueError(f"a multiclass task needs at least 2 classes, the labels hold {_listed(self.classes)}")
        if self.positive_class is not None and self.positive_class not in self.classes:
            raise ValueError(
                f"positive_class {self.positive_class!r} is not one of the classes {_listed(self.classes)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The task as a model's manifest records it."""
        positive = self.positive if self.kind == "binary" and self.classes else None
        return {
            "task": self.kind,
            "classes": list(self.classes),
            "positive_class": positive,
            "classes_found_in_data": self.found_in_data,
        }

    @classmethod
    def from_schema(cls, schema: Mapping[str, Any]) -> Task:
        """The task of a manifest's schema; versions from before tasks existed are binary 0/1."""
        kind = schema.get("task", "binary")
        classes = tuple(schema.get("classes") or (("0", "1") if kind == "binary" else ()))
        positive = schema.get("positive_class")
        found = bool(schema.get("classes_found_in_data", False))
        return cls(kind, classes, _optional_label(positive), found)

    @property
    def label_reading(self) -> Task:
        """The task scoring reads labels with: its classes when they were configured (another value is a
        bad label, as in training), none when they were found in the data (any value is a class)."""
        return Task(self.kind) if self.found_in_data else self


def task_from_config(label: Mapping[str, Any]) -> Task:
    """The [label] table's task; raises ConfigError with what to fix."""
    kind = label.get("task", "binary")
    if kind not in TASKS:
        raise ConfigError(f"[label] task must be one of {', '.join(TASKS)}, not {kind!r}")
    classes = tuple(canonical_label(str(c)) for c in label.get("classes", ()))
    positive = label.get("positive_class")
    if kind != "binary" and positive is not None:
        raise ConfigError(f"[label] positive_class applies to a binary task only, not {kind}")
    if kind == "regression" and classes:
        raise ConfigError("[label] classes do not apply to a regression task")
    if len(set(classes)) != len(classes):
        raise ConfigError(f"[label] classes has duplicates: {_listed(classes)}")
    task = Task(kind, classes, _optional_label(positive))
    if classes:
        try:
            task.check_classes()
        except ValueError as exc:
            raise ConfigError(f"[label] {exc}") from exc
    return task


def canonical_label(text: str) -> str:
    """A class label's canonical text: stripped, whole numbers without a decimal part ("1.0" -> "1")."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return text


def canonical_labels(values: Sequence[str]) -> np.ndarray:
    """`canonical_label` of every cell, as an object array ("" for an empty cell); one call per distinct value."""
    uniques, inverse = np.unique(np.asarray(values, dtype=np.str_), return_inverse=True)
    canonical = np.asarray([canonical_label(u) for u in uniques.tolist()], dtype=object)
    return canonical[inverse.reshape(-1)] if len(values) else np.empty(0, dtype=object)


def order_classes(found: Iterable[str]) -> tuple[str, ...]:
    """Classes in order: whole numbers by value, text alphabetically (as scikit-learn orders classes_)."""
    classes = set(found) - {""}
    return tuple(sorted(classes, key=lambda c: (0, int(c), "") if _is_integer(c) else (1, 0, c)))


def model_classes(model: Any) -> list[str]:
    """A fitted classifier's classes_ as canonical text, in predict_proba's column order."""
    return [canonical_label(str(c)) for c in model.classes_]


def fit_targets(labels: np.ndarray, task: Task) -> np.ndarray:
    """The target array to fit: floats (regression), integers when every class is a whole number, else text."""
    if not task.is_classification:
        return np.asarray(labels, dtype=np.float64)
    if all(_is_integer(c) for c in task.classes):
        return np.asarray(labels, dtype=np.int64)
    return np.asarray(labels, dtype=object)


def _optional_label(value: Any) -> str | None:
    """A configured or recorded label (a TOML integer or string) as canonical text; None stays None."""
    return canonical_label(str(value)) if value is not None else None


def _is_integer(label: str) -> bool:
    return label.lstrip("-").isdigit()


def _listed(classes: Sequence[str], shown: int = 10) -> str:
    more = f" and {len(classes) - shown} more" if len(classes) > shown else ""
    return ", ".join(repr(c) for c in classes[:shown]) + more
