"""Operator actions on a deployed stack, as plain functions over boto3 clients (the CLI wraps them)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from mlops_core.config.project import load_config
from mlops_core.config.task import Task
from mlops_core.registry import challenger
from mlops_core.registry.approval import PendingRecords
from mlops_core.registry.challenger import rule, total_evidence
from mlops_core.registry.runs import RunLedger
from mlops_core.registry.store import ArtifactIntegrityError, Registry, UnknownVersion
from mlops_core.storage import layout

from .accounting import Accounting, account
from .deploy import LOCAL_REGION, chosen_config, load_outputs


class OpsError(RuntimeError):
    """An operation failed in a way the operator can fix; `hint` says how."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass
class Pipeline:
    """A deployed stack: its outputs and clients aimed at the target's endpoint."""

    outputs: dict[str, str]
    session: boto3.Session
    endpoint: str | None

    @classmethod
    def connect(cls, root: Path, target: str = "localstack", endpoint: str | None = None) -> Pipeline:
        """The deployed stack of the chosen project (see mlops_core.config.project.config_path) on `target`."""
        config = load_config()
        outputs = load_outputs(root, target, config.stack_name)
        if not outputs:
            raise OpsError(
                f"project {config.name!r} is not deployed to {target} (no outputs of stack {config.stack_name})",
                f"run `{deploy_command(target)}` first",
            )
        if target == "localstack":
            session = boto3.Session(
                aws_access_key_id="test",
                aws_secret_access_key="test",  # noqa: S106
                region_name=LOCAL_REGION,
            )
            endpoint = endpoint or "http://127.0.0.1:4566"
        else:
            session, endpoint = boto3.Session(), None
        return cls(outputs, session, endpoint)

    def client(self, service: str, **config: Any) -> Any:
        return self.session.client(
            service, endpoint_url=self.endpoint, config=Config(retries={"mode": "standard"}, **config)
        )

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def data_bucket(self) -> str:
        return self.outputs["DataBucket"]

    @property
    def models_bucket(self) -> str:
        return self.outputs["ModelsBucket"]

    def registry(self) -> Registry:
        return Registry(self.s3, self.models_bucket)

    def pending(self) -> PendingRecords:
        """The candidates held for manual approval."""
        return PendingRecords(self.s3, self.models_bucket)

    def ledger(self) -> RunLedger:
        return RunLedger(self.s3, self.models_bucket)

    def alarm_names(self) -> list[str]:
        return [v for k, v in self.outputs.items() if k.endswith("Alarm")]


def deploy_command(target: str) -> str:
    """The command that deploys the chosen project to `target`, as the operator would type it."""
    chosen = chosen_config()
    config_option = f"--config {_shown_path(chosen)} " if chosen else ""
    return f"mlops {config_option}deploy --target {target}"


def _shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def wait_for(
    what: str,
    probe: Callable[[], Any],
    *,
    timeout_s: float,
    interval_s: float = 1.0,
    progress: Callable[[float], None] | None = None,
) -> Any:
    """Call `probe` until it returns something truthy; raise OpsError after `timeout_s`."""
    started = time.monotonic()
    while True:
        result = probe()
        if result:
            return result
        elapsed = time.monotonic() - started
        if elapsed > timeout_s:
            raise OpsError(
                f"timed out after {timeout_s:.0f} s waiting for {what}",
                "see `mlops status` and the function logs (`mlops logs`)",
            )
        if progress:
            progress(elapsed)
        time.sleep(interval_s)


# ---------------------------------------------------------------------------- training
def start_training(pipeline: Pipeline, reason: str) -> dict[str, Any]:
    """Ask the retraining function for a run, as an operator (skips the cooldown, never the lock)."""
    response = pipeline.client("lambda").invoke(
        FunctionName=pipeline.outputs["RetrainingFunction"],
        Payload=json.dumps({"source": "manual", "reason": reason}).encode(),
    )
    payload = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        raise OpsError(
            f"the retraining function failed: {payload.get('errorMessage', payload)}",
            "see its logs with `mlops logs retraining`",
        )
    return payload


def wait_for_run(
    pipeline: Pipeline, run_id: str, *, timeout_s: float = 600, progress: Callable[[float], None] | None = None
) -> dict[str, Any]:
    """Wait until the run record says succeeded or failed; return it."""
    ledger = pipeline.ledger()

    def finished() -> dict[str, Any] | None:
        run = ledger.get(run_id)
        return run if run and run.get("status") in ("succeeded", "failed") else None

    return wait_for(f"training run {run_id}", finished, timeout_s=timeout_s, interval_s=2, progress=progress)


