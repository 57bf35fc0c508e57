"""Scoring one job (a CSV object, or a byte range of one) exactly once, in the order a file travels.

    the object the message names -> receipt? -> size check -> champion model -> fan out large files
    -> stream, validate, score -> write outputs -> claim the receipt -> publish metrics -> alert -> complete

Every file ends in one of two places: scored under predictions/ (bad rows, if few, listed in a
report next to a copy of them), or rejected under rejected/ (a copy of the file and a report of what
is wrong, where, and how to fix it). A content that was overwritten before it could be read (only in
a data bucket without versioning) ends in a "superseded" receipt and an alert. Problems that may go
away (S3 or CloudWatch errors, no champion yet, an artifact failing its checksum) raise instead, so
that SQS retries the message and finally keeps it in the dead-letter queue.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from mlops_core.config import ProjectConfig
from mlops_core.config.task import Task
from mlops_core.data.reader import FileRejected, too_large
from mlops_core.environment import ScoringEnvironment
from mlops_core.modeling.pipeline import features_from_schema
from mlops_core.monitoring.drift import DriftAccumulator
from mlops_core.monitoring.performance_estimate import realized_vs_estimated
from mlops_core.observability import function_logger
from mlops_core.registry.store import Registry
from mlops_core.storage import layout
from mlops_core.storage.errors import is_missing

from . import alerts, metrics, outputs, ranges, score
from .challenge import ChallengerRun, load_contender
from .messages import Job, Superseded
from .models import load_champion
from .receipts import Receipt, Receipts, State
from .review import review_challenger

logger = function_logger("scoring")

OUTCOME_DETAIL = ("model_version", "rows", "scored", "bad_rows", "outputs", "kind")  # what the handler logs


@dataclass(frozen=True)
class ScoringContext:
    """The function's environment and the project configuration, read once at cold start."""

    environment: ScoringEnvironment
    config: ProjectConfig

    @property
    def data_bucket(self) -> str:
        return self.environment.data_bucket


@dataclass
class Clients:
    s3: Any
    cloudwatch: Any
    sqs: Any | None = None
    sns: Any | None = None  # drift alerts (sent when the environment names an alerts topic)


@dataclass
class Outcome:
    key: str
    status: str  # scored | rejected | superseded | skipped | fanned_out
    detail: dict[str, Any] = field(default_factory=dict)


def score_job(
    job: Job, *, clients: Clients, context: ScoringContext, now: datetime | None = None, deadline: float | None = None
) -> Outcome:
    """Score (or reject) one job exactly once; raise on transient problems so SQS retries.

    A job whose content was overwritten before it could be read (in a bucket without versioning) ends
    "superseded". `deadline` (time.monotonic()) is when the invocation should stop reading a failing file.
    """
    now = now or datetime.now(UTC)
    try:
        named = _named_object(job, clients.s3, context.data_bucket)
    except Superseded as superseded:
        return _Run(job, clients, context, now).supersede(superseded)
    if named is None:
        return Outcome(job.key, "skipped", {"reason": "the object no longer exists"})
    run = _Run(named, clients, context, now)
    receipt = run.receipts.read(run.receipt_key)
    if receipt is not None:
        return run.resume(receipt)
    try:
        return _score_new(run, deadline=deadline)
    except Superseded as superseded:
        return run.supersede(superseded)


def _named_object(job: Job, s3: Any, bucket: str) -> Job | None:
    """The job with its object's ETag and size, or None if the object (or the version it names) is gone.

    A versioned bucket's event names the version: that one is looked at, whatever the key holds now. Without
    a version, the key must still hold the event's ETag, else raise Superseded. The ETag is never swapped for
    the key's current one: that scored new rows as the old content, and a byte range at another's offsets.
    """
    version = {"VersionId": job.object_version} if job.object_version else {}
    try:
        head = s3.head_object(Bucket=bucket, Key=job.key, **version)
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise
    etag = head["ETag"].strip('"')
    if job.etag and etag != job.etag:
        raise Superseded(etag)
    return replace(job, etag=etag, size=head["ContentLength"])


def _score_new(run: _Run, *, deadline: float | None) -> Outcome:
    """A job seen for the first time: reject it, fan it out in byte ranges, or stream and score it."""
    job, clients, context = run.job, run.clients, run.context
    if not layout.name_fits(job.key):
        return run.reject(outputs.key_too_long(job.key), version=None)
    limit = context.config.scoring.max_file_bytes
    if job.whole and job.size > limit:
        return run.reject(too_large(job.size, limit), version=None)
    version, model, manifest = load_champion(Registry(clients.s3, context.environment.models_bucket), job.version)
    queue_url = context.environment.queue_url
    if job.whole and not job.gzipped and job.size > context.config.scoring.byte_range_bytes and queue_url:
        return run.fan_out(version, queue_url)
    started = time.monotonic()
    try:
        result = _score_stream(job, version, model, manifest, clients=clients, context=context, deadline=deadline)
    except FileRejected as rejected:
        return run.reject(rejected, version=version)
    result["seconds"] = round(time.monotonic() - started, 3)
    return run.claim_scored(result)


