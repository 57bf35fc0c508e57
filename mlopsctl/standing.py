"""Where the models of a deployed stack stand: what `mlops status` shows (the champion, the versions, the
candidates awaiting approval, the challenger and its evidence, alarms, queue depths, recent runs and
decisions) and starting a challenger by hand (`mlops challenge`)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mlops_core.config import load_config
from mlops_core.config.task import Task
from mlops_core.registry import challenger
from mlops_core.registry.challenger import rule, total_evidence
from mlops_core.registry.store import ArtifactIntegrityError, Registry, UnknownVersion

from . import online
from .stack import OpsError, Pipeline


def status(pipeline: Pipeline, *, runs: int = 5) -> dict[str, Any]:
    """Champion and its metrics, all versions, candidates awaiting approval, alarms, queue depths, recent
    runs and decisions."""
    registry = pipeline.registry()
    champion = registry.champion()
    try:
        versions = registry.versions()
    except ClientError as exc:
        raise OpsError(f"cannot read the registry: {exc}", "is the stack deployed and local AWS up?") from exc
    return {
        "champion": None if champion is None else _champion(registry, champion.version),
        "versions": [
            {"version": m["version"], "created_at": m.get("created_at"), "metrics": m.get("metrics", {})}
            for m in versions
        ],
        "pending": [held.record for held in pipeline.pending().open()],
        "alarms": alarm_states(pipeline),
        "queues": queue_depths(pipeline),
        "challenger": challenger_standing(pipeline),
        "runs": pipeline.ledger().recent(limit=runs),
        "decisions": registry.history(limit=runs),
        "online": online_standing(pipeline),
    }


def online_standing(pipeline: Pipeline) -> dict[str, Any] | None:
    """The endpoint's URL and its last hour of closed windows; None when the project has no endpoint."""
    if "OnlineEndpoint" not in pipeline.outputs:
        return None
    return {"endpoint": online.endpoint_url(pipeline), "last_hour": online.recent_traffic(pipeline)}


def _champion(registry: Registry, version: str) -> dict[str, Any]:
    """The champion's version, task (with its classes) and metrics."""
    manifest = registry.manifest(version)
    task = Task.from_schema(manifest.get("schema") or {}).to_dict()
    return {"version": version, "task": task, "metrics": manifest.get("metrics", {})}


def alarm_states(pipeline: Pipeline) -> dict[str, str]:
    alarms = pipeline.client("cloudwatch").describe_alarms(AlarmNames=pipeline.alarm_names())["MetricAlarms"]
    return {a["AlarmName"]: a["StateValue"] for a in alarms}


def queue_depths(pipeline: Pipeline) -> dict[str, int]:
    sqs = pipeline.client("sqs")
    depths = {}
    for name, key in (("queue", "ScoringQueueUrl"), ("dlq", "DeadLetterQueueUrl")):
        attrs = sqs.get_queue_attributes(
            QueueUrl=pipeline.outputs[key],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        depths[name] = int(attrs["ApproximateNumberOfMessages"])
        depths[f"{name}_in_flight"] = int(attrs["ApproximateNumberOfMessagesNotVisible"])
    return depths


def start_challenge(pipeline: Pipeline, version: str, *, mode: str | None) -> dict[str, Any]:
    """Make `version` the challenger of the champion by hand, after the checks scoring relies on."""
    promotion = load_config().promotion
    if promotion.challenger == "off":
        raise OpsError("promotion.challenger is off", 'set promotion.challenger = "shadow" (or "split"), then deploy')
    chosen = mode or promotion.challenger
    if chosen not in ("shadow", "split") or (chosen == "split" and not promotion.challenger_id_column):
        raise OpsError(f"cannot challenge in mode {chosen!r}", "use shadow, or split with challenger_id_column set")
    registry = pipeline.registry()
    champion = registry.champion()
    if champion is None or champion.version == version:
        raise OpsError(f"{version} has no champion to challenge", "train or promote a champion first")
    try:
        registry.verified_artifact(version)
    except (UnknownVersion, ArtifactIntegrityError) as exc:
        raise OpsError(str(exc), "`mlops status` lists the versions") from exc
    if not challenger.comparable(registry, version, champion.version):
        raise OpsError(f"{version} reads other features or predicts another task than the champion", "")
    decision = {"kind": "challenge", "version": version, "champion": champion.version, "reasons": ["started by hand"]}
    record = challenger.start_challenge(
        registry,
        version,
        champion=champion,
        promotion=promotion,
        decision=decision,
        mode=chosen,  # type: ignore[arg-type]  # checked above
    )
    registry.record_decision({**decision, "mode": chosen})
    return record


def challenger_standing(pipeline: Pipeline) -> dict[str, Any] | None:
    """The challenger (active, or the last one) with its holdout metrics, the evidence of the batches it
    scored, and, while active, what the rule says now."""
    pointer = pipeline.registry().challenger()
    if pointer is None:
        return None
    config = load_config()
    evidence, jobs = total_evidence(pipeline.s3, pipeline.data_bucket, pointer.version)
    standing = {
        **pointer.record,
        "metrics": pipeline.registry().manifest(pointer.version).get("metrics", {}),
        "evidence": {**evidence.to_dict(), "jobs": jobs},
        "accuracy_or_error": {"challenger": evidence.mean("challenger"), "champion": evidence.mean("champion")},
    }
    if pointer.record.get("status") == "active":
        settings = config.promotion
        standing["ruling"] = rule(
            evidence,
            mode=pointer.record["mode"],
            classification=config.task.is_classification,
            confidence=settings.challenger_confidence,
            min_rows=settings.challenger_min_rows,
            max_rows=settings.challenger_max_rows,
        ).to_dict()
    return standing
