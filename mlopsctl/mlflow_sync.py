"""`mlops mlflow sync`: the project's runs, versions and aliases as MLflow shows them, with MLflow's own client.

The registry in S3 stays the source of truth; MLflow gets a copy a data scientist can browse:

- every training run record (registry/runs/) becomes an MLflow run in the experiment, tagged `mlops.run_id`:
  the trigger, backend and status as tags, the model's parameters and metrics, each input file as an input
  dataset (its S3 URI with the version id as source, its SHA-256 as digest), and a model search's leaderboard
  as one child run per candidate; a version registered with `mlops register` gets a run of its own
  (`mlops.origin` = register);
- every model version is logged in its run as an MLflow model (the sklearn flavour, a signature and an input
  example from the manifest's schema and reference sample) and registered under the project's name, its
  version tagged `mlops.version`;
- the `champion` and `challenger` aliases point where the registry's pointers do now.

Idempotent and incremental: what carries its tag is skipped, and a run still in progress waits for a later sync.
A run is marked `mlops.synced` only once all of it is logged; a run without the mark (a sync that stopped half
way) is deleted and logged again, so a sync that fails part way is completed by the next one.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import mlflow
import requests
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from requests.exceptions import RequestException

from mlops_core.storage import layout
from mlops_core.storage.lock import ObjectLock

from . import mlflow_version
from .stack import OpsError, Pipeline

RUN_TAG, VERSION_TAG, SYNCED_TAG, MODEL_TAG = "mlops.run_id", "mlops.version", "mlops.synced", "mlops.model_uri"
# A run still in progress is left for a later sync: a run is logged once, so logging it now would keep it
# unfinished in MLflow (and its version, already written, waits with it).
RUNNING = "started"
HEALTH_TIMEOUT_S = 10
LOCK_TTL_S = 900  # a sync that died holding the lock holds it this long at most
TAG_CHARS = 5000  # MLflow keeps tag values up to 8,000 characters; params up to 6,000


class SyncError(OpsError):
    """The tracking server cannot be used; nothing was half-synced that the next sync does not complete."""


@dataclass
class SyncReport:
    runs: list[str] = field(default_factory=list)  # mlops run ids logged by this sync
    versions: list[str] = field(default_factory=list)  # model versions registered by this sync
    aliases: dict[str, str | None] = field(default_factory=dict)  # alias -> version, as set now

    @property
    def added(self) -> int:
        return len(self.runs) + len(self.versions)

    @property
    def summary(self) -> str:
        return f"{len(self.runs)} run(s) and {len(self.versions)} version(s) added"


def sync(pipeline: Pipeline, *, tracking_uri: str, experiment: str, model_name: str) -> SyncReport:
    """Bring the MLflow server at `tracking_uri` up to date with the stack's registry; what was added.

    One sync at a time per stack (`layout.TRACKING_LOCK_KEY`): two commands that finish together would each
    find a new run missing and log it twice."""
    _check_answers(tracking_uri)
    lock = ObjectLock(
        pipeline.s3,
        pipeline.models_bucket,
        layout.TRACKING_LOCK_KEY,
        conditional_deletes=pipeline.s3_conditional_deletes,
    )
    owner = f"sync-{secrets.token_hex(4)}"
    if not lock.acquire(owner, ttl_seconds=LOCK_TTL_S, now=datetime.now(UTC)):
        holder = lock.current()
        raise SyncError(
            f"another MLflow sync of this stack is running ({holder.owner if holder else 'just ended'})",
            "it adds what is new; run the sync again after it if this command's changes came later",
        )
    try:
        return _sync(pipeline, tracking_uri=tracking_uri, experiment=experiment, model_name=model_name)
    finally:
        lock.release(owner)


def _sync(pipeline: Pipeline, *, tracking_uri: str, experiment: str, model_name: str) -> SyncReport:
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # the command says what it added
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # not "Waiting up to 300 seconds..." per version
    client = MlflowClient(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    with _server_errors(tracking_uri):
        experiment_id = _experiment(client, experiment)
        logged = _synced_runs(client, experiment_id)
        report = SyncReport()
        manifests = {m["version"]: m for m in pipeline.registry().versions()}
        for record in _run_records(pipeline, manifests):
            key = record["run_id"]
            if key not in logged and record.get("status") != RUNNING:
                manifest = manifests.get(record.get("version") or "")
                logged[key] = _log_run(client, experiment_id, record, manifest, pipeline)
                report.runs.append(key)
        registered = _registered_versions(client, model_name)
        for version, manifest in manifests.items():
            if version not in registered and _run_key(manifest) in logged:  # its run ended, so it is logged
                registered[version] = _register(client, model_name, logged[_run_key(manifest)], version)
                report.versions.append(version)
        report.aliases = _set_aliases(client, model_name, pipeline, registered)
    return report


def _run_key(manifest: dict[str, Any]) -> str:
    """The run a version belongs to: its training run, or for `mlops register` a run named after the version."""
    return str(manifest.get("run_id") or f"register-{manifest['version']}")


def _run_records(pipeline: Pipeline, manifests: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every run record, oldest first, plus a record for each version registered with `mlops register`."""
    records = pipeline.ledger().recent(limit=sys.maxsize)[::-1]  # the ledger gives the newest first
    registered = [
        {
            "run_id": _run_key(m),
            "version": v,
            "status": "registered",
            "started_at": m.get("created_at"),
            "origin": m.get("origin"),
        }
        for v, m in manifests.items()
        if not m.get("run_id")
    ]
    return records + registered


