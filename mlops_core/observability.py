"""Every metric the pipeline publishes, and the one Logger set-up, in one place.

Scoring and training publish through `datum`; the CDK app's alarms and dashboard read the same
`Metric` records (`infra/monitoring.py`), so renaming a metric here renames it everywhere, and a
metric a publisher does not know fails at once instead of leaving an alarm watching nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Logger

NAMESPACE = "MLOps"
PIPELINE = "Pipeline"  # the dimension every metric carries: the project name from mlops.toml
FEATURE = "Feature"  # the extra dimension of per-feature drift
PUT_METRIC_DATA_LIMIT = 500  # data per PutMetricData call (AWS allows 1,000; LocalStack is slower with many)


class Unit(StrEnum):
    COUNT = "Count"
    NONE = "None"


@dataclass(frozen=True)
class Metric:
    """One CloudWatch metric: its name, unit, dimensions beyond Pipeline, and storage resolution."""

    name: str
    unit: Unit
    description: str
    dimensions: tuple[str, ...] = ()
    # 1 s (high resolution) for what alarms watch at a 10 s period on the local target; 60 s otherwise.
    resolution_s: int = 1


FILES_SCORED = Metric("FilesScored", Unit.COUNT, "files (or byte ranges) scored")
FILES_REJECTED = Metric("FilesRejected", Unit.COUNT, "files (or byte ranges) rejected with a report")
FILES_SUPERSEDED = Metric(
    "FilesSuperseded", Unit.COUNT, "files (or byte ranges) overwritten before they were read (no versioning)"
)
ROWS_SCORED = Metric("RowsScored", Unit.COUNT, "rows scored")
ROWS_REJECTED = Metric("RowsRejected", Unit.COUNT, "bad rows of scored files, kept with a report")
WORST_FEATURE_PSI = Metric("WorstFeaturePSI", Unit.NONE, "the most drifted feature's PSI in a batch")
DRIFTED_FEATURE_SHARE = Metric("DriftedFeatureShare", Unit.NONE, "share of features over the PSI threshold")
PREDICTION_PSI = Metric("PredictionPSI", Unit.NONE, "PSI of the prediction scores")
FEATURE_PSI = Metric("FeaturePSI", Unit.NONE, "PSI of one feature", dimensions=(FEATURE,))
FEATURE_DRIFT_SCORE = Metric(
    "FeatureDriftScore", Unit.NONE, "one feature's PSI over its threshold for the batch's size", dimensions=(FEATURE,)
)
PREDICTION_DRIFT_SCORE = Metric("PredictionDriftScore", Unit.NONE, "prediction PSI over its threshold; > 1 is drift")
MULTIVARIATE_DRIFT_SCORE = Metric(
    "MultivariateDriftScore", Unit.NONE, "domain classifier AUC excess over a clean batch's; > 1 is drift"
)
QUALITY_DRIFTED_FEATURES = Metric(
    "QualityDriftedFeatures",
    Unit.COUNT,
    "features whose missing or unknown share changed beyond the batch size's noise",
)
MODEL_ACCURACY = Metric("ModelAccuracy", Unit.NONE, "accuracy on a labeled batch (classification)")
MODEL_ERROR = Metric("ModelMeanAbsoluteError", Unit.NONE, "mean absolute error on a labeled batch (regression)")
ESTIMATED_ACCURACY = Metric("EstimatedAccuracy", Unit.NONE, "label-free accuracy estimate of a batch (CBPE)")
ESTIMATED_ROC_AUC = Metric("EstimatedRocAuc", Unit.NONE, "label-free ROC AUC estimate of a batch (CBPE)")
TRAINING_RUNS = Metric("TrainingRuns", Unit.COUNT, "training runs finished", resolution_s=60)
TRAINING_FAILURES = Metric("TrainingFailures", Unit.COUNT, "training runs failed", resolution_s=60)
MODEL_PROMOTIONS = Metric("ModelPromotions", Unit.COUNT, "training runs that promoted", resolution_s=60)
CHAMPION_VERSION = Metric(
    "ChampionVersion", Unit.NONE, "UTC timestamp of the promoted version id, as a number", resolution_s=60
)
# Published on a schedule (lambdas/staleness) whatever happens in the pipeline, so a missing datum means the
# publisher is not running or there is no champion.
CHAMPION_AGE_DAYS = Metric(
    "ChampionAgeDays", Unit.NONE, "days since the champion was trained (its manifest's created_at)", resolution_s=60
)
# Published once per monitoring window of the online endpoint (lambdas/online_monitor), from what it captured;
# API Gateway's own metrics (AWS/ApiGateway: Count, Latency, 4XXError, 5XXError) are the live view on AWS.
ONLINE_REQUESTS = Metric("OnlineRequests", Unit.COUNT, "requests to /predict in a window", resolution_s=60)
ONLINE_BAD_REQUESTS = Metric("OnlineBadRequests", Unit.COUNT, "requests to /predict answered 4xx", resolution_s=60)
ONLINE_LATENCY_P50 = Metric("OnlineLatencyP50", Unit.NONE, "the handler's median latency (ms)", resolution_s=60)
ONLINE_LATENCY_P99 = Metric(
    "OnlineLatencyP99", Unit.NONE, "the handler's 99th percentile latency (ms)", resolution_s=60
)
ONLINE_UNMATCHED_LABELS = Metric(
    "OnlineUnmatchedLabels", Unit.COUNT, "labels posted for an id with no captured record", resolution_s=60
)

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        FILES_SCORED,
        FILES_REJECTED,
        FILES_SUPERSEDED,
        ROWS_SCORED,
        ROWS_REJECTED,
        WORST_FEATURE_PSI,
        DRIFTED_FEATURE_SHARE,
        PREDICTION_PSI,
        FEATURE_PSI,
        FEATURE_DRIFT_SCORE,
        PREDICTION_DRIFT_SCORE,
        MULTIVARIATE_DRIFT_SCORE,
        QUALITY_DRIFTED_FEATURES,
        MODEL_ACCURACY,
        MODEL_ERROR,
        ESTIMATED_ACCURACY,
        ESTIMATED_ROC_AUC,
        TRAINING_RUNS,
        TRAINING_FAILURES,
        MODEL_PROMOTIONS,
        CHAMPION_VERSION,
        CHAMPION_AGE_DAYS,
        ONLINE_REQUESTS,
        ONLINE_BAD_REQUESTS,
        ONLINE_LATENCY_P50,
        ONLINE_LATENCY_P99,
        ONLINE_UNMATCHED_LABELS,
    )
}


def dimensions_map(metric: Metric, pipeline: str, **extra: str) -> dict[str, str]:
    """The metric's dimensions as a name -> value map; `extra` must give exactly its own dimensions."""
    if set(extra) != set(metric.dimensions):
        raise ValueError(f"{metric.name} takes dimensions {metric.dimensions or '()'}, not {tuple(extra)}")
    return {PIPELINE: pipeline, **extra}


def datum(metric: Metric, value: float, *, pipeline: str, **extra: str) -> dict[str, Any]:
    """One entry of PutMetricData's MetricData for `metric`."""
    dims = dimensions_map(metric, pipeline, **extra)
    return {
        "MetricName": metric.name,
        "Value": float(value),
        "Unit": metric.unit.value,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
        "StorageResolution": metric.resolution_s,
    }


def put_metrics(cloudwatch: Any, data: Iterable[Mapping[str, Any]], *, namespace: str = NAMESPACE) -> None:
    """PutMetricData in calls of at most PUT_METRIC_DATA_LIMIT entries."""
    data = list(data)
    for i in range(0, len(data), PUT_METRIC_DATA_LIMIT):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[i : i + PUT_METRIC_DATA_LIMIT])


def function_logger(service: str) -> Logger:
    """The Powertools Logger every function uses: JSON lines, level from POWERTOOLS_LOG_LEVEL."""
    return Logger(service=service)
