"""Scoring one CSV object: validate, predict, write, measure drift, publish metrics - exactly once.

Every file ends in one of two places: scored under predictions/ (bad rows, if few, listed in a
report next to a copy of them), or rejected under rejected/ (a copy of the file and a report of what
is wrong, where, and how to fix it). Problems that may go away (S3 or CloudWatch errors, no champion
yet, an artifact failing its checksum) raise instead, so that SQS retries the message and finally
keeps it in the dead-letter queue.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import math
import os
import tempfile
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import numpy as np
from botocore.exceptions import ClientError

from mlops_core import layout
from mlops_core.config import ProjectConfig
from mlops_core.csvdata import convert_rows
from mlops_core.drift import DriftAccumulator
from mlops_core.features import features_from_schema, model_input
from mlops_core.registry import Registry
from mlops_core.s3errors import is_missing, is_precondition_failure

from mlops_core.csvreader import CsvRows, FileRejected

MAX_LISTED_ERRORS = 100
MODEL_CACHE_SIZE = 2
CLAIM_TAKEOVER_S = 900  # a pending receipt older than this was left by a crashed invocation
OUTPUT_COLUMNS = ["prediction", "score", "model_version"]
# RFC 4180 line ends. With "\n" the csv module would leave a bare CR inside a value unquoted, and a
# reader would split that row in two: a pass-through id could forge rows in predictions and feedback.
CSV_LINE_END = "\r\n"


class NoChampionYet(RuntimeError):
    """No model is promoted yet: the message is retried (and kept in the DLQ) until one is."""


@dataclass(frozen=True)
class Settings:
    data_bucket: str
    models_bucket: str
    queue_url: str | None
    namespace: str
    config: ProjectConfig

    @classmethod
    def from_environment(cls, config: ProjectConfig) -> Settings:
        env = os.environ
        return cls(env["DATA_BUCKET"], env["MODELS_BUCKET"], env.get("SCORING_QUEUE_URL"),
                   env.get("METRICS_NAMESPACE", "MLOps"), config)  # fmt: skip


@dataclass
class Clients:
    s3: Any
    cloudwatch: Any
    sqs: Any | None = None


@dataclass(frozen=True)
class Job:
    """One unit of work: a whole object, or one byte range of a large one."""

    key: str
    etag: str
    size: int
    version: str | None = None  # pinned for byte ranges, so every part uses the same model
    start: int = 0
    end: int | None = None  # inclusive; None = to the end
    part: int = 0
    parts: int = 1

    @property
    def name(self) -> str:
        """The key under incoming/, without the extension."""
        return layout.input_name(self.key)

    @property
    def suffix(self) -> str:
        return layout.part_suffix(self.part, self.parts)

    @property
    def gzipped(self) -> bool:
        return self.key.endswith(".gz")


@dataclass
class Outcome:
    key: str
    status: str  # scored | rejected | skipped | fanned_out
    detail: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- events
def jobs_from_message(body: dict[str, Any], data_bucket: str) -> list[Job]:
    """The jobs in one SQS message body: an S3 event notification, or a byte-range fan-out message."""
    if "range" in body:
        r = body["range"]
        return [Job(r["key"], r["etag"], r["size"], r["version"], r["start"], r["end"], r["part"], r["parts"])]
    if body.get("Event") == "s3:TestEvent":
        return []
    jobs = []
    for record in body.get("Records", []):
        if not record.get("eventName", "").startswith("ObjectCreated"):
            continue
        s3 = record["s3"]
        key = unquote_plus(s3["object"]["key"])
        if s3["bucket"]["name"] != data_bucket or not key.startswith(layout.INCOMING):
            continue
        jobs.append(Job(key, s3["object"].get("eTag", "").strip('"'), int(s3["object"].get("size", 0))))
    return jobs


# ---------------------------------------------------------------------------- models
_models: OrderedDict[str, tuple[Any, dict[str, Any]]] = OrderedDict()


def load_champion(registry: Registry, version: str | None) -> tuple[str, Any, dict[str, Any]]:
    """(version, model, manifest) of `version` or the current champion; cached by version across invocations."""
    if version is None:
        champion = registry.champion()  # one small GET per invocation: promotions take effect at once
        if champion is None:
            raise NoChampionYet("no champion model yet: train one (`mlops train`); the file will be retried")
        version = champion.version
    if version not in _models:
        _models[version] = registry.load_model(version)  # verifies the SHA-256 before unpickling
        while len(_models) > MODEL_CACHE_SIZE:
            _models.popitem(last=False)
    _models.move_to_end(version)
    model, manifest = _models[version]
    return version, model, manifest


# ---------------------------------------------------------------------------- receipts (idempotency)
def receipt_key(job: Job) -> str:
    return layout.receipt_key(job.key, job.etag, job.suffix)


def read_receipt(s3: Any, bucket: str, job: Job) -> tuple[dict[str, Any], str] | tuple[None, None]:
    """The job's receipt and its ETag (for conditional updates), or (None, None)."""
    try:
        obj = s3.get_object(Bucket=bucket, Key=receipt_key(job))
    except ClientError as exc:
        if is_missing(exc):
            return None, None
        raise
    return json.loads(obj["Body"].read()), obj["ETag"]


