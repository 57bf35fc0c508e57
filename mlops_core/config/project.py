"""The project configuration (``mlops.toml``), parsed into typed, validated settings."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeGuard

from .errors import ConfigError
from .feature import Feature, parse_feature
from .model import ModelSettings, search_settings
from .task import METRICS, Task, task_from_config

CONFIG_ENV = "MLOPS_CONFIG"
CONFIG_FILE = "mlops.toml"


@dataclass(frozen=True)
class TrainingSettings:
    window_files: int
    min_rows: int
    max_bad_row_share: float = 0.05  # a run fails when a file skips more than this share of its rows
    # Uploads must not steer the model (training/sources.py): feedback rows are at most this share of a run's
    # rows, and one uploaded file's rows at most max_file_share; the rows left out are counted in the record.
    max_feedback_share: float = 0.5
    max_file_share: float = 0.5

    def __post_init__(self) -> None:
        for name in ("max_bad_row_share", "max_feedback_share", "max_file_share"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ConfigError(f"[training] {name} must be a number between 0 and 1, not {value!r}")


@dataclass(frozen=True)
class ScoringSettings:
    chunk_rows: int
    max_file_bytes: int
    max_field_chars: int
    max_bad_row_share: float
    byte_range_bytes: int


@dataclass(frozen=True)
class DriftSettings:
    bins: int
    min_rows: int
    psi_threshold: float  # method "psi": a feature (or the predictions) above this PSI has drifted
    drifted_share_threshold: float
    prediction_psi_threshold: float
    accuracy_floor: float | None = None  # classification: alarm when a labeled batch's accuracy is below
    max_error: float | None = None  # regression: alarm when a labeled batch's mean absolute error is above
    # "adaptive": each feature's PSI is judged against what PSI looks like for a clean sample of the
    # batch's size (see mlops_core.monitoring.verdict.psi_threshold_for); "psi": the fixed thresholds above.
    method: Literal["adaptive", "psi"] = "adaptive"
    false_alarm_rate: float = 0.01  # adaptive: the share of clean batches that may be called drifted
    min_effect_psi: float = 0.05  # adaptive: a shift below this PSI is never drift, however large the batch
    estimated_accuracy_floor: float = 0.7  # alarm when the label-free accuracy estimate falls below this
    reference_sample_rows: int = 2000  # rows kept for the multivariate check; 0 turns it off
    alarm_after: str = "1 of 1"  # "M of N": M drifted batches among the last N periods raise an alarm

    @property
    def alarm_datapoints(self) -> tuple[int, int]:
        """(M, N) of `alarm_after`."""
        m, _, n = self.alarm_after.partition(" of ")
        return int(m), int(n)

    def __post_init__(self) -> None:
        if self.method not in ("adaptive", "psi"):
            raise ConfigError(f"[drift] method must be adaptive or psi, not {self.method!r}")
        if not 0 < self.false_alarm_rate < 0.5:
            raise ConfigError("[drift] false_alarm_rate must be above 0 and below 0.5 (for example 0.01)")
        if not 0 < self.drifted_share_threshold <= 1:
            raise ConfigError("[drift] drifted_share_threshold must be above 0 and at most 1")
        try:
            m, n = self.alarm_datapoints
        except ValueError:
            m, n = 0, 0
        if not 1 <= m <= n:
            raise ConfigError(f"[drift] alarm_after must read 'M of N' with 1 <= M <= N, not {self.alarm_after!r}")


@dataclass(frozen=True)
class PromotionSettings:
    metric: str
    tolerance: float
    floor: float
    # The reference holdout (holdout/, or curated training/ rows; training/train.py) is a second gate that
    # uploads cannot move: the candidate must reach reference_floor there (None: `floor`) and come within
    # reference_tolerance of the champion on the same rows (None: 5 x `tolerance`). Looser than the fresh
    # gate on purpose: a model adapted to drift loses a little on older rows, a steered one loses much more
    # (churn demo: drift adaptation -0.028 ROC AUC, twenty poisoned uploads -0.079; docs/registry.md).
    reference_floor: float | None = None
    reference_tolerance: float | None = None
    # What a candidate that passed the gate becomes while a champion exists: the champion ("off"), or a
    # challenger that scores beside it ("shadow") or serves a share of rows ("split") until the rule in
    # mlops_core/registry/challenger.py promotes or retires it.
    challenger: Literal["off", "shadow", "split"] = "off"
    challenger_share: float = 0.1  # split: the share of rows the challenger scores
    challenger_id_column: str | None = None  # split: the column whose hash assigns a row to a model
    challenger_confidence: float = 0.95  # the rule's one-sided confidence
    challenger_min_rows: int = 500  # labeled rows per model before the rule decides
    challenger_max_rows: int = 20_000  # labeled rows per model after which no difference retires it
    # "auto": a candidate that passes the gate is put in place at once; "manual": it waits, pending, for
    # `mlops approve` (or `mlops reject`), and expires after `pending_ttl_days`.
    approval: Literal["auto", "manual"] = "auto"
    pending_ttl_days: float = 7

    def __post_init__(self) -> None:
        self._check_challenger()
        tolerance = self.reference_tolerance
        if tolerance is not None and (isinstance(tolerance, bool) or not isinstance(tolerance, int | float)):
            raise ConfigError(f"[promotion] reference_tolerance must be a number (at least 0), not {tolerance!r}")
        if tolerance is not None and tolerance < 0:
            raise ConfigError(f"[promotion] reference_tolerance must be at least 0, not {tolerance!r}")
        if self.approval not in ("auto", "manual"):
            raise ConfigError(f'[promotion] approval must be "auto" or "manual", not {self.approval!r}')
        ttl = self.pending_ttl_days
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0:
            raise ConfigError(
                f"[promotion] pending_ttl_days must be a number of days above 0 (for example 7), not {ttl!r}"
            )

    def _check_challenger(self) -> None:
        if self.challenger not in ("off", "shadow", "split"):
            raise ConfigError(f"[promotion] challenger must be off, shadow or split, not {self.challenger!r}")
        if not 0 < self.challenger_share < 1:
            raise ConfigError("[promotion] challenger_share must be above 0 and below 1 (for example 0.1)")
        if self.challenger == "split" and not self.challenger_id_column:
            raise ConfigError(
                '[promotion] challenger = "split" needs challenger_id_column: the column (an id) whose hash '
                "sends each row to the same model every time"
            )
        if not 0.5 < self.challenger_confidence < 1:
            raise ConfigError("[promotion] challenger_confidence must be above 0.5 and below 1 (for example 0.95)")
        if not 1 <= self.challenger_min_rows <= self.challenger_max_rows:
            raise ConfigError("[promotion] needs 1 <= challenger_min_rows <= challenger_max_rows")


# SageMaker's longest MaxRuntimeInSeconds: 28 days.
MAX_RUNTIME_LIMIT_S = 28 * 24 * 3600
# How much longer than a run's time limit its lock must last: the job starts after the lock is taken (a SageMaker
# instance to provision and the image to pull; an asynchronous invoke that may wait in Lambda's queue for up to
# infra/training.py's TRAINING_EVENT_MAX_AGE), and SageMaker gives a job it stops 120 s to exit.
LOCK_MARGIN_S = 600


@dataclass(frozen=True)
class RetrainingSettings:
    cooldown_seconds: int
    lock_ttl_seconds: int
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


def check_staleness(config: ProjectConfig) -> None:
    """Raise ConfigError when retraining.on_stale has no champion age to act on."""
    if config.retraining.on_stale and config.monitoring.max_model_age_days is None:
        raise ConfigError(
            "[retraining] on_stale = true needs [monitoring] max_model_age_days (the champion age that counts as "
            "stale): set it, or remove on_stale"
        )


@dataclass(frozen=True)
class ProjectConfig:
    name: str
    label: str
    task: Task
    features: tuple[Feature, ...]
    model: ModelSettings
    training: TrainingSettings
    scoring: ScoringSettings
    drift: DriftSettings
    promotion: PromotionSettings
    retraining: RetrainingSettings
    max_receive_count: int
    monitoring: MonitoringSettings = dataclasses.field(default_factory=MonitoringSettings)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def stack_name(self) -> str:
        """The CloudFormation stack of this project: one stack per project, side by side in an account.
        The default project keeps the name the stack always had, so upgrading never replaces it."""
        return "MlopsStack" if self.name == "mlops" else f"MlopsStack-{self.name}"

    def __post_init__(self) -> None:
        check_fits_task(self)
        check_staleness(self)


def check_fits_task(config: ProjectConfig) -> None:
    """Raise ConfigError when the promotion metric or a monitoring setting does not fit the task."""
    task, metric = config.task, config.promotion.metric
    spec = METRICS.get(metric)
    if spec is None or task.kind not in spec.tasks:
        fitting = [name for name, s in METRICS.items() if task.kind in s.tasks]
        raise ConfigError(
            f"[promotion] metric {metric!r} does not fit a {task.kind} task; use one of {', '.join(fitting)}"
        )
    drift = config.drift
    if task.is_classification and drift.accuracy_floor is None:
        raise ConfigError("[drift] accuracy_floor is required for a classification task (the labeled-batch alarm)")
    if task.is_classification and drift.max_error is not None:
        raise ConfigError("[drift] max_error applies to a regression task; use accuracy_floor")
    if not task.is_classification and drift.max_error is None:
        raise ConfigError("[drift] max_error is required for a regression task (the labeled-batch error alarm)")
    if not task.is_classification and drift.accuracy_floor is not None:
        raise ConfigError("[drift] accuracy_floor applies to classification; use max_error for a regression task")


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    value = raw.get(name)
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] section is missing from {CONFIG_FILE}")
    return value


def _build(cls: type, raw: dict[str, Any], section: str) -> Any:
    values = _section(raw, section)
    fields = dataclasses.fields(cls)
    required = [f.name for f in fields if f.default is dataclasses.MISSING]
    missing = [n for n in required if n not in values]
    if missing:
        raise ConfigError(f"[{section}] is missing {', '.join(missing)}")
    unknown = sorted(set(values) - {f.name for f in fields})
    if unknown:
        raise ConfigError(f"[{section}] has unknown setting(s) {', '.join(unknown)}")
    return cls(**{f.name: values[f.name] for f in fields if f.name in values})


def parse_config(raw: dict[str, Any]) -> ProjectConfig:
    """Validate a parsed TOML document and return the typed configuration."""
    max_field_chars = int(_section(raw, "scoring").get("max_field_chars", 0))
    features = [parse_feature(item, max_field_chars) for item in raw.get("features", [])]
    if not features:
        raise ConfigError(f"{CONFIG_FILE} defines no [[features]]")
    names = [f.name for f in features]
    if len(set(names)) != len(names):
        raise ConfigError("feature names must be unique")
    label = _section(raw, "label")
    if label.get("column") in names:
        raise ConfigError("the label column cannot also be a feature")
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,29}", name := str(_section(raw, "project").get("name", "mlops"))):
        raise ConfigError(
            f"[project] name {name!r} must be 1-30 lowercase letters, digits or hyphens, starting with a letter "
            "(it names the stack, the buckets and the alarms)"
        )
    model = _section(raw, "model")
    return ProjectConfig(
        name=name,
        label=str(label["column"]),
        task=task_from_config(label),
        features=tuple(features),
        model=ModelSettings(
            estimator=str(model.get("estimator", "")),
            params=dict(model.get("params", {})),
            seed=int(model.get("seed", 42)),
            holdout_share=float(model.get("holdout_share", 0.2)),
            **search_settings(model, known=(f.name for f in dataclasses.fields(ModelSettings))),
        ),
        training=_build(TrainingSettings, raw, "training"),
        scoring=_build(ScoringSettings, raw, "scoring"),
        drift=_build(DriftSettings, raw, "drift"),
        promotion=_build(PromotionSettings, raw, "promotion"),
        retraining=_build(RetrainingSettings, raw, "retraining"),
        max_receive_count=int(_section(raw, "queue")["max_receive_count"]),
        # Optional: without the section, no staleness alarm.
        monitoring=_build(MonitoringSettings, raw, "monitoring") if "monitoring" in raw else MonitoringSettings(),
    )


def config_path() -> Path:
    """Where the configuration file is: $MLOPS_CONFIG, else mlops.toml beside the code."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    root = Path(__file__).resolve().parents[2]  # mlops_core/config/project.py -> the code's root
    return root / CONFIG_FILE


def load_config(path: str | Path | None = None) -> ProjectConfig:
    """Read and validate the configuration file."""
    path = Path(path) if path else config_path()
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"configuration file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse_config(raw)
