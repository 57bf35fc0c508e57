"""The alerts a job sends: a drifted batch's (which features moved and by how much, the file, the model, the
report), and a superseded file's (its content was overwritten before it could be read).

CloudWatch's own alarm messages can only say that a metric crossed a threshold; this message says
what to look at. It is sent after the job's metrics, by the invocation that completes its receipt,
and never holds the metrics back: a failure to send is recorded in the receipt (`alert`), not retried.

A key is whatever the uploader chose: it is quoted with its control characters escaped and cut to
KEY_LIMIT characters, and a subject holds printable ASCII only (what SNS accepts).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

SUBJECT_LIMIT = 100  # SNS's limit on a subject, which must be printable ASCII
KEY_LIMIT = 200  # characters of a key quoted in a message


def drift_alert(receipt: dict[str, Any], *, pipeline: str) -> tuple[str, str] | None:
    """(subject, message) for a scored batch whose drift verdict is yes; None otherwise."""
    drift = receipt.get("drift") or {}
    if receipt.get("outcome") != "scored" or not drift.get("verdict"):
        return None
    where = quoted_key(receipt["key"]) + (
        f" (part {receipt['part'] + 1} of {receipt['parts']})" if receipt.get("parts", 1) > 1 else ""
    )
    lines = [f"Drift in {where}, scored by model {receipt['model_version']} ({drift['rows']:,} rows).", ""]
    lines += [f"- {reason}" for reason in drift.get("reasons", [])]
    lines += _feature_lines(drift) + _performance_lines(drift)
    lines += [
        "",
        f"Drift report: {quoted_key(receipt['outputs'].get('drift_report') or '')}",
        "Retraining starts by itself when a drift alarm fires; `mlops status` shows the run and the gate's "
        "decision, `mlops report` the distributions.",
    ]
    return subject_line(f"{pipeline}: drift in {receipt['key'].rsplit('/', 1)[-1]}"), "\n".join(lines)


def superseded_alert(receipt: dict[str, Any], *, pipeline: str) -> tuple[str, str] | None:
    """(subject, message) for a job whose content was overwritten before it was read; None otherwise."""
    if receipt.get("outcome") != "superseded":
        return None
    part = f" (part {receipt['part'] + 1} of {receipt['parts']})" if receipt.get("parts", 1) > 1 else ""
    lines = [
        f"{quoted_key(receipt['key'])}{part}, ETag {receipt['etag']}, was written again before it was scored.",
        f"The data bucket keeps no earlier version, so that content was not scored. The key holds ETag "
        f"{receipt.get('current_etag') or 'unknown'} now, which is scored under its own event.",
        "",
        "To score the earlier content, upload it again under a name of its own. Versioning the data bucket "
        "(the stack does) keeps every content and scores each. `mlops audit` counts superseded files.",
    ]
    return subject_line(f"{pipeline}: {receipt['key'].rsplit('/', 1)[-1]} overwritten before scoring"), "\n".join(lines)


def subject_line(text: str) -> str:
    """`text` as an SNS subject: other than printable ASCII becomes "?", at most SUBJECT_LIMIT characters."""
    printable = "".join(c if " " <= c <= "~" else "?" for c in text).strip()
    return printable if len(printable) <= SUBJECT_LIMIT else printable[: SUBJECT_LIMIT - 3] + "..."


def quoted_key(key: str) -> str:
    """A key as a message shows it: control and format characters escaped (a line break in a key cannot
    start a line of the message), at most KEY_LIMIT characters: its start and its end (the ETag of an output)."""
    shown = "".join(c.encode("unicode_escape").decode() if unicodedata.category(c) in ("Cc", "Cf") else c for c in key)
    half = (KEY_LIMIT - 3) // 2
    return shown if len(shown) <= KEY_LIMIT else f"{shown[:half]}...{shown[-half:]}"


def _feature_lines(drift: dict[str, Any]) -> list[str]:
    if not drift.get("drifted"):
        return []
    lines = [
        "",
        "Drifted features, most drifted first (PSI, the threshold for this batch size, PSI/threshold; "
        "a changed missing or unknown share):",
    ]
    lines += [_feature_line(d) for d in drift["drifted"]]
    for name, text in (drift.get("text") or {}).items():
        if name in drift.get("drifted_features", []) and text.get("new_words"):
            lines.append(f"  {name}: {text['oov_share']:.1%} of words are new, e.g. {', '.join(text['new_words'])}")
    for name, values in (drift.get("new_categories") or {}).items():
        if name in drift.get("drifted_features", []):
            lines.append(f"  {name}: new values, most frequent first: {_new_values(values)}")
    return lines


def _feature_line(drifted: dict[str, Any]) -> str:
    """A drifted feature: its PSI against the threshold (when that is why), its changed data quality."""
    d = drifted
    parts = [f"{d['psi']:.4f} > {d['threshold']:.4f} ({d['score']:.1f}x)"] if d.get("psi_drifted", True) else []
    return f"  {d['feature']}: {'; '.join([*parts, *d.get('quality', [])])}"


def _new_values(values: list[dict[str, Any]]) -> str:
    return ", ".join(f"{v['value']!r} ({v['rows']:,} rows)" for v in values)


def _performance_lines(drift: dict[str, Any]) -> list[str]:
    performance = drift.get("performance") or {}
    if performance.get("estimated_accuracy") is None:
        return []
    return ["", f"Estimated accuracy without labels: {performance['estimated_accuracy']:.3f}"]


def send_alert(sns: Any, topic_arn: str, receipt: dict[str, Any], *, pipeline: str) -> dict[str, Any] | None:
    """Publish the job's alert, if it has one; what became of it, for the receipt (None: no alert).

    Best effort: an SNS error is returned, not raised, so that it never holds back the job's completion."""
    alert = drift_alert(receipt, pipeline=pipeline) or superseded_alert(receipt, pipeline=pipeline)
    if alert is None:
        return None
    try:
        sns.publish(TopicArn=topic_arn, Subject=alert[0], Message=alert[1])
    except Exception as exc:  # any failure: the metrics are out, the alarms will see the drift
        return {"sent": False, "subject": alert[0], "error": f"{type(exc).__name__}: {exc}"[:500]}
    return {"sent": True, "subject": alert[0]}


def to_topic(sns: Any | None, topic_arn: str | None, *, pipeline: str) -> Callable[[str, str], None]:
    """A function that sends (subject, message) to the alerts topic, prefixed with the pipeline's name;
    it does nothing where the environment names no topic."""

    def send(subject: str, message: str) -> None:
        if sns is not None and topic_arn:
            sns.publish(TopicArn=topic_arn, Subject=subject_line(f"{pipeline}: {subject}"), Message=message)

    return send
