"""The project's configuration: ``mlops.toml`` read into typed, validated settings.

Everything else reads the config; the config reads nothing of the project's (the bottom layer).

- ``project``  the file and its sections: ``load_config`` -> ``ProjectConfig`` (training, scoring, drift,
               promotion, retraining, monitoring settings), the checks that span sections
- ``model``    ``[model]``: the estimator, ``[[model.candidates]]`` of a search, the user's pipeline
- ``feature``  ``[[features]]``: numeric, categorical or text, with the text vectorizer's settings
- ``task``     ``[label]``: binary, multiclass or regression, its classes, metrics and label rules
- ``errors``   ``ConfigError``, the one error a bad config raises
"""

from .errors import ConfigError
from .feature import Feature, parse_feature
from .model import Candidate, ModelSettings
from .project import (
    CONFIG_ENV,
    CONFIG_FILE,
    DriftSettings,
    MonitoringSettings,
    ProjectConfig,
    PromotionSettings,
    RetrainingSettings,
    ScoringSettings,
    TrainingSettings,
    config_path,
    load_config,
    parse_config,
)
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
    "METRICS",
    "TASKS",
    "Candidate",
    "ConfigError",
    "DriftSettings",
    "Feature",
    "MetricSpec",
    "ModelSettings",
    "MonitoringSettings",
    "ProjectConfig",
    "PromotionSettings",
    "RetrainingSettings",
    "ScoringSettings",
    "Task",
    "TrainingSettings",
    "canonical_label",
    "canonical_labels",
    "config_path",
    "fit_targets",
    "load_config",
    "model_classes",
    "order_classes",
    "parse_config",
    "parse_feature",
]
