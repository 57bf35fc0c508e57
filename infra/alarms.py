"""The row type of the alarm tables (`infra/monitoring.py`'s ALARMS, `infra/staleness.py`'s STALENESS_ALARMS):
what an alarm watches, when it fires, whom it tells and whether it retrains."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw

from mlops_core import observability as obs
from mlops_core.config import ProjectConfig
from mlops_core.config.task import TASKS

from .targets import TargetSettings


@dataclass(frozen=True)
class Window:
    """What an alarm evaluates: `datapoints` breaching periods among the last `periods` of `period` each."""

    period: Duration
    datapoints: int
    periods: int


@dataclass(frozen=True, kw_only=True)
class AlarmSpec:
    """One alarm on a pipeline metric: when it fires, what it tells people, and whether it retrains."""

    metric: obs.Metric
    threshold: Callable[[ProjectConfig], float]
    comparison: cw.ComparisonOperator
    statistic: str
    description: str  # what happened and what to do
    retrains: bool | Callable[[ProjectConfig], bool]  # False: it only alerts people; a callable: a setting decides
    tasks: frozenset[str] = frozenset(TASKS)  # the tasks whose stacks have this alarm
    name: str | None = None  # the alarm's name after the project's; None: the metric's
    enabled: Callable[[ProjectConfig], bool] = lambda _: True  # False: this project has no such alarm
    # None: the target's alarm period, "M of N" (drift.alarm_after) for batch signals, else 1 of 1.
    window: Callable[[ProjectConfig, TargetSettings], Window] | None = None
    # Batch signals exist only when a batch (or a run) arrives: none is no evidence of trouble.
    missing_data: cw.TreatMissingData = cw.TreatMissingData.NOT_BREACHING
    # The states, besides ALARM, whose transitions also go to the alerts topic (an alarm that retrains
    # always reports OK back).
    tells: frozenset[str] = frozenset()

    @property
    def alarm_id(self) -> str:
        return self.name or self.metric.name

    def applies_to(self, config: ProjectConfig) -> bool:
        return config.task.kind in self.tasks and self.enabled(config)

    def retrains_for(self, config: ProjectConfig) -> bool:
        return self.retrains(config) if callable(self.retrains) else self.retrains


def required(value: float | None) -> float:
    """A threshold the configuration guarantees for the alarm's tasks (mlops_core.config.task.check_fits_task) or
    settings (`AlarmSpec.enabled`)."""
    assert value is not None, "checked when the configuration was loaded"
    return value
