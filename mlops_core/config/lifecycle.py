"""The settings of the model's life over time: `[retraining]` (cooldown, the run lock and its time limit, a
schedule) and `[monitoring]` (the staleness alarms), with the limits AWS puts on each.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TypeGuard

from .errors import ConfigError

# SageMaker's longest MaxRuntimeInSeconds: 28 days.
MAX_RUNTIME_LIMIT_S = 28 * 24 * 3600
# How much longer than a run's time limit its lock must last: the job starts after the lock is taken (a SageMaker
# instance to provision and the image to pull; an asynchronous invoke that may wait in Lambda's queue for up to
# infra/training.py's TRAINING_EVENT_MAX_AGE), and SageMaker gives a job it stops 120 s to exit.
LOCK_MARGIN_S = 600


@dataclass(frozen=True)
class RetrainingSettings:
    cooldown_seconds: int = 300
    # Default: max_runtime_seconds + LOCK_MARGIN_S (mlops_core/config/defaults.py fills it in from the file).
    lock_ttl_seconds: int = 3600 + LOCK_MARGIN_S
    # An EventBridge schedule that also starts retraining (same lock, cooldown and gate), or None.
    schedule: str | None = None
    # The champion-age alarm (monitoring.max_model_age_days) also starts retraining, like a drift alarm.
    on_stale: bool = False
    # A run's time limit: the SageMaker job's MaxRuntimeInSeconds on AWS, the training Lambda's timeout on the
    # local target (there at most Lambda's 900 s).
    max_runtime_seconds: int = 3600

    def __post_init__(self) -> None:
        if self.schedule is not None:
            check_schedule(self.schedule)
        if not isinstance(self.on_stale, bool):
            raise ConfigError(f"[retraining] on_stale must be true or false, not {self.on_stale!r}")
        check_lock_outlives_run(self.lock_ttl_seconds, self.max_runtime_seconds)


def _is_whole_seconds(value: object, *, at_most: int) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= at_most


def check_lock_outlives_run(lock_ttl_s: object, max_runtime_s: object) -> None:
    """Raise ConfigError unless the run lock outlasts a run's time limit plus LOCK_MARGIN_S.

    A lock that expires under a running job lets the next alarm start a second run beside it.
    """
    if not _is_whole_seconds(max_runtime_s, at_most=MAX_RUNTIME_LIMIT_S):
        raise ConfigError(
            f"[retraining] max_runtime_seconds must be a whole number of seconds from 1 to {MAX_RUNTIME_LIMIT_S} "
            f"(SageMaker's limit, 28 days), not {max_runtime_s!r}"
        )
    if not _is_whole_seconds(lock_ttl_s, at_most=MAX_RUNTIME_LIMIT_S + LOCK_MARGIN_S):
        raise ConfigError(
            f"[retraining] lock_ttl_seconds must be a whole number of seconds above 0, not {lock_ttl_s!r}"
        )
    needed = max_runtime_s + LOCK_MARGIN_S
    if lock_ttl_s < needed:
        shorter = (
            f", or lower max_runtime_seconds to {lock_ttl_s - LOCK_MARGIN_S}" if lock_ttl_s > LOCK_MARGIN_S else ""
        )
        raise ConfigError(
            f"[retraining] lock_ttl_seconds = {lock_ttl_s} is shorter than max_runtime_seconds = {max_runtime_s} "
            f"plus {LOCK_MARGIN_S} s to start and stop a job: the lock could expire under a running job and let a "
            f"second run start beside it. Raise lock_ttl_seconds to {needed}{shorter}"
        )


RATE = re.compile(r"rate\((?P<value>[1-9][0-9]*) (?P<unit>minutes?|hours?|days?)\)")
CRON_FIELD = re.compile(r"[0-9A-Z*?,/#LW-]+")


def check_schedule(expression: str) -> None:
    """Raise ConfigError unless EventBridge would accept `expression` as a rule's schedule.

    `rate(N unit)`: N a positive whole number, the unit singular for 1 and plural above (minute(s),
    hour(s), day(s)). `cron(min hour day-of-month month day-of-week year)`: six fields, and exactly one
    of day-of-month and day-of-week is `?`.
    """
    forms = "use rate(7 days), rate(1 hour) or cron(0 3 ? * MON *)"
    if expression.startswith("rate("):
        match = RATE.fullmatch(expression)
        if not match or (match["value"] == "1") == match["unit"].endswith("s"):
            raise ConfigError(f"retraining.schedule {expression!r} is not a rate EventBridge accepts; {forms}")
        return
    fields = expression.removeprefix("cron(").removesuffix(")").split(" ")
    if (
        not (expression.startswith("cron(") and expression.endswith(")"))
        or len(fields) != 6
        or not all(CRON_FIELD.fullmatch(f) for f in fields)
        or (fields[2] == "?") == (fields[4] == "?")
    ):
        raise ConfigError(
            f"retraining.schedule {expression!r} is not a schedule EventBridge accepts (cron needs six fields, "
            f"with ? in exactly one of day-of-month and day-of-week); {forms}"
        )


# CloudWatch refuses an alarm whose periods (period x evaluation periods) span more than 7 days, or more
# than 1 day when its period is under an hour; its periods are whole minutes (10 and 30 s: high resolution).
ALARM_SPAN_LIMIT_S = 7 * 24 * 3600
SHORT_PERIOD_SPAN_LIMIT_S = 24 * 3600


@dataclass(frozen=True)
class MonitoringSettings:
    """Staleness alarms (docs/lifecycle.md, "Staleness"); a setting left out, or the whole [monitoring] section,
    turns its alarm off."""

    max_model_age_days: float | None = None  # alarm when the champion was trained longer ago than this
    max_silence_hours: float | None = None  # alarm when no file was scored for this long (a heartbeat)

    def __post_init__(self) -> None:
        _check_positive_number("max_model_age_days", self.max_model_age_days, "30 for a month")
        _check_positive_number("max_silence_hours", self.max_silence_hours, "24 for a day")
        if self.silence_seconds is not None:
            check_silence(self.silence_seconds, self.max_silence_hours)

    @property
    def silence_seconds(self) -> int | None:
        """max_silence_hours in whole seconds (CloudWatch counts periods in seconds), or None."""
        return None if self.max_silence_hours is None else round(self.max_silence_hours * 3600)


def _check_positive_number(name: str, value: object, example: str) -> None:
    """None, or a finite number above 0 (TOML's true is not a number here, nor inf or nan)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ConfigError(
            f"[monitoring] {name} must be a number above 0 (e.g. {example}), not {value!r}; "
            "leave it out to turn its alarm off"
        )


def check_silence(seconds: int, hours: object) -> None:
    """Raise ConfigError unless CloudWatch accepts an alarm over `seconds` of silence (see ALARM_SPAN_LIMIT_S)."""
    setting = f"[monitoring] max_silence_hours = {hours}"
    if seconds < 60 or seconds % 60:
        raise ConfigError(
            f"{setting} is {seconds} s, but CloudWatch alarm periods are whole minutes: use a whole number of "
            "minutes in hours (0.25 for 15 minutes, 0.0166667 for one)"
        )
    if seconds > ALARM_SPAN_LIMIT_S:
        raise ConfigError(f"{setting} is over 7 days, the longest CloudWatch alarms look back: use at most 168")
    if seconds > SHORT_PERIOD_SPAN_LIMIT_S and seconds % 3600:
        raise ConfigError(
            f"{setting}: over 24 hours CloudWatch needs alarm periods of an hour or more, so the silence must be "
            "whole hours (e.g. 36)"
        )
