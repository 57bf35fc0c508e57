"""The project configuration (``mlops.toml``), parsed into typed, validated settings."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .feature import Feature, parse_feature
from .lifecycle import MonitoringSettings, RetrainingSettings
from .model import ModelSettings, search_settings
from .sections import DriftSettings, PromotionSettings, ScoringSettings, TrainingSettings
from .task import METRICS, Task, task_from_config

CONFIG_ENV = "MLOPS_CONFIG"
CONFIG_FILE = "mlops.toml"


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