def put_json(s3: Any, bucket: str, key: str, body: dict[str, Any], **condition: str) -> str:
    """Write a JSON object (optionally conditional: IfNoneMatch / IfMatch); its ETag."""
    response = s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body, indent=2, default=str).encode(),
                             ContentType="application/json", **condition)  # fmt: skip
    return response["ETag"]


# ---------------------------------------------------------------------------- scoring
@dataclass
class Tally:
    rows: int = 0
    scored: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_kinds: Counter = field(default_factory=Counter)
    bad_rows: list[list[str]] = field(default_factory=list)
    labeled_scores: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    classes: list = field(default_factory=list)
    positive: int = 1


def _required_columns(header: list[str], features: tuple, label: str) -> None:
    if not header or header == [""]:
        raise FileRejected("empty", "the file is empty", fix="upload a CSV with a header row and data rows")
    duplicates = sorted(n for n, c in Counter(header).items() if c > 1)
    if duplicates:
        raise FileRejected("duplicate_columns", f"column(s) {', '.join(duplicates)} appear more than once",
                           fix="give every column a unique name", where={"line": 1})  # fmt: skip
    missing = [f.name for f in features if f.name not in header]
    if missing:
        raise FileRejected(
            "missing_columns",
            f"missing required column(s): {', '.join(missing)}; found: {', '.join(h[:40] for h in header[:30])}",
            fix=f"the header must name every feature: {', '.join(f.name for f in features)} ({label} optional)",
            where={"line": 1, "columns": missing},
        )


def _header_of(clients: Clients, settings: Settings, job: Job) -> list[str]:
    """The header row of a ranged job's object (its first bytes)."""
    head = clients.s3.get_object(Bucket=settings.data_bucket, Key=job.key, Range="bytes=0-1048575")["Body"]
    return (
        CsvRows(
            head, key=job.key, gzipped=False, max_bytes=1 << 20, max_field_chars=settings.config.scoring.max_field_chars
        ).next_row()
        or []
    )


def _range_body(clients: Clients, settings: Settings, job: Job):
    """The rows of a byte range: from the first line start at or after `start`, to the end of the line
    holding `end`. (A quoted field with a line break across a boundary would be split: ranges are
    only used for files over scoring.byte_range_bytes, where such fields are rare; see README.)"""
    start = max(job.start - 1, 0)  # one byte early: tells whether `start` is itself a line start
    end = "" if job.end is None else job.end + 1_048_576  # read on past `end` to finish its line
    body = clients.s3.get_object(Bucket=settings.data_bucket, Key=job.key, Range=f"bytes={start}-{end}")["Body"]
    return _LineRange(body, skip_partial=job.start > 0, length=None if job.end is None else job.end - start + 1)