def run_files(pipeline: Pipeline, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-file data accounting of a finished run: from its record, else from its version's manifest."""
    files = run.get("files") or run.get("data")
    if files or not run.get("version"):
        return list(files or [])
    try:
        return list(pipeline.registry().manifest(run["version"]).get("data") or [])
    except (ClientError, UnknownVersion):
        return []


# ---------------------------------------------------------------------------- queues and alarms
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


def alarm_states(pipeline: Pipeline) -> dict[str, str]:
    alarms = pipeline.client("cloudwatch").describe_alarms(AlarmNames=pipeline.alarm_names())["MetricAlarms"]
    return {a["AlarmName"]: a["StateValue"] for a in alarms}


def redrive(pipeline: Pipeline, *, max_messages: int = 10_000) -> int:
    """Move every message from the dead-letter queue back to the scoring queue; return how many."""
    sqs = pipeline.client("sqs")
    source, target = pipeline.outputs["DeadLetterQueueUrl"], pipeline.outputs["ScoringQueueUrl"]
    moved = 0
    while moved < max_messages:
        messages = sqs.receive_message(
            QueueUrl=source, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:
            # Send first, delete after: a crash in between duplicates a message (scoring is
            # idempotent) but never loses one.
            sqs.send_message(QueueUrl=target, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved


# ---------------------------------------------------------------------------- status
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
    }


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


def _champion(registry: Registry, version: str) -> dict[str, Any]:
    """The champion's version, task (with its classes) and metrics."""
    manifest = registry.manifest(version)
    task = Task.from_schema(manifest.get("schema") or {}).to_dict()
    return {"version": version, "task": task, "metrics": manifest.get("metrics", {})}


# ---------------------------------------------------------------------------- scoring
def upload_for_scoring(pipeline: Pipeline, body: bytes, name: str) -> dict[str, str]:
    """Put a CSV under incoming/; return its key and ETag (which name its receipt)."""
    key = layout.incoming_key(name)
    etag = pipeline.s3.put_object(Bucket=pipeline.data_bucket, Key=key, Body=body)["ETag"].strip('"')
    return {"key": key, "etag": etag}


def drop_files(pipeline: Pipeline, files: dict[str, bytes], *, threads: int = 8) -> dict[str, str]:
    """Put many objects at once (keys under incoming/); their ETags by key."""
    s3 = pipeline.s3

    def put(item: tuple[str, bytes]) -> tuple[str, str]:
        return item[0], s3.put_object(Bucket=pipeline.data_bucket, Key=item[0], Body=item[1])["ETag"].strip('"')

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return dict(pool.map(put, files.items()))


def wait_for_outcome(
    pipeline: Pipeline,
    key: str,
    etag: str,
    *,
    timeout_s: float = 300,
    interval_s: float = 1.0,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Wait until scoring has finished the object; return its receipt (scored, rejected or fanned out)."""
    s3, receipt = pipeline.s3, layout.receipt_key(key, etag)

    def finished() -> dict[str, Any] | None:
        try:
            body = json.loads(s3.get_object(Bucket=pipeline.data_bucket, Key=receipt)["Body"].read())
        except ClientError:
            return None
        return body if body.get("state") == "complete" else None

    return wait_for(f"scoring of {key}", finished, timeout_s=timeout_s, interval_s=interval_s, progress=progress)


def audit(pipeline: Pipeline, since: datetime) -> Accounting:
    """Where every file that arrived since `since` went (see mlopsctl.accounting)."""
    return account(
        pipeline.s3,
        pipeline.client("sqs"),
        data_bucket=pipeline.data_bucket,
        queue_url=pipeline.outputs["ScoringQueueUrl"],
        dlq_url=pipeline.outputs["DeadLetterQueueUrl"],
        since=since,
    )


def wait_until_settled(
    pipeline: Pipeline, since: datetime, *, timeout_s: float = 900, progress: Callable[[float], None] | None = None
) -> Accounting:
    """Wait until no file that arrived since `since` is in flight; return the accounting."""

    def settled() -> Accounting | None:
        result = audit(pipeline, since)
        return result if result.settled else None

    return wait_for(
        "every file to be scored or rejected", settled, timeout_s=timeout_s, interval_s=3, progress=progress
    )


def read_json(pipeline: Pipeline, key: str) -> dict[str, Any]:
    return json.loads(pipeline.s3.get_object(Bucket=pipeline.data_bucket, Key=key)["Body"].read())