def _score_stream(
    job: Job,
    version: str,
    model: Any,
    manifest: dict[str, Any],
    *,
    clients: Clients,
    context: ScoringContext,
    deadline: float | None,
) -> dict[str, Any]:
    """Read, validate and score the job's rows; upload the outputs; the result for the receipt."""
    s3, bucket, cfg = clients.s3, context.data_bucket, context.config
    schema = manifest["schema"]
    rows, header = ranges.open_rows(job, s3, bucket, cfg.scoring)
    score.required_columns(header, features_from_schema(schema), schema["label"])
    drift = DriftAccumulator(manifest["profile"], sample_rows=cfg.drift.reference_sample_rows)
    contender = load_contender(
        Registry(s3, context.environment.models_bucket),
        version,
        alert=alerts.to_topic(clients.sns, context.environment.alert_topic_arn, pipeline=cfg.name),
    )
    challenger = ChallengerRun.start(contender, header, task=Task.from_schema(schema)) if contender else None
    with tempfile.TemporaryDirectory() as tmp:
        out_path, feedback_path = os.path.join(tmp, "predictions.csv"), os.path.join(tmp, "feedback.csv")
        shadow_path = os.path.join(tmp, "shadow.csv") if challenger and challenger.shadow else None
        tally = score.score_rows(
            rows,
            header,
            model=model,
            version=version,
            schema=schema,
            drift=drift,
            out_path=out_path,
            feedback_path=feedback_path,
            scoring=cfg.scoring,
            deadline=deadline,
            challenger=challenger,
            shadow_path=shadow_path,
        )
        score.check_enough_good_rows(tally, cfg.scoring.max_bad_row_share)
        written = outputs.upload_scored(s3, bucket, job, version, tally, out_path=out_path, feedback_path=feedback_path)
        shadow_key = (
            outputs.upload_shadow(s3, bucket, job, challenger.contender.version, shadow_path)
            if (challenger and shadow_path)
            else None
        )
    summary = drift.summary(cfg.drift).to_dict()
    labeled = score.labeled_metrics(tally, Task.from_schema(schema))
    summary["realized_vs_estimated"] = realized_vs_estimated(summary["performance"] or {}, labeled)
    counts = {"model_version": version, "rows": tally.rows, "scored": tally.scored, "bad_rows": tally.bad}
    contest = {"challenger": challenger.result(cfg.drift, shadow_key=shadow_key)} if challenger else {}
    written["drift_report"] = outputs.write_drift_report(
        s3, bucket, job, {**counts, "drift": summary, "labeled": labeled, **contest}
    )
    return {**counts, "outputs": written, "drift": summary, "labeled": labeled, **contest}