class _LineRange:
    """A file-like view of a byte range that starts and ends on line boundaries."""

    def __init__(self, body, *, skip_partial: bool, length: int | None) -> None:
        self.body = body
        self.length = length  # bytes of the range proper: every line that starts inside it is ours
        self.consumed = 0
        self.done = False
        self.carry = b""  # read from the body, not yet checked against the range's end
        self.pending = b""  # checked, ready to hand out
        if skip_partial:
            self._skip_first_line()

    def _next_bytes(self) -> bytes:
        data, self.carry = (self.carry, b"") if self.carry else (self.body.read(65536), b"")
        return data

    def _skip_first_line(self) -> None:
        # The range starts one byte early: if that byte is a newline, `start` begins a line.
        while True:
            data = self._next_bytes()
            if not data:
                self.done = True
                return
            newline = data.find(b"\n")
            if newline != -1:
                self.consumed += newline + 1
                self.carry = data[newline + 1 :]
                return
            self.consumed += len(data)

    def _fill(self) -> None:
        data = self._next_bytes()
        if not data:
            self.done = True
            return
        if self.length is not None and self.consumed + len(data) >= self.length:
            # The line holding the range's last byte is ours; what follows it is the next range's.
            inside = max(self.length - self.consumed, 0)
            newline = data.find(b"\n", max(inside - 1, 0))
            if newline != -1:
                data = data[: newline + 1]
                self.done = True
        self.consumed += len(data)
        self.pending = data

    def read(self, size: int = -1) -> bytes:
        if not self.pending and not self.done:
            self._fill()
        size = len(self.pending) if size is None or size < 0 else size
        out, self.pending = self.pending[:size], self.pending[size:]
        return out

    def readable(self) -> bool:
        return True


def score_job(job: Job, *, clients: Clients, settings: Settings, now: datetime | None = None,  # noqa: PLR0911
              deadline: float | None = None) -> Outcome:  # fmt: skip
    """Score (or reject) one job exactly once; raise on transient problems so SQS retries.

    `deadline` (time.monotonic()) is when the invocation should stop reading a failing file.
    """
    s3, cfg = clients.s3, settings.config
    now = now or datetime.now(UTC)
    try:
        head = s3.head_object(Bucket=settings.data_bucket, Key=job.key)
    except ClientError as exc:
        if is_missing(exc):
            return Outcome(job.key, "skipped", {"reason": "the object no longer exists"})
        raise
    job = Job(job.key, head["ETag"].strip('"'), head["ContentLength"], job.version, job.start, job.end,
              job.part, job.parts)  # fmt: skip

    receipt, receipt_etag = read_receipt(s3, settings.data_bucket, job)
    if receipt is not None:
        if receipt["state"] == "publishing":  # its metrics were sent; only the completion was lost
            return _complete(job, receipt, clients=clients, settings=settings)
        age = (now - datetime.fromisoformat(receipt["claimed_at"])).total_seconds()
        if receipt["state"] == "complete" or age < CLAIM_TAKEOVER_S:
            return Outcome(job.key, "skipped", {"reason": "already processed", "receipt": receipt_key(job)})
        return _publish(job, receipt, receipt_etag, clients=clients, settings=settings)  # a failed run's metrics

    if job.parts == 1 and job.size > cfg.scoring.max_file_bytes:
        return _reject(job, FileRejected("too_large", f"the file is {job.size:,} bytes; the limit is "
                                         f"{cfg.scoring.max_file_bytes:,}", fix="split it into smaller files"),
                       clients=clients, settings=settings, now=now)  # fmt: skip

    registry = Registry(s3, settings.models_bucket)
    version, model, manifest = load_champion(registry, job.version)

    if job.parts == 1 and not job.gzipped and job.size > cfg.scoring.byte_range_bytes and clients.sqs:
        return _fan_out(job, version, clients=clients, settings=settings, now=now)

    started = time.monotonic()
    try:
        result = _score_stream(job, version, model, manifest, clients=clients, settings=settings, deadline=deadline)
    except FileRejected as rejected:
        return _reject(job, rejected, clients=clients, settings=settings, now=now, version=version)
    result["seconds"] = round(time.monotonic() - started, 3)
    receipt = {"state": "pending", "claimed_at": now.isoformat(), "key": job.key, "etag": job.etag,
               "part": job.part, "parts": job.parts, "outcome": "scored", **result}  # fmt: skip
    try:
        etag = put_json(s3, settings.data_bucket, receipt_key(job), receipt, IfNoneMatch="*")
    except ClientError as exc:
        if is_precondition_failure(exc):  # a concurrent duplicate delivery got there first
            winner, _ = read_receipt(s3, settings.data_bucket, job)
            _drop_other_predictions(job, (winner or {}).get("outputs", {}).get("predictions"), clients=clients,
                                    settings=settings)  # fmt: skip
            return Outcome(job.key, "skipped", {"reason": "processed concurrently"})
        raise
    # An earlier attempt that failed after writing its predictions with another model version (a
    # promotion in between) left them behind; the receipt names the one output that counts.
    _drop_other_predictions(job, result["outputs"]["predictions"], clients=clients, settings=settings)
    return _publish(job, receipt, etag, clients=clients, settings=settings)


