"""Where a model version came from and what became of it (`mlops lineage VERSION`), and which model versions
scored a file (`mlops lineage --file KEY`).

The chain is built by pure functions from the records the pipeline keeps (a manifest, a run record, history
decisions, scoring receipts), so it is testable without S3; the readers around them fetch only what the chain
needs: the version's own decisions, the decisions after its last time as champion up to the next champion, and
at most `max_batches` receipts, newest first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from mlops_core.monitoring.verdict import verdict_line
from mlops_core.registry.store import UnknownVersion
from mlops_core.storage import layout
from mlops_core.storage.s3json import get_json

from .stack import OpsError, Pipeline

NOT_RECORDED = "not recorded"
# The decisions that make their version the champion (the gate's, an approval's, a rollback's, a challenger's).
CHAMPION_KINDS = ("promote", "approve", "rollback", "challenger-promote")
MAX_BATCHES = 200


# ---------------------------------------------------------------------------- the chain, from records
def data_link(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The input files a version was made from, each with its object version, SHA-256 and row accounting;
    a registered version (`mlops register`) also says who registered which file, and its reference file."""
    files = [_file(entry) for entry in manifest.get("data") or []]
    origin = manifest.get("origin")
    if not origin:
        return {"files": files}
    registered = {
        "file": origin.get("file"),
        "by": _who(origin.get("registered_by")),
        "reference": origin.get("reference"),
    }
    return {"files": files, "registered": registered}


def _file(entry: Mapping[str, Any]) -> dict[str, Any]:
    key = str(entry.get("key", "?"))
    rejected = entry.get("rejected")
    return {
        "key": key,
        "source": entry.get("source") or _source_of(key),
        "version_id": entry.get("version_id") or NOT_RECORDED,
        "sha256": entry.get("sha256") or NOT_RECORDED,
        "rows": entry.get("rows", 0),
        "skipped_rows": entry.get("skipped_rows", 0),
        "capped_rows": entry.get("capped_rows", 0),
        "rejected": f"{rejected.get('kind', '?')}: {rejected.get('error', '')}" if rejected else None,
    }


def _source_of(key: str) -> str:
    # Old manifests named no source: the prefix says it (a registered model's reference is a local file).
    for prefix, source in ((layout.TRAINING, "training"), (layout.FEEDBACK, "feedback"), (layout.HOLDOUT, "holdout")):
        if key.startswith(prefix):
            return source
    return "reference"


def _who(by: Any) -> str | None:
    return by.get("arn") if isinstance(by, Mapping) else by


def trigger_text(trigger: Mapping[str, Any] | None) -> str:
    """Why a run started, in words: `alarm NAME: REASON`, `schedule rule RULE`, `manual: REASON`."""
    if not trigger:
        return NOT_RECORDED
    source = trigger.get("source")
    if source == "alarm":
        return f"alarm {trigger.get('alarm')}: {trigger.get('reason')}"
    if source == "schedule":
        return f"schedule rule {trigger.get('rule')}"
    return f"{source}: {trigger.get('reason') or 'started by hand'}"


def run_link(
    manifest: Mapping[str, Any], run: Mapping[str, Any] | None, cause: dict[str, Any] | None
) -> dict[str, Any]:
    """The run that made the version (its trigger, backend, times); `cause`: for an alarm, the drifted batch
    that preceded it (None: unknown)."""
    if manifest.get("origin"):
        registered_by = _who(manifest["origin"].get("registered_by"))
        return {"run_id": None, "trigger": f"registered by {registered_by}", "at": manifest.get("created_at")}
    link: dict[str, Any] = {"run_id": manifest.get("run_id") or NOT_RECORDED}
    if run is None:
        return {**link, "trigger": NOT_RECORDED}
    trigger = run.get("trigger") or {}
    link |= {"trigger": trigger_text(trigger), "source": trigger.get("source"), "backend": run.get("backend")}
    link |= {k: run.get(k) for k in ("status", "started_at", "finished_at", "seconds")}
    if trigger.get("source") == "alarm":
        link["drift_batch"] = cause or "unknown"
    return link


