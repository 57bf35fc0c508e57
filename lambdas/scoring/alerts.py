"""The alert a drifted batch sends: which features moved and by how much, the file, the model, the report.

CloudWatch's own alarm messages can only say that a metric crossed a threshold; this message says
what to look at. It is sent once per batch, in the same exactly-once step as the metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SUBJECT_LIMIT = 100  # SNS's limit on a subject


def drift_alert(receipt: dict[str, Any], *, pipeline: str) -> tuple[str, str] | None:
    """(subject, message) for a scored batch whose drift verdict is yes; None otherwise."""
    drift = receipt.get("drift") or {}
    if receipt.get("outcome") != "scored" or not drift.get("verdict"):
        return None
    where = receipt["key"] + (
        f" (part {receipt['part'] + 1} of {receipt['parts']})" if receipt.get("parts", 1) > 1 else ""
    )
    lines = [f"Drift in {where}, scored by model {receipt['model_version']} ({drift['rows']:,} rows).", ""]
    lines += [f"- {reason}" for reason in drift.get("reasons", [])]
    lines += _feature_lines(drift) + _performance_lines(drift)
    lines += [
        "",
        f"Drift report: {receipt['outputs'].get('drift_report')}",
        "Retraining starts by itself when a drift alarm fires; `mlops status` shows the run and the gate's "
        "decision, `mlops report` the distributions.",
    ]
    subject = f"{pipeline}: drift in {receipt['key'].rsplit('/', 1)[-1]}"
    return subject[:SUBJECT_LIMIT], "\n".join(lines)


def _feature_lines(drift: dict[str, Any]) -> list[str]:
    if not drift.get("drifted"):
        return []
    lines = ["", "Drifted features, most drifted first (PSI, the threshold for this batch size, PSI/threshold):"]
    lines += [f"  {d['feature']}: {d['psi']:.4f} > {d['threshold']:.4f} ({d['score']:.1f}x)" for d in drift["drifted"]]
    for name, text in (drift.get("text") or {}).items():
        if name in drift.get("drifted_features", []) and text.get("new_words"):
            lines.append(f"  {name}: {text['oov_share']:.1%} of words are new, e.g. {', '.join(text['new_words'])}")
    return lines


def _performance_lines(drift: dict[str, Any]) -> list[str]:
    performance = drift.get("performance") or {}
    if performance.get("estimated_accuracy") is None:
        return []
    return ["", f"Estimated accuracy without labels: {performance['estimated_accuracy']:.3f}"]


def send_drift_alert(sns: Any, topic_arn: str, receipt: dict[str, Any], *, pipeline: str) -> bool:
    """Publish the batch's drift alert, if it has one; True when sent."""
    alert = drift_alert(receipt, pipeline=pipeline)
    if alert is None:
        return False
    sns.publish(TopicArn=topic_arn, Subject=alert[0], Message=alert[1])
    return True


def to_topic(sns: Any | None, topic_arn: str | None, *, pipeline: str) -> Callable[[str, str], None]:
    """A function that sends (subject, message) to the alerts topic, prefixed with the pipeline's name;
    it does nothing where the environment names no topic."""

    def send(subject: str, message: str) -> None:
        if sns is not None and topic_arn:
            sns.publish(TopicArn=topic_arn, Subject=f"{pipeline}: {subject}"[:SUBJECT_LIMIT], Message=message)

    return send