def _drop_other_predictions(job: Job, keep: str | None, *, clients: Clients, settings: Settings) -> None:
    """Delete predictions of this input (and byte range) other than `keep`: leftovers of failed attempts."""
    if keep is None:
        return
    prefix = f"{layout.PREDICTIONS}{job.name}/{job.etag}-"
    listed = clients.s3.list_objects_v2(Bucket=settings.data_bucket, Prefix=prefix).get("Contents", [])
    stale = [o["Key"] for o in listed if o["Key"] != keep and o["Key"].endswith(f"{job.suffix}.csv")
             and (job.parts > 1 or ".part-" not in o["Key"])]  # fmt: skip
    for key in stale:
        clients.s3.delete_object(Bucket=settings.data_bucket, Key=key)


def _score_stream(job: Job, version: str, model: Any, manifest: dict[str, Any], *, clients: Clients,
                  settings: Settings, deadline: float | None) -> dict[str, Any]:  # fmt: skip
    s3, cfg = clients.s3, settings.config
    schema = manifest["schema"]
    features = features_from_schema(schema)
    label = schema["label"]

    if job.parts == 1:
        body = s3.get_object(Bucket=settings.data_bucket, Key=job.key)["Body"]
        limit = cfg.scoring.max_file_bytes
        rows = CsvRows(body, key=job.key, gzipped=job.gzipped, max_bytes=limit,
                       max_field_chars=cfg.scoring.max_field_chars)  # fmt: skip
        header = rows.next_row() or []
    else:
        header = _header_of(clients, settings, job)
        rows = CsvRows(
            _range_body(clients, settings, job),
            key=job.key,
            gzipped=False,
            max_bytes=cfg.scoring.max_file_bytes,
            max_field_chars=cfg.scoring.max_field_chars,
        )
        if job.part == 0:
            rows.next_row()  # the header line
    _required_columns(header, features, label)

    drift = DriftAccumulator(manifest["profile"])
    with tempfile.TemporaryDirectory() as tmp:
        out_path = os.path.join(tmp, "predictions.csv")
        feedback_path = os.path.join(tmp, "feedback.csv")
        tally = _write_predictions(rows, header, model=model, version=version, schema=schema, drift=drift,
                                   out_path=out_path, feedback_path=feedback_path, settings=settings,
                                   deadline=deadline)  # fmt: skip
        bad = tally.rows - tally.scored
        if tally.rows == 0:
            raise FileRejected("header_only", "the file has a header but no data rows",
                               fix="add data rows below the header")  # fmt: skip
        if bad / tally.rows > cfg.scoring.max_bad_row_share:
            raise _too_many_bad_rows(tally, cfg.scoring.max_bad_row_share)
        outputs = _upload_outputs(job, version, tally, out_path, feedback_path, clients=clients, settings=settings)

    summary = drift.summary(cfg.drift)
    accuracy = _accuracy(tally, tally.classes, tally.positive)
    report = {"key": job.key, "etag": job.etag, "part": job.part, "parts": job.parts, "model_version": version,
              "rows": tally.rows, "scored": tally.scored, "bad_rows": bad, "drift": summary.to_dict(),
              "accuracy": accuracy, "at": datetime.now(UTC).isoformat()}  # fmt: skip
    report_key = f"{layout.REPORTS}drift/{job.name}/{job.etag}{job.suffix}.json"
    put_json(s3, settings.data_bucket, report_key, report)
    return {"model_version": version, "rows": tally.rows, "scored": tally.scored, "bad_rows": bad,
            "outputs": {**outputs, "drift_report": report_key}, "drift": summary.to_dict(),
            "accuracy": accuracy}  # fmt: skip