@contextmanager
def _server_errors(tracking_uri: str) -> Iterator[None]:
    """The tracking server's failures as one clear error (the next sync completes what this one left)."""
    try:
        yield
    except (MlflowException, RequestException) as exc:
        raise SyncError(
            f"the MLflow tracking server at {tracking_uri} failed: {str(exc).splitlines()[0][:300]}",
            "check that it runs and answers (`mlflow server ...`); run the sync again: it completes what is missing",
        ) from exc


def _check_answers(tracking_uri: str) -> None:
    """A server that does not answer is said at once (MLflow's client would retry for minutes first)."""
    if not tracking_uri.startswith(("http://", "https://")):
        return
    try:
        requests.get(f"{tracking_uri.rstrip('/')}/health", timeout=HEALTH_TIMEOUT_S).raise_for_status()
    except RequestException as exc:
        raise SyncError(
            f"the MLflow tracking server at {tracking_uri} failed: it does not answer ({type(exc).__name__})",
            "start it (`mlflow server --backend-store-uri sqlite:///mlflow.db`) or fix --tracking-uri",
        ) from exc


def _experiment(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    return str(found.experiment_id) if found else str(client.create_experiment(name))


def _synced_runs(client: Any, experiment_id: str) -> dict[str, str]:
    """mlops run id -> MLflow run id of the runs fully logged; half-logged ones are deleted (logged again)."""
    synced: dict[str, str] = {}
    for run in client.search_runs([experiment_id], filter_string=f"tags.`{RUN_TAG}` != ''", max_results=50_000):
        tags = run.data.tags
        if tags.get(SYNCED_TAG) == "true":
            synced[tags[RUN_TAG]] = run.info.run_id
        elif "mlflow.parentRunId" not in tags:
            client.delete_run(run.info.run_id)
    return synced


def _log_run(
    client: Any, experiment_id: str, record: dict[str, Any], manifest: dict[str, Any] | None, pipeline: Pipeline
) -> str:
    """One run record (and its version's model, if any) as an MLflow run; its MLflow run id."""
    run = client.create_run(
        experiment_id,
        start_time=_millis(record.get("started_at")),
        tags=_tags(record, manifest),
        run_name=record["run_id"],
    )
    run_id = run.info.run_id
    metrics = (manifest or {}).get("metrics") or (record.get("reproduction") or {}).get("metrics") or {}
    now = _millis(record.get("finished_at") or record.get("started_at"))
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items() if isinstance(v, int | float)],
        params=[Param(k, v) for k, v in _params(manifest).items()],
    )
    if manifest is not None:
        mlflow_version.log_inputs(client, run_id, manifest, pipeline.data_bucket)
        mlflow_version.log_leaderboard(client, experiment_id, run_id, manifest.get("search"))
        client.set_tag(run_id, MODEL_TAG, mlflow_version.log_model(run_id, manifest, pipeline))
    client.log_batch(run_id, tags=[RunTag(SYNCED_TAG, "true")])
    client.set_terminated(run_id, status="FAILED" if record.get("status") == "failed" else "FINISHED", end_time=now)
    return str(run_id)