def model_link(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What the version is: its metrics, the search's leaderboard, and the digests of its config and code."""
    return {
        "estimator": manifest.get("estimator"),
        "metrics": manifest.get("metrics") or {},
        "search": manifest.get("search"),
        "config_sha256": (manifest.get("config") or {}).get("sha256") or NOT_RECORDED,
        "code_sha256": (manifest.get("code") or {}).get("sha256") or NOT_RECORDED,
        "artifact_sha256": manifest.get("artifact_sha256") or NOT_RECORDED,
    }


def decision_links(decisions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The history's decisions, oldest first: kind, when, by whom, why."""
    ordered = sorted(decisions, key=lambda d: str(d.get("at", "")))
    return [
        {"kind": d.get("kind"), "at": d.get("at"), "by": _who(d.get("by")), "reasons": list(d.get("reasons") or [])}
        for d in ordered
    ]


def replaced_by(version: str, changes: Sequence[Mapping[str, Any]], champion: str | None) -> dict[str, Any]:
    """What replaced `version` as champion, from the champion-making decisions `changes` (oldest first): the
    next one after its last time as champion; "champion now", "never champion", or "unknown" when the
    champion moved without a recorded decision."""
    if champion == version:
        return {"state": "champion now"}
    own = [i for i, change in enumerate(changes) if change.get("version") == version]
    if not own:
        return {"state": "never champion"}
    later = changes[own[-1] + 1 :]
    if not later:
        return {"state": "unknown", "champion": champion}
    nxt = later[0]
    return {"state": "replaced", "by": nxt.get("version"), "kind": nxt.get("kind"), "at": nxt.get("at")}


def batches_link(version: str, receipts: Sequence[Mapping[str, Any]], *, bound_hit: bool) -> dict[str, Any]:
    """How many of the `receipts` read (newest first) were scored by `version`, and their drift verdicts."""
    scored = [r for r in receipts if r.get("outcome") == "scored" and r.get("model_version") == version]
    verdicts = Counter(_verdict(r.get("drift")) for r in scored)
    return {"read": len(receipts), "bound_hit": bound_hit, "count": len(scored), "verdicts": dict(verdicts)}


def _verdict(drift: Mapping[str, Any] | None) -> str:
    verdict = (drift or {}).get("verdict")
    return "no verdict" if verdict is None else "drift" if verdict else "no drift"


def drift_cause(receipts: Sequence[Mapping[str, Any]], at: datetime | None) -> dict[str, Any] | None:
    """The newest receipt claimed before `at` whose batch drifted (the receipts newest first); None if none."""
    for receipt in receipts:
        claimed = parse_time(receipt.get("claimed_at"))
        if at and claimed and claimed <= at and (receipt.get("drift") or {}).get("verdict"):
            return {"key": receipt.get("key"), "etag": receipt.get("etag"), "at": receipt.get("claimed_at")}
    return None


def parse_time(text: Any) -> datetime | None:
    """A record's ISO time (CloudWatch's `+0000` too), in UTC when it names no zone; None if it is not one."""
    try:
        when = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)  # the records' times are UTC; never compare naive


def file_link(key: str, receipts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What became of each object version (ETag) and byte range of `key`, oldest first."""
    ordered = sorted(receipts, key=lambda r: (str(r.get("claimed_at", "")), r.get("part", 0)))
    return [_scoring(receipt) for receipt in ordered if receipt.get("key") == key]


def _scoring(receipt: Mapping[str, Any]) -> dict[str, Any]:
    outputs, parts = receipt.get("outputs") or {}, receipt.get("parts", 1)
    drift = receipt.get("drift")
    return {
        "etag": receipt.get("etag"),
        "object_version": receipt.get("object_version"),
        "part": f"{receipt.get('part', 0) + 1} of {parts}"
        if parts > 1 and receipt.get("outcome") != "fanned_out"
        else None,
        "at": receipt.get("claimed_at"),
        "outcome": receipt.get("outcome"),
        "detail": _detail(receipt),
        "model_version": receipt.get("model_version"),
        "rows": receipt.get("rows", 0),
        "scored": receipt.get("scored", 0),
        "outputs": dict(outputs),
        "drift": verdict_line(drift) if drift else None,
    }


def _detail(receipt: Mapping[str, Any]) -> str | None:
    """Why a file was not scored (a rejection's kind, the ETag that superseded it) or how it was split."""
    outcome = receipt.get("outcome")
    if outcome == "superseded":
        return f"overwritten before it was read; the key's ETag is now {receipt.get('current_etag')}"
    if outcome == "fanned_out":
        return f"split into {receipt.get('parts')} byte ranges, each with a receipt of its own"
    return receipt.get("kind")


# ---------------------------------------------------------------------------- readers
def lineage(pipeline: Pipeline, version: str, *, max_batches: int = MAX_BATCHES) -> dict[str, Any]:
    """The chain of `version`: data, run, model, decisions, batches scored, what replaced it."""
    try:
        manifest = pipeline.registry().manifest(version)
    except UnknownVersion as exc:
        raise OpsError(f"no model version {version}", "`mlops status` lists the versions") from exc
    run_id = manifest.get("run_id")
    run = pipeline.ledger().get(run_id) if run_id else None
    receipts, bound_hit = recent_receipts(pipeline, max_batches)
    at = parse_time(((run or {}).get("trigger") or {}).get("at")) or parse_time((run or {}).get("started_at"))
    champion = pipeline.registry().champion()
    own, changes = history_of(pipeline, version)
    return {
        "version": version,
        "data": data_link(manifest),
        "run": run_link(manifest, run, drift_cause(receipts, at)),
        "model": model_link(manifest),
        "decisions": decision_links(own),
        "batches": batches_link(version, receipts, bound_hit=bound_hit),
        "replaced_by": replaced_by(version, changes, champion.version if champion else None),
    }


def history_of(pipeline: Pipeline, version: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The decisions about `version`, and the champion-making ones from its last time as champion up to the
    next champion (each oldest first): the other decisions are never read."""
    bucket, s3 = pipeline.models_bucket, pipeline.s3
    keys = sorted(_keys(s3, bucket, layout.HISTORY))
    read = {k: _json(s3, bucket, k) or {} for k in keys if layout.is_history_of(k, version)}
    own = {k: d for k, d in read.items() if d.get("version") == version}
    made = [k for k, d in own.items() if d.get("kind") in CHAMPION_KINDS]
    changes = [own[k] for k in made]
    for key in keys[keys.index(made[-1]) + 1 :] if made else []:
        decision = _json(s3, bucket, key)
        if decision and decision.get("kind") in CHAMPION_KINDS:  # the next champion: made[-1] was its last
            changes.append(decision)
            break
    return list(own.values()), changes


def recent_receipts(pipeline: Pipeline, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """At most `limit` scoring receipts, newest first, and whether there were more."""
    listed = _listed(pipeline.s3, pipeline.data_bucket, layout.RECEIPTS)
    newest = sorted(listed, key=lambda o: o["LastModified"], reverse=True)
    bodies = [_json(pipeline.s3, pipeline.data_bucket, o["Key"]) for o in newest[:limit]]
    return [b for b in bodies if b], len(newest) > limit


def file_lineage(pipeline: Pipeline, key: str) -> dict[str, Any]:
    """Which model versions scored `key` (an incoming/ key), per object version and byte range, and where the
    outputs are."""
    key = key if key.startswith(layout.INCOMING) else layout.incoming_key(key)
    prefix = layout.receipts_prefix(key)
    keys = [o["Key"] for o in _listed(pipeline.s3, pipeline.data_bucket, prefix) if "/" not in o["Key"][len(prefix) :]]
    receipts = [body for k in keys if (body := _json(pipeline.s3, pipeline.data_bucket, k))]
    scorings = file_link(key, receipts)
    if not scorings:
        raise OpsError(
            f"no receipt for {key}: scoring has not finished it, or it never reached scoring",
            "`mlops audit` accounts for every file that arrived; check the key (case, extension)",
        )
    return {"key": key, "scorings": scorings}


def _listed(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [obj for page in pages for obj in page.get("Contents", [])]


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return [obj["Key"] for obj in _listed(s3, bucket, prefix)]


def _json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    found = get_json(s3, bucket, key)
    return None if found is None else found[0]