def _write_predictions(
    rows: CsvRows,
    header: list[str],
    *,
    model: Any,
    version: str,
    schema: dict[str, Any],
    drift: DriftAccumulator,
    out_path: str,
    feedback_path: str,
    settings: Settings,
    deadline: float | None = None,
) -> Tally:
    """Validate, predict and write chunk by chunk; labeled good rows also go to the feedback file."""
    cfg = settings.config
    features, label = features_from_schema(schema), schema["label"]
    classes = list(model.classes_)
    positive = classes.index(schema.get("positive_class", 1))
    feature_names = {f.name for f in features}
    passthrough = [i for i, h in enumerate(header) if h not in feature_names]
    has_label = label in header
    tally = Tally()
    with open(out_path, "w", newline="") as out, open(feedback_path, "w", newline="") as feedback:
        writer = csv.writer(out, lineterminator=CSV_LINE_END)
        writer.writerow([header[i] for i in passthrough] + OUTPUT_COLUMNS)
        feedback_writer = csv.writer(feedback, lineterminator=CSV_LINE_END)
        feedback_writer.writerow(header)
        first = 1
        for batch in rows.chunks(cfg.scoring.chunk_rows):
            # Field lengths were enforced by the CSV parser (field_size_limit): no second check.
            chunk = convert_rows(header, batch, first_row=first, features=features,
                                 label=label if has_label else None, max_field_chars=None)  # fmt: skip
            _note_errors(tally, chunk.errors, batch, first)
            first += len(batch)
            tally.rows += len(batch)
            tally.scored += len(chunk)
            if chunk.errors:
                _stop_early(tally, rows, len(header), cfg.scoring.max_bad_row_share, deadline)
            if not len(chunk):
                continue
            scores = model.predict_proba(model_input(chunk.columns, features))[:, positive]
            predictions = np.where(scores >= 0.5, classes[positive], classes[1 - positive]).tolist()
            score_text = np.char.mod("%.6f", scores).tolist()
            writer.writerows(zip(*(chunk.text_columns[i] for i in passthrough), predictions, score_text,
                                 itertools.repeat(version, len(chunk)), strict=True))  # fmt: skip
            drift.update(chunk.columns, scores)
            if chunk.label is not None and (known := chunk.label >= 0).any():
                tally.labeled_scores.append(scores[known])
                tally.labels.append(chunk.label[known])
                feedback_writer.writerows(r for r, k in zip(chunk.rows, known.tolist(), strict=True) if k)
    tally.positive = positive
    tally.classes = classes
    return tally


def _too_many_bad_rows(tally: Tally, share: float, stopped: str = "") -> FileRejected:
    bad = tally.rows - tally.scored
    return FileRejected(
        "too_many_bad_rows",
        f"{bad:,} of {tally.rows:,} rows ({bad / tally.rows:.1%}) have errors; the limit is {share:.0%}{stopped}",
        fix="fix the rows listed under 'errors' (the most common problems are counted in 'error_counts')",
        where={"errors": tally.errors, "error_counts": dict(tally.error_kinds)},
    )


def _stop_early(tally: Tally, rows: CsvRows, width: int, share: float, deadline: float | None) -> None:
    """Reject a file of bad rows before reading all of it: a .csv.gz of bad rows up to the size limit
    would otherwise outlast the function's timeout and end in the DLQ with no report.

    Stops when the file can no longer pass even if every row still to come were good (a row takes at
    least `width` bytes), or when the invocation's deadline has come and the share read so far fails.
    """
    bad = tally.rows - tally.scored
    most_rows = tally.rows + rows.most_bytes_left // max(width, 1)
    if bad > share * most_rows:
        raise _too_many_bad_rows(tally, share, f" (stopped after row {tally.rows:,}: the file cannot pass)")
    if deadline is not None and time.monotonic() > deadline and bad > share * tally.rows:
        raise _too_many_bad_rows(tally, share, f" (stopped after row {tally.rows:,}: out of time)")


def _note_errors(tally: Tally, errors: list, batch: list[list[str]], first: int) -> None:
    rows_with_errors = sorted({e.row for e in errors})
    tally.bad_rows += [batch[r - first] for r in rows_with_errors if len(tally.bad_rows) < 100_000]
    for e in errors:
        tally.error_kinds[e.kind] += 1
        if len(tally.errors) < MAX_LISTED_ERRORS:
            tally.errors.append(e.to_dict())


