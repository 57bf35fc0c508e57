"""The project's configuration: ``mlops.toml`` read into typed, validated settings.

Everything else reads the config; the config reads nothing of the project's (the bottom layer).

- ``project``    the file: ``load_config`` -> ``ProjectConfig``, the checks that span sections, and the file as a
                 manifest records it (``config_record``, ``recorded_config``)
- ``sections``   ``[training]``, ``[scoring]``, ``[drift]``, ``[promotion]``: each batch's and each run's settings;
                 ``[tracking]``: the MLflow server the CLI keeps current
- ``lifecycle``  ``[retraining]`` (cooldown, the run lock and its time limit, a schedule) and ``[monitoring]``
                 (the staleness alarms), with the limits AWS puts on each
- ``online``     ``[online]``: the HTTPS endpoint's limits, its capture and the window its traffic is judged in
- ``model``      ``[model]``: the estimator, ``[[model.candidates]]`` of a search, the user's pipeline
- ``feature``    ``[[features]]``: numeric, categorical or text, with the text vectorizer's settings
- ``task``       ``[label]``: binary, multiclass or regression, its classes, metrics and label rules
- ``defaults``   what a section or setting left out means when the task or the features decide it, and the
                 known sections (only ``[label]`` and ``[[features]]`` are required)
- ``errors``     ``ConfigError``, the one error a bad config raises
"""

from .errors import ConfigError
from .feature import MISSING_CATEGORY, Feature, parse_feature
from .lifecycle import LOCK_MARGIN_S, SHORT_PERIOD_SPAN_LIMIT_S, MonitoringSettings, RetrainingSettings
from .model import Candidate, ModelSettings
from .online import OnlineSettings
from .project import (
    CONFIG_ENV,
    CONFIG_FILE,
    ProjectConfig,
    config_path,
    config_record,
    load_config,
    parse_config,
    recorded_config,
)
from .sections import DriftSettings, PromotionSettings, ScoringSettings, TrackingSettings, TrainingSettings
from .task import (
    METRICS,
    TASKS,
    MetricSpec,
    Task,
    canonical_label,
    canonical_labels,
    fit_targets,
    model_classes,
    order_classes,
)

__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILE",
    "LOCK_MARGIN_S",
    "METRICS",
    "MISSING_CATEGORY",
    "SHORT_PERIOD_SPAN_LIMIT_S",
    "TASKS",
    "Candidate",
    "ConfigError",
    "DriftSettings",
    "Feature",
    "MetricSpec",
    "ModelSettings",
    "MonitoringSettings",
    "OnlineSettings",
    "ProjectConfig",
    "PromotionSettings",
    "RetrainingSettings",
    "ScoringSettings",
    "Task",
    "TrackingSettings",
    "TrainingSettings",
    "canonical_label",
    "canonical_labels",
    "config_path",
    "config_record",
    "fit_targets",
    "load_config",
    "model_classes",
    "order_classes",
    "parse_config",
    "parse_feature",
    "recorded_config",
]
