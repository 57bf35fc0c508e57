"""The CloudWatch metrics of one finished job, built from its receipt (so a retry sends the same ones)."""

from __future__ import annotations

from typing import Any

from mlops_core import observability as obs

FILES_COUNTED = {"scored": obs.FILES_SCORED, "rejected": obs.FILES_REJECTED, "superseded": obs.FILES_SUPERSEDED}


def metric_data(receipt: dict[str, Any], *, pipeline: str, min_labeled_rows: int) -> list[dict[str, Any]]:
    """PutMetricData entries for a receipt: file and row counts, and for a scored file its drift and, when
    labeled, its accuracy (classification) or mean absolute error (regression).

    Drift and estimated performance only when the batch had enough rows for a verdict; accuracy or error
    only when at least `min_labeled_rows` rows were labeled, so a handful of labels cannot fire its alarm.
    """
    scored = receipt["outcome"] == "scored"
    data = [
        obs.datum(FILES_COUNTED[receipt["outcome"]], 1, pipeline=pipeline),
        obs.datum(obs.ROWS_SCORED, receipt.get("scored", 0), pipeline=pipeline),
        obs.datum(obs.ROWS_REJECTED, receipt.get("bad_rows", 0), pipeline=pipeline),
    ]
    if not scored:
        return data
    drift = receipt.get("drift") or {}
    if drift.get("verdict") is not None:
        data += _drift_data(drift, pipeline) + _estimate_data(drift.get("performance"), pipeline)
    labeled = receipt.get("labeled")
    if labeled and labeled["rows"] >= min_labeled_rows:
        if "accuracy" in labeled:
            data.append(obs.datum(obs.MODEL_ACCURACY, labeled["accuracy"], pipeline=pipeline))
        if "mae" in labeled:
            data.append(obs.datum(obs.MODEL_ERROR, labeled["mae"], pipeline=pipeline))
    return data


def _drift_data(drift: dict[str, Any], pipeline: str) -> list[dict[str, Any]]:
    data = [
        obs.datum(obs.WORST_FEATURE_PSI, drift["worst_psi"], pipeline=pipeline),
        obs.datum(obs.DRIFTED_FEATURE_SHARE, drift["drifted_share"], pipeline=pipeline),
        obs.datum(obs.PREDICTION_PSI, drift["prediction_psi"], pipeline=pipeline),
    ]
    if drift.get("prediction"):  # receipts written before drift scores existed have none
        data.append(obs.datum(obs.PREDICTION_DRIFT_SCORE, drift["prediction"]["score"], pipeline=pipeline))
    for name, value in drift["feature_psi"].items():
        data.append(obs.datum(obs.FEATURE_PSI, value, pipeline=pipeline, **{obs.FEATURE: name}))
    for name, value in drift.get("feature_scores", {}).items():
        data.append(obs.datum(obs.FEATURE_DRIFT_SCORE, value, pipeline=pipeline, **{obs.FEATURE: name}))
    if "quality_drifted_features" in drift:  # reports from before data quality have none
        data.append(obs.datum(obs.QUALITY_DRIFTED_FEATURES, len(drift["quality_drifted_features"]), pipeline=pipeline))
    multivariate = drift.get("multivariate") or {}
    if "score" in multivariate:
        data.append(obs.datum(obs.MULTIVARIATE_DRIFT_SCORE, multivariate["score"], pipeline=pipeline))
    return data


def _estimate_data(performance: dict[str, Any] | None, pipeline: str) -> list[dict[str, Any]]:
    if not performance or not performance.get("rows"):
        return []
    data = [obs.datum(obs.ESTIMATED_ACCURACY, performance["estimated_accuracy"], pipeline=pipeline)]
    if performance.get("estimated_roc_auc") is not None:
        data.append(obs.datum(obs.ESTIMATED_ROC_AUC, performance["estimated_roc_auc"], pipeline=pipeline))
    return data


def publish(cloudwatch: Any, receipt: dict[str, Any], *, namespace: str, pipeline: str, min_labeled_rows: int) -> None:
    """Send a receipt's metrics."""
    data = metric_data(receipt, pipeline=pipeline, min_labeled_rows=min_labeled_rows)
    obs.put_metrics(cloudwatch, data, namespace=namespace)