def _accuracy(tally: Tally, classes: list, positive: int) -> dict[str, Any] | None:
    if not tally.labels:
        return None
    scores, labels = np.concatenate(tally.labeled_scores), np.concatenate(tally.labels)
    positive_label = classes[positive]
    predicted = np.where(scores >= 0.5, positive_label, classes[1 - positive])
    result: dict[str, Any] = {"rows": len(labels), "accuracy": round(float(np.mean(predicted == labels)), 6)}
    truth = labels == positive_label
    if truth.any() and (~truth).any():
        from sklearn.metrics import roc_auc_score  # noqa: PLC0415 - only for labeled batches

        result["roc_auc"] = round(float(roc_auc_score(truth, scores)), 6)
    return result


def _upload_outputs(job: Job, version: str, tally: Tally, out_path: str, feedback_path: str, *, clients: Clients,
                    settings: Settings) -> dict[str, str]:  # fmt: skip
    s3, bucket = clients.s3, settings.data_bucket
    outputs = {"predictions": f"{layout.PREDICTIONS}{job.name}/{job.etag}-{version}{job.suffix}.csv"}
    s3.upload_file(out_path, bucket, outputs["predictions"], ExtraArgs={"ContentType": "text/csv"})
    if tally.labels:
        outputs["feedback"] = f"{layout.FEEDBACK}{job.name}/{job.etag}{job.suffix}.csv"
        s3.upload_file(feedback_path, bucket, outputs["feedback"], ExtraArgs={"ContentType": "text/csv"})
    if tally.rows > tally.scored:  # a few bad rows: scored the rest, keep the bad ones with a report
        base = f"{layout.REJECTED}{job.name}/{job.etag}{job.suffix}/"
        with tempfile.NamedTemporaryFile("w", newline="", suffix=".csv", delete=False) as f:
            csv.writer(f, lineterminator=CSV_LINE_END).writerows(tally.bad_rows)
        s3.upload_file(f.name, bucket, f"{base}bad_rows.csv")
        os.unlink(f.name)
        put_json(s3, bucket, f"{base}report.json", {
            "key": job.key, "verdict": "partially_scored", "model_version": version,
            "rows": tally.rows, "scored": tally.scored, "bad_rows": tally.rows - tally.scored,
            "error_counts": dict(tally.error_kinds), "errors": tally.errors,
            "fix": "correct the rows in bad_rows.csv (listed under 'errors') and upload them as a new file",
        })  # fmt: skip
        outputs["report"] = f"{base}report.json"
    return outputs


def _reject(job: Job, rejected: FileRejected, *, clients: Clients, settings: Settings, now: datetime,
            version: str | None = None) -> Outcome:  # fmt: skip
    s3, bucket = clients.s3, settings.data_bucket
    base = f"{layout.REJECTED}{job.name}/{job.etag}{job.suffix}/"
    filename = job.key.rsplit("/", 1)[-1]
    if job.parts == 1:  # a range's file stays in incoming/; copying it once per part would waste space
        s3.copy({"Bucket": bucket, "Key": job.key}, bucket, f"{base}{filename}")
    report = {"key": job.key, "etag": job.etag, "verdict": "rejected", "kind": rejected.kind,
              "error": str(rejected), "where": rejected.where, "fix": rejected.fix, "model_version": version,
              "copy": f"{base}{filename}" if job.parts == 1 else job.key, "at": now.isoformat()}  # fmt: skip
    put_json(s3, bucket, f"{base}report.json", report)
    receipt = {"state": "pending", "claimed_at": now.isoformat(), "key": job.key, "etag": job.etag,
               "part": job.part, "parts": job.parts, "outcome": "rejected", "rows": 0, "scored": 0,
               "kind": rejected.kind, "outputs": {"report": f"{base}report.json"}}  # fmt: skip
    try:
        etag = put_json(s3, bucket, receipt_key(job), receipt, IfNoneMatch="*")
    except ClientError as exc:
        if is_precondition_failure(exc):
            return Outcome(job.key, "skipped", {"reason": "processed concurrently"})
        raise
    return _publish(job, receipt, etag, clients=clients, settings=settings)


