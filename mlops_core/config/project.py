"""The project configuration (``mlops.toml``), parsed into typed, validated settings."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .defaults import check_sections, drift_defaults, model_defaults, promotion_defaults, retraining_defaults
from .errors import ConfigError
from .feature import Feature, parse_feature
from .lifecycle import MonitoringSettings, RetrainingSettings
from .model import ModelSettings, search_settings
from .online import OnlineSettings
from .sections import DriftSettings, PromotionSettings, ScoringSettings, TrackingSettings, TrainingSettings
from .task import METRICS, Task, task_from_config

CONFIG_ENV = "MLOPS_CONFIG"
CONFIG_FILE = "mlops.toml"
LABEL_KEYS = ("column", "task", "classes", "positive_class")
MAX_RECEIVE_COUNT = 3  # receives of a scoring message before it goes to the dead-letter queue


def check_online_id(config: ProjectConfig) -> None:
    """Raise ConfigError when [online] id_column names a feature or the label: a record's pass-through id
    must be a field of its own."""
    id_column = config.online.id_column
    if id_column in config.feature_names or id_column == config.label:
        raise ConfigError(
            f"[online] id_column {id_column!r} is a feature or the label; name the field that identifies a record "
            "(for example customer_id)"
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
    online: OnlineSettings = dataclasses.field(default_factory=OnlineSettings)
    tracking: TrackingSettings = dataclasses.field(default_factory=TrackingSettings)

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
        check_online_id(self)


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
    """The section's table; {} when it is left out (check_sections has refused anything but a table)."""
    return dict(raw.get(name, {}))


def _build(cls: type, values: dict[str, Any], section: str) -> Any:
    """The section's record from its table: the record's defaults for what is left out, unknown keys refused."""
    fields = dataclasses.fields(cls)
    required = [f.name for f in fields if f.default is dataclasses.MISSING]
    missing = [n for n in required if n not in values]
    if missing:
        raise ConfigError(f"[{section}] is missing {', '.join(missing)}")
    _refuse_unknown(values, (f.name for f in fields), section)
    return cls(**{f.name: values[f.name] for f in fields if f.name in values})


def _refuse_unknown(values: dict[str, Any], known: Iterable[str], section: str) -> None:
    known = tuple(known)
    unknown = sorted(set(values) - set(known))
    if unknown:
        close = [m for u in unknown for m in difflib.get_close_matches(u, known, n=1)]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"[{section}] has unknown setting(s) {', '.join(unknown)}{hint}")


def _features(raw: dict[str, Any]) -> tuple[Feature, ...]:
    max_field_chars = int(_section(raw, "scoring").get("max_field_chars", ScoringSettings.max_field_chars))
    items = raw.get("features", [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ConfigError("features must be [[features]] tables, each with a name and a type")
    features = tuple(parse_feature(item, max_field_chars) for item in items)
    if not features:
        raise ConfigError(f"{CONFIG_FILE} defines no [[features]]")
    names = [f.name for f in features]
    if len(set(names)) != len(names):
        raise ConfigError("feature names must be unique")
    return features


def _name(raw: dict[str, Any]) -> str:
    project = _section(raw, "project")
    _refuse_unknown(project, ("name",), "project")
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,29}", name := str(project.get("name", "mlops"))):
        raise ConfigError(
            f"[project] name {name!r} must be 1-30 lowercase letters, digits or hyphens, starting with a letter "
            "(it names the stack, the buckets and the alarms)"
        )
    return name


def _max_receive_count(raw: dict[str, Any]) -> int:
    queue = _section(raw, "queue")
    _refuse_unknown(queue, ("max_receive_count",), "queue")
    count = queue.get("max_receive_count", MAX_RECEIVE_COUNT)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise ConfigError(f"[queue] max_receive_count must be a whole number from 1 to 1000, not {count!r}")
    return count


def parse_config(raw: dict[str, Any]) -> ProjectConfig:
    """Validate a parsed TOML document and return the typed configuration; a section left out takes its
    defaults (mlops_core/config/defaults.py), but [label] and [[features]] are required."""
    check_sections(raw)
    features = _features(raw)
    label = _section(raw, "label")
    _refuse_unknown(label, LABEL_KEYS, "label")
    if "column" not in label:
        raise ConfigError("[label] is missing column (the CSV column the model predicts)")
    if label["column"] in [f.name for f in features]:
        raise ConfigError("the label column cannot also be a feature")
    task = task_from_config(label)
    model = model_defaults(_section(raw, "model"), task, has_text=any(f.is_text for f in features))
    return ProjectConfig(
        name=_name(raw),
        label=str(label["column"]),
        task=task,
        features=features,
        model=ModelSettings(
            estimator=str(model.get("estimator", "")),
            params=dict(model.get("params", {})),
            seed=int(model.get("seed", 42)),
            holdout_share=float(model.get("holdout_share", 0.2)),
            **search_settings(model, known=(f.name for f in dataclasses.fields(ModelSettings))),
        ),
        training=_build(TrainingSettings, _section(raw, "training"), "training"),
        scoring=_build(ScoringSettings, _section(raw, "scoring"), "scoring"),
        drift=_build(DriftSettings, drift_defaults(_section(raw, "drift"), task), "drift"),
        promotion=_build(PromotionSettings, promotion_defaults(_section(raw, "promotion"), task), "promotion"),
        retraining=_build(RetrainingSettings, retraining_defaults(_section(raw, "retraining")), "retraining"),
        max_receive_count=_max_receive_count(raw),
        # Without the section (or a setting), no staleness alarm.
        monitoring=_build(MonitoringSettings, _section(raw, "monitoring"), "monitoring"),
        online=_build(OnlineSettings, _section(raw, "online"), "online"),
        tracking=_build(TrackingSettings, _section(raw, "tracking"), "tracking"),
    )


def config_path() -> Path:
    """Where the configuration file is: $MLOPS_CONFIG, else mlops.toml beside the code."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    root = Path(__file__).resolve().parents[2]  # mlops_core/config/project.py -> the code's root
    return root / CONFIG_FILE


def config_record(path: Path | None = None) -> dict[str, str]:
    """The config file as a manifest records it: its SHA-256 and its text (small), so a run can be repeated
    with the config it used (`recorded_config`) and anyone can see which config made a model."""
    data = (path or config_path()).read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "text": data.decode()}


def recorded_config(record: dict[str, str]) -> ProjectConfig:
    """The config a manifest recorded, parsed again."""
    return parse_config(tomllib.loads(record["text"]))


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