def _tags(record: dict[str, Any], manifest: dict[str, Any] | None) -> dict[str, str]:
    trigger = record.get("trigger") or {}
    tags = {
        RUN_TAG: record["run_id"],
        "mlops.status": str(record.get("status")),
        "mlops.trigger": str(trigger.get("source", "register" if record.get("status") == "registered" else "?")),
        "mlops.trigger_reason": str(trigger.get("reason", ""))[:TAG_CHARS],
        "mlops.backend": str(record.get("backend", "")),
        "mlops.origin": "register" if record.get("status") == "registered" else "training",
    }
    if trigger.get("alarm"):
        tags["mlops.alarm"] = str(trigger["alarm"])
    if record.get("error"):
        tags["mlops.error"] = str(record["error"])[:TAG_CHARS]
    if record.get("reproduction"):
        tags["mlops.reproduces"] = str(record["reproduction"]["reproduces"]["run_id"])
        tags["mlops.reproduction"] = str(record["reproduction"]["verdict"])
    if manifest is not None:
        tags[VERSION_TAG] = manifest["version"]
        tags["mlops.config_sha256"] = str((manifest.get("config") or {}).get("sha256", "not recorded"))
        tags["mlops.code_sha256"] = str((manifest.get("code") or {}).get("sha256", "not recorded"))
        files = [
            {k: e.get(k) for k in ("key", "version_id", "sha256", "rows", "source")} for e in manifest.get("data", [])
        ]
        tags["mlops.data"] = json.dumps(files)[:TAG_CHARS]
    return tags


def _params(manifest: dict[str, Any] | None) -> dict[str, str]:
    if manifest is None:
        return {}
    params = {"estimator": str(manifest.get("estimator")), "seed": str(manifest.get("seed"))}
    params |= {f"model.{k}": str(v)[:500] for k, v in (manifest.get("params") or {}).items()}
    return params


def _registered_versions(client: Any, name: str) -> dict[str, str]:
    """mlops version -> MLflow model version, for this registered model's versions that carry the tag."""
    found = client.search_model_versions(f"name = '{name}'")
    return {v.tags[VERSION_TAG]: str(v.version) for v in found if VERSION_TAG in v.tags}


def _register(client: Any, name: str, mlflow_run_id: str, version: str) -> str:
    """Register the run's logged model under `name`, tagged with the mlops version; the MLflow version."""
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(
            name, description="Synced from the serverless-mlops registry (mlops mlflow sync)"
        )
    source = client.get_run(mlflow_run_id).data.tags[MODEL_TAG]  # models:/<logged model id>
    created = client.create_model_version(
        name, source, run_id=mlflow_run_id, tags={VERSION_TAG: version}, model_id=source.rpartition("/")[2]
    )
    return str(created.version)


def _set_aliases(client: Any, name: str, pipeline: Pipeline, registered: dict[str, str]) -> dict[str, str | None]:
    """`champion` and `challenger` where the registry's pointers are now; an alias whose pointer is gone is removed."""
    registry = pipeline.registry()
    pointers = {"champion": registry.champion(), "challenger": registry.challenger()}
    now: dict[str, str | None] = {}
    for alias, pointer in pointers.items():
        active = pointer is not None and (alias == "champion" or pointer.record.get("status") == "active")
        if pointer is not None and active and pointer.version in registered:
            client.set_registered_model_alias(name, alias, registered[pointer.version])
            now[alias] = pointer.version
        else:
            with suppress(Exception):  # no such alias: nothing to remove
                client.delete_registered_model_alias(name, alias)
            now[alias] = None
    return now


def _millis(timestamp: str | None) -> int:
    """Milliseconds since the epoch, as MLflow counts; now when the record has no time."""
    moment = datetime.fromisoformat(timestamp) if timestamp else datetime.now(UTC)
    return int(moment.timestamp() * 1000)