def _fan_out(job: Job, version: str, *, clients: Clients, settings: Settings, now: datetime) -> Outcome:
    size = settings.config.scoring.byte_range_bytes
    parts = math.ceil(job.size / size)
    entries = []
    for part in range(parts):
        start, end = part * size, min((part + 1) * size, job.size) - 1
        body = {
            "range": {
                "key": job.key,
                "etag": job.etag,
                "size": job.size,
                "version": version,
                "start": start,
                "end": end if part < parts - 1 else None,
                "part": part,
                "parts": parts,
            }
        }
        entries.append({"Id": str(part), "MessageBody": json.dumps(body)})  # fmt: skip
    for i in range(0, len(entries), 10):
        response = clients.sqs.send_message_batch(QueueUrl=settings.queue_url, Entries=entries[i : i + 10])
        if response.get("Failed"):
            raise RuntimeError(f"could not queue byte ranges: {response['Failed']}")
    receipt = {"state": "complete", "claimed_at": now.isoformat(), "key": job.key, "etag": job.etag,
               "outcome": "fanned_out", "parts": parts, "model_version": version}  # fmt: skip
    put_json(clients.s3, settings.data_bucket, receipt_key(job), receipt)
    return Outcome(job.key, "fanned_out", {"parts": parts})


def _publish(job: Job, receipt: dict[str, Any], etag: str, *, clients: Clients, settings: Settings) -> Outcome:
    """Publish the metrics of a claimed receipt, then mark it complete: metrics once per file.

    The receipt goes pending -> publishing (a conditional write: one invocation wins) -> complete. If
    PutMetricData fails, the receipt goes back to pending so a retry publishes; a receipt found in
    `publishing` had its metrics sent and only its completion lost, so a retry just completes it.
    """
    s3, bucket, key = clients.s3, settings.data_bucket, receipt_key(job)
    try:
        publishing = put_json(s3, bucket, key, {**receipt, "state": "publishing"}, IfMatch=etag)
    except ClientError as exc:
        if is_precondition_failure(exc):
            return Outcome(job.key, "skipped", {"reason": "processed concurrently"})
        raise
    try:
        _put_metrics(receipt, clients=clients, settings=settings)
    except Exception:
        with contextlib.suppress(ClientError):  # if this fails too, the metrics are lost: never sent twice
            put_json(s3, bucket, key, {**receipt, "state": "pending"}, IfMatch=publishing)
        raise
    return _complete(job, receipt, clients=clients, settings=settings)


def _complete(job: Job, receipt: dict[str, Any], *, clients: Clients, settings: Settings) -> Outcome:
    put_json(clients.s3, settings.data_bucket, receipt_key(job), {**receipt, "state": "complete"})
    detail_keys = ("model_version", "rows", "scored", "bad_rows", "outputs", "kind")
    return Outcome(job.key, receipt["outcome"], {k: receipt[k] for k in detail_keys if k in receipt})


def _put_metrics(receipt: dict[str, Any], *, clients: Clients, settings: Settings) -> None:
    dims = [{"Name": "Pipeline", "Value": settings.config.name}]
    scored = receipt["outcome"] == "scored"
    data = [
        {"MetricName": "FilesScored" if scored else "FilesRejected", "Value": 1, "Unit": "Count"},
        {"MetricName": "RowsScored", "Value": receipt.get("scored", 0), "Unit": "Count"},
        {"MetricName": "RowsRejected", "Value": receipt.get("bad_rows", 0), "Unit": "Count"},
    ]
    drift = receipt.get("drift") or {}
    if scored and drift.get("verdict") is not None:
        data += [
            {"MetricName": "WorstFeaturePSI", "Value": drift["worst_psi"]},
            {"MetricName": "DriftedFeatureShare", "Value": drift["drifted_share"]},
            {"MetricName": "PredictionPSI", "Value": drift["prediction_psi"]},
        ]
        data += [{"MetricName": "FeaturePSI", "Value": v, "Extra": [{"Name": "Feature", "Value": name}]}
                 for name, v in drift["feature_psi"].items()]  # fmt: skip
    accuracy = receipt.get("accuracy")
    if scored and accuracy and accuracy["rows"] >= settings.config.drift.min_rows:
        data.append({"MetricName": "ModelAccuracy", "Value": accuracy["accuracy"]})
    metric_data = [
        {"MetricName": d["MetricName"], "Value": float(d["Value"]), "Unit": d.get("Unit", "None"),
         "Dimensions": dims + d.get("Extra", []), "StorageResolution": 1}
        for d in data
    ]  # fmt: skip
    for i in range(0, len(metric_data), 500):
        clients.cloudwatch.put_metric_data(Namespace=settings.namespace, MetricData=metric_data[i : i + 500])
