"""Everything scoring writes to the data bucket for a job: predictions, feedback, bad rows, reports."""

from __future__ import annotations

import csv
import os
import tempfile
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from mlops_core.data.reader import FileRejected
from mlops_core.storage import layout
from mlops_core.storage.errors import is_precondition_failure
from mlops_core.storage.s3json import put_json

from .messages import Job, Superseded
from .score import CSV_LINE_END, Tally


def outputs_of(job: Job) -> layout.InputOutputs:
    return layout.InputOutputs(job.key, job.etag, job.part, job.parts)


def key_too_long(key: str) -> FileRejected:
    """The rejection of a key whose outputs would not fit S3's key limit: scoring it would fail on every retry
    and end in the DLQ without a word. Its report and copy are filed under a shortened name."""
    size = len(layout.input_name(key).encode())
    return FileRejected(
        "key_too_long",
        f"the file's name under incoming/ is {size:,} bytes: its outputs' keys would pass S3's limit of "
        f"{layout.MAX_KEY_BYTES:,} bytes, so it is not scored. This report is filed under the shortened name "
        f"{layout.output_name(key)!r} (the name's start, '~' and 16 hex digits of the key's SHA-256)",
        fix=f"upload it again under a name (path and file name under incoming/, without the extension) of at most "
        f"{layout.MAX_NAME_BYTES:,} bytes",
        where={"name_bytes": size, "max_name_bytes": layout.MAX_NAME_BYTES},
    )


def upload_scored(
    s3: Any, bucket: str, job: Job, version: str, tally: Tally, *, out_path: str, feedback_path: str
) -> dict[str, str]:
    """Upload a scored job's predictions, its labeled rows (feedback) and, if any, its bad rows + report."""
    keys = outputs_of(job)
    outputs = {"predictions": keys.predictions(version)}
    s3.upload_file(out_path, bucket, outputs["predictions"], ExtraArgs={"ContentType": "text/csv"})
    if tally.labels:
        outputs["feedback"] = keys.feedback
        s3.upload_file(feedback_path, bucket, outputs["feedback"], ExtraArgs={"ContentType": "text/csv"})
    if tally.bad:  # a few bad rows: the rest was scored; keep the bad ones with a report
        outputs["report"] = _upload_bad_rows(s3, bucket, job, version, tally)
    return outputs


def upload_shadow(s3: Any, bucket: str, job: Job, version: str, path: str) -> str:
    """Upload a shadow challenger's predictions of the job; their key (never under predictions/)."""
    key = outputs_of(job).shadow(version)
    s3.upload_file(path, bucket, key, ExtraArgs={"ContentType": "text/csv"})
    return key


def write_evidence(s3: Any, bucket: str, job: Job, challenger: dict[str, Any]) -> str:
    """Keep what the job's labeled rows say about the challenger, one object per job and version: a
    retry writes the same key again, so the rule (lambdas/scoring/review.py) counts each job once."""
    key = outputs_of(job).evidence(challenger["version"])
    body = {k: challenger.get(k) for k in ("version", "mode", "champion", "evidence", "labeled", "drift")}
    put_json(s3, bucket, key, {"key": job.key, "etag": job.etag, "part": job.part, **body})
    return key


def _upload_bad_rows(s3: Any, bucket: str, job: Job, version: str, tally: Tally) -> str:
    keys = outputs_of(job)
    with tempfile.NamedTemporaryFile("w", newline="", suffix=".csv", delete=False) as f:
        csv.writer(f, lineterminator=CSV_LINE_END).writerows(tally.bad_rows)
    s3.upload_file(f.name, bucket, keys.bad_rows)
    os.unlink(f.name)
    report = {
        "key": job.key,
        "verdict": "partially_scored",
        "model_version": version,
        "rows": tally.rows,
        "scored": tally.scored,
        "bad_rows": tally.bad,
        "error_counts": dict(tally.error_kinds),
        "errors": tally.errors,
        "fix": "correct the rows in bad_rows.csv (listed under 'errors') and upload them as a new file",
        **spreadsheet_warning(tally.bad_rows),
    }
    put_json(s3, bucket, keys.rejection_report, report)
    return keys.rejection_report


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's list of what a spreadsheet may run as a formula
LISTED_FORMULA_CELLS = 20


