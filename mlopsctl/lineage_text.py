"""How `mlops lineage` shows a chain (mlopsctl/lineage.py builds it): pure functions from the chain to lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .leaderboard import search_lines
from .lineage import NOT_RECORDED
from .present import metrics_text


def lineage_lines(chain: Mapping[str, Any]) -> list[str]:
    """The chain of a version, top to bottom: data, run, model, decisions, batches, what replaced it."""
    version = chain["version"]
    return [
        f"lineage of {version}",
        "data:",
        *data_lines(chain["data"]),
        "run:",
        *run_lines(chain["run"]),
        "model:",
        *model_lines(chain["model"], chain["run"].get("run_id"), version),
        "decisions:",
        *(decision_lines(chain["decisions"]) or ["  none recorded"]),
        batches_line(chain["batches"]),
        replaced_line(chain["replaced_by"]),
    ]


def data_lines(data: Mapping[str, Any]) -> list[str]:
    """A line per input file; a registered version's file, who registered it, and its reference file first."""
    lines = []
    if registered := data.get("registered"):
        reference = registered.get("reference") or {}
        lines.append(f"  registered model {registered['file']} (by {registered['by']}), not trained here")
        lines.append(f"  reference file {reference.get('file')}: {reference.get('rows', 0):,} rows")
    return lines + [f"  {_file_text(entry)}" for entry in data["files"]]


def _file_text(entry: Mapping[str, Any]) -> str:
    digest = entry["sha256"] if entry["sha256"] == NOT_RECORDED else entry["sha256"][:12]
    head = f"{entry['source']}: {entry['key']} (version {entry['version_id']}, SHA-256 {digest})"
    if entry["rejected"]:
        return f"{head}: rejected ({entry['rejected']})"
    used = "held out (the reference holdout)" if entry["source"] == "holdout" else "used"
    text = f"{head}: {entry['rows']:,} rows {used}, {entry['skipped_rows']:,} skipped"
    return text + (f", {entry['capped_rows']:,} capped (feedback bound)" if entry["capped_rows"] else "")


def run_lines(run: Mapping[str, Any]) -> list[str]:
    """The run's id and trigger, backend and times; for an alarm, the drifted batch before it."""
    if run.get("run_id") is None:
        return [f"  {run['trigger']} at {run.get('at')}"]
    lines = [f"  {run['run_id']}: {run['trigger']}"]
    if "backend" in run:
        lines.append(
            f"  {run.get('status')} on {run.get('backend')}, started {run.get('started_at')}, "
            f"finished {run.get('finished_at')} ({_seconds(run.get('seconds'))})"
        )
    if "drift_batch" in run:
        batch = run["drift_batch"]
        shown = batch if isinstance(batch, str) else f"{batch['key']} (ETag {batch['etag']}) at {batch['at']}"
        lines.append(f"  drifted batch before the alarm: {shown}")
    return lines


def _seconds(seconds: Any) -> str:
    return "time not recorded" if seconds is None else f"{seconds:,.1f} s"


def model_lines(model: Mapping[str, Any], run_id: str | None, version: str) -> list[str]:
    """Estimator and metrics, the digests of config and code, and the search's leaderboard if any."""
    lines = [
        f"  {model.get('estimator') or 'estimator not recorded'}: {metrics_text(model['metrics'])}",
        f"  config SHA-256 {model['config_sha256']}, code SHA-256 {model['code_sha256']}",
    ]
    search = model.get("search")
    return lines + [
        f"  {line}" for line in search_lines({**search, "run_id": run_id, "version": version} if search else None)
    ]


def decision_lines(decisions: Sequence[Mapping[str, Any]]) -> list[str]:
    """A line per decision, oldest first: `  2026-12-06T22:00:00 promote (by ARN): reason; reason`."""
    return [
        f"  {str(d.get('at'))[:19]} {d['kind']}"
        + (f" (by {d['by']})" if d.get("by") else "")
        + f": {'; '.join(d['reasons'])}"
        for d in decisions
    ]


def batches_line(batches: Mapping[str, Any]) -> str:
    """How many batches it scored among the receipts read, their verdicts, and whether the bound cut it short."""
    verdicts = ", ".join(f"{kind} {count}" for kind, count in sorted(batches["verdicts"].items()))
    bound = f"; only the {batches['read']:,} newest receipts read (--max-batches)" if batches["bound_hit"] else ""
    return f"batches scored: {batches['count']:,}" + (f" ({verdicts})" if verdicts else "") + bound


def replaced_line(replaced: Mapping[str, Any]) -> str:
    """What replaced the version as champion, or that it is (or never was) champion."""
    if replaced["state"] == "replaced":
        return f"replaced by: {replaced['by']} ({replaced['kind']} at {str(replaced['at'])[:19]})"
    if replaced["state"] == "unknown":
        return f"replaced by: unknown (no recorded decision; the champion is {replaced.get('champion')})"
    return f"replaced by: none, {replaced['state']}"


def file_lines(found: Mapping[str, Any]) -> list[str]:
    """Each scoring of a file (per ETag and byte range): outcome, model version, rows, outputs, drift verdict."""
    lines = [f"lineage of {found['key']}"]
    for s in found["scorings"]:
        part = f" part {s['part']}" if s["part"] else ""
        what = {"scored": f"scored by {s['model_version']}: {s['scored']:,} of {s['rows']:,} rows"}.get(
            s["outcome"], f"{s['outcome']}" + (f" ({s['detail']})" if s["detail"] else "")
        )
        version = f" (object version {s['object_version']})" if s["object_version"] else ""
        lines.append(f"  ETag {s['etag']}{version}{part} at {str(s['at'])[:19]}: {what}")
        lines += [f"    {name}: {key}" for name, key in s["outputs"].items()]
        if s["drift"]:
            lines.append(f"    {s['drift']}")
    return lines