class _Run:
    """One job's way through its receipt: claim, publish metrics once, complete."""

    def __init__(self, job: Job, clients: Clients, context: ScoringContext, now: datetime) -> None:
        self.job, self.clients, self.context, self.now = job, clients, context, now
        self.receipts = Receipts(clients.s3, context.data_bucket)
        self.receipt_key = outputs.outputs_of(job).receipt

    def _receipt_body(self, outcome: str, **fields: Any) -> dict[str, Any]:
        job = self.job
        return {
            "claimed_at": self.now.isoformat(),
            "key": job.key,
            "etag": job.etag,
            **({"object_version": job.object_version} if job.object_version else {}),
            "part": job.part,
            "parts": job.parts,
            "outcome": outcome,
            **fields,
        }

    def resume(self, receipt: Receipt) -> Outcome:
        """A job seen before: finish what its last attempt left, or skip it."""
        if receipt.state is State.PUBLISHING:  # its metrics were sent; only the completion was lost
            return self._complete(receipt)
        if receipt.takeover_due(self.now):  # a failed run's outcome: publish its metrics now
            return self._publish(receipt)
        return Outcome(self.job.key, "skipped", {"reason": "already processed", "receipt": self.receipt_key})

    def reject(self, rejected: FileRejected, *, version: str | None) -> Outcome:
        s3, bucket = self.clients.s3, self.context.data_bucket
        report = outputs.write_rejection(s3, bucket, self.job, rejected, now=self.now, version=version)
        body = self._receipt_body("rejected", rows=0, scored=0, kind=rejected.kind, outputs={"report": report})
        receipt = self.receipts.claim(self.receipt_key, body)
        return self._skipped_concurrently() if receipt is None else self._publish(receipt)

    def supersede(self, superseded: Superseded) -> Outcome:
        """The job's content was overwritten before it could be read: nothing to score, but nothing lost
        silently either. Its receipt says so; publishing it counts FilesSuperseded and alerts."""
        receipt = self.receipts.read(self.receipt_key)
        if receipt is not None:
            return self.resume(receipt)
        body = self._receipt_body("superseded", rows=0, scored=0, current_etag=superseded.current_etag)
        claimed = self.receipts.claim(self.receipt_key, body)
        return self._skipped_concurrently() if claimed is None else self._publish(claimed)

    def fan_out(self, version: str, queue_url: str) -> Outcome:
        parts = ranges.range_jobs(self.job, version, self.context.config.scoring.byte_range_bytes)
        ranges.send_ranges(self.clients.sqs, queue_url, parts)
        body = {
            "claimed_at": self.now.isoformat(),
            "key": self.job.key,
            "etag": self.job.etag,
            "outcome": "fanned_out",
            "parts": len(parts),
            "model_version": version,
        }
        if self.receipts.record_fan_out(self.receipt_key, body) is None:
            return self._skipped_concurrently()
        return Outcome(self.job.key, "fanned_out", {"parts": len(parts)})

    def claim_scored(self, result: dict[str, Any]) -> Outcome:
        s3, bucket = self.clients.s3, self.context.data_bucket
        receipt = self.receipts.claim(self.receipt_key, self._receipt_body("scored", **result))
        if receipt is None:  # a concurrent duplicate delivery got there first: its outputs count
            winner = self.receipts.read(self.receipt_key)
            outputs.drop_other_predictions(s3, bucket, self.job, winner.body if winner else None)
            return self._skipped_concurrently()
        # An earlier attempt that failed after writing its predictions with another model version (a
        # promotion in between) left them behind; the receipt names the outputs that count.
        outputs.drop_other_predictions(s3, bucket, self.job, result)
        return self._publish(receipt)

    def _publish(self, receipt: Receipt) -> Outcome:
        """Publish a claimed receipt's metrics, then mark it complete: metrics once per job."""
        publishing = self.receipts.start_publishing(receipt)
        if publishing is None:
            return self._skipped_concurrently()
        cfg = self.context.config
        try:
            if (receipt.body.get("challenger") or {}).get("labeled"):  # before the metrics: a retry rewrites it
                outputs.write_evidence(self.clients.s3, self.context.data_bucket, self.job, receipt.body["challenger"])
            metrics.publish(
                self.clients.cloudwatch,
                receipt.body,
                namespace=self.context.environment.namespace,
                pipeline=cfg.name,
                min_labeled_rows=cfg.drift.min_rows,
            )
        except Exception:
            self.receipts.reopen(publishing)
            raise
        outcome = self._complete(publishing)
        self._review(publishing.body.get("challenger"))
        return outcome

    def _review(self, challenger: dict[str, Any] | None) -> None:
        """Apply the champion/challenger rule after a job that brought labeled rows for the challenger. It
        runs after the receipt is complete: a failure here is logged, and the next labeled job reviews again."""
        if not challenger or not challenger.get("labeled"):
            return
        cfg, environment = self.context.config, self.context.environment
        try:
            ruling = review_challenger(
                registry=Registry(self.clients.s3, environment.models_bucket),
                s3=self.clients.s3,
                data_bucket=environment.data_bucket,
                version=challenger["version"],
                promotion=cfg.promotion,
                classification=cfg.task.is_classification,
                alert=alerts.to_topic(self.clients.sns, environment.alert_topic_arn, pipeline=cfg.name),
            )
        except Exception:
            logger.exception("the challenger review failed; the next labeled job reviews again")
            return
        if ruling is not None:
            logger.info("challenger reviewed", extra={"challenger": challenger["version"], **ruling.to_dict()})

    def _complete(self, receipt: Receipt) -> Outcome:
        """Send the job's alert, if any (its metrics are out), and mark the receipt complete with what became of
        it. A retry that finds the receipt publishing sends the alert again: at least once, never before the
        metrics."""
        topic = self.context.environment.alert_topic_arn
        sent = None
        if self.clients.sns is not None and topic:
            sent = alerts.send_alert(self.clients.sns, topic, receipt.body, pipeline=self.context.config.name)
            if sent is not None and not sent["sent"]:
                logger.warning("the alert was not sent; the receipt records why", extra={"alert": sent})
        self.receipts.complete(receipt, **({"alert": sent} if sent else {}))
        detail = {k: receipt.body[k] for k in OUTCOME_DETAIL if k in receipt.body}
        return Outcome(self.job.key, receipt.body["outcome"], detail)

    def _skipped_concurrently(self) -> Outcome:
        return Outcome(self.job.key, "skipped", {"reason": "processed concurrently"})