def spreadsheet_warning(rows: list[list[str]]) -> dict[str, Any]:
    """{"spreadsheet_warning": ...} when bad_rows.csv holds cells a spreadsheet may run as formulas, else {}.

    bad_rows.csv is meant to be corrected by people, often in a spreadsheet. Its cells stay verbatim (they
    are the rows to fix and upload again, and rewriting them would corrupt real values such as "+4917...");
    the report says where they are instead. A cell that is just a number ("-5") is no formula."""
    cells = [
        {"line": line, "column": column}
        for line, row in enumerate(rows, start=1)
        for column, cell in enumerate(row, start=1)
        if cell.startswith(FORMULA_STARTS) and not _is_number(cell)
    ]
    if not cells:
        return {}
    warning = (
        f"{len(cells):,} cell(s) of bad_rows.csv begin with =, +, -, @, a tab or a carriage return: a spreadsheet "
        "may run them as formulas (and send data elsewhere). Import the file with every column as text, or edit "
        "it in a text editor; 'first' lists where they are (line and column of bad_rows.csv)."
    )
    return {"spreadsheet_warning": {"cells": len(cells), "warning": warning, "first": cells[:LISTED_FORMULA_CELLS]}}


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def write_drift_report(s3: Any, bucket: str, job: Job, result: dict[str, Any]) -> str:
    """The job's drift report: which object (and part), its counts, drift and accuracy; its key."""
    key = outputs_of(job).drift_report
    where = {"key": job.key, "etag": job.etag, "part": job.part, "parts": job.parts}
    put_json(s3, bucket, key, {**where, **result, "at": datetime.now(UTC).isoformat()})
    return key


def write_rejection(
    s3: Any, bucket: str, job: Job, rejected: FileRejected, *, now: datetime, version: str | None
) -> str:
    """Keep a copy of a rejected file (whole files only) and a report of why; the report's key."""
    keys = outputs_of(job)
    copy = keys.rejected_copy
    if job.whole:  # a range's file stays in incoming/; copying it once per part would waste space
        _copy_input(s3, bucket, job, copy)
    report = {
        "key": job.key,
        "etag": job.etag,
        "verdict": "rejected",
        "kind": rejected.kind,
        "error": str(rejected),
        "where": rejected.where,
        "fix": rejected.fix,
        "model_version": version,
        "copy": copy if job.whole else job.key,
        "at": now.isoformat(),
    }
    put_json(s3, bucket, keys.rejection_report, report)
    return keys.rejection_report


def _copy_input(s3: Any, bucket: str, job: Job, key: str) -> None:
    """Copy the job's content (its version, or on condition of its ETag) to `key`; Superseded if it is gone."""
    condition = job.read_condition
    source = {
        "Bucket": bucket,
        "Key": job.key,
        **({"VersionId": condition["VersionId"]} if "VersionId" in condition else {}),
    }
    extra = {"CopySourceIfMatch": condition["IfMatch"]} if "IfMatch" in condition else None
    try:
        s3.copy(source, bucket, key, ExtraArgs=extra)
    except ClientError as exc:
        if is_precondition_failure(exc):
            raise Superseded(None) from exc
        raise


def drop_other_predictions(s3: Any, bucket: str, job: Job, receipt: dict[str, Any] | None) -> None:
    """Delete predictions (and shadow predictions) of this input and byte range other than the ones the
    receipt names: leftovers of failed attempts with another model version."""
    if receipt is None:
        return
    keys = outputs_of(job)
    keep = {receipt.get("outputs", {}).get("predictions"), (receipt.get("challenger") or {}).get("shadow")}
    for prefix, ours in ((keys.predictions_prefix, keys.is_predictions), (keys.shadow_prefix, keys.is_shadow)):
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, Delimiter="/").get("Contents", [])
        for key in [o["Key"] for o in listed if o["Key"] not in keep and ours(o["Key"])]:
            s3.delete_object(Bucket=bucket, Key=key)
