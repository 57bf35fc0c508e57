"""`mlops register MODEL --reference FILE [--promote]`: a model trained elsewhere (a notebook's joblib
file) into the registry, behind the same checksum, drift profile and promotion gate as a trained version.

In this order, and nothing is written to the registry before every check has passed:
1. the model file (its SHA-256) and the reference file, read as training reads a file
   (mlops_core/registry/registration.py): a bad reference is reported like bad training data;
2. the model, checked in a child process (mlopsctl/modelcheck.py via `ModelChecker`, with a time and
   a memory limit): the scikit-learn version it was pickled with against the scoring layer's, loading,
   its columns and classes, its predictions on the reference rows. A crash of the child (an exit
   status, a signal, output that is not a result) is reported with the tail of what it printed;
3. with labels in the reference, the holdout metrics on its rows (the user's holdout: rows the model
   was not trained on, as far as anyone here can know);
4. who registers (STS), then the version published (the file's bytes as they are, so the artifact's
   SHA-256 is the file's) and a `register` decision in the history;
5. with --promote, the gate a trained version goes through (mlops_core/registry/gate.py): the champion scored
   on the same rows, the decision, then `install_candidate` or, with manual approval, held (and
   announced) for `mlops approve`. An unlabeled reference registers the model and never promotes it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_core.config import ProjectConfig, config_record
from mlops_core.modeling.pipeline import model_input
from mlops_core.modeling.predictions import metrics as metrics_of
from mlops_core.registry.approval import pending_alert
from mlops_core.registry.gate import GateOutcome, gate_promotion
from mlops_core.registry.registration import Reference, ReferenceFileError, read_reference, registered_manifest
from mlops_core.registry.store import Registry

from . import present
from .approvals import caller_identity
from .checkrun import CheckedModel, ModelChecker
from .stack import OpsError

Announce = Callable[[dict[str, Any]], None]  # tells people a held candidate awaits approval


class RegisterError(OpsError):
    """The model was not registered: the message says why, the hint what to do. Nothing was written."""


@dataclass
class Registered:
    version: str
    manifest: dict[str, Any]
    gate: GateOutcome | None  # None: not sent through the gate (no --promote)
    notes: list[str] = field(default_factory=list)  # what else the operator should know


def layer_version(requirements: Path, package: str = "scikit-learn") -> str:
    """The version of `package` pinned in the scoring layer's requirements (lambdas/requirements.txt)."""
    pins = re.findall(rf"^{re.escape(package)}==([^\s;#]+)", requirements.read_text(), flags=re.MULTILINE)
    if not pins:
        raise RegisterError(f"{requirements} pins no {package} version", f"pin it there: {package}==X.Y.Z")
    return pins[0]


def register(
    *,
    registry: Registry,
    sts: Any,
    checker: ModelChecker,
    config: ProjectConfig,
    config_file: Path,
    model: Path,
    reference: Path,
    promote: bool,
    announce: Announce | None = None,
) -> Registered:
    """Check, register and (with `promote`) gate a model trained elsewhere; RegisterError when refused."""
    if found := [f.name for f in config.features if f.is_categorical and not f.categories]:
        raise RegisterError(
            f"feature(s) {', '.join(found)} have no categories configured: training finds them in its data, but "
            "a model trained elsewhere brings none",
            "list their categories in [[features]]",
        )
    artifact = _model_bytes(model)
    rows = _reference(reference, config, promote=promote)
    checked = checker.check(model, reference, config_file=config_file, rows=rows.rows)
    if (checked.model.get("sha256"), checked.reference_sha256) != (_sha256(artifact), rows.entry["sha256"]):
        raise RegisterError(f"{model.name} or {reference.name} changed while the model was checked", "register again")
    metrics = _holdout_metrics(checked, rows, config, promote=promote)
    who = caller_identity(sts)
    origin = _origin(model, artifact, checked, rows, who)
    manifest = registered_manifest(
        reference=rows,
        config=config,
        config_file=config_record(config_file),
        task=checked.task,
        predictions=checked.predictions,
        metrics=metrics,
        model=checked.model,
        origin=origin,
    )
    version = registry.publish(artifact, manifest)
    registry.record_decision(_decision(version, origin, metrics, promote=promote, labeled=rows.labeled))
    result = Registered(version, registry.manifest(version), None, list(checked.notes))
    if not promote:
        result.notes.append(_not_gated(version, labeled=rows.labeled))
        return result
    result.gate = _gate(registry, version, metrics, rows=rows, checked=checked, config=config)
    if result.gate.pending and announce is not None:
        result.notes += _announced(announce, result.gate.pending)
    return result


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _model_bytes(model: Path) -> bytes:
    if not model.is_file():
        raise RegisterError(f"no such model file: {model}", "give the path of the model saved with joblib.dump")
    artifact = model.read_bytes()
    if not artifact:
        raise RegisterError(f"{model.name} is empty", "save the model again with joblib.dump(model, path)")
    return artifact


def _reference(reference: Path, config: ProjectConfig, *, promote: bool) -> Reference:
    if not reference.is_file():
        raise RegisterError(f"no such reference file: {reference}", "give a CSV of rows the model was not trained on")
    try:
        rows = read_reference(reference, config)
    except ReferenceFileError as exc:
        raise RegisterError(str(exc), exc.fix) from exc
    if promote and not rows.labeled:
        raise RegisterError(
            f"--promote needs labels: {reference.name} has no {config.label} column, so the gate has nothing "
            "to compare the model on",
            f"add the {config.label} column to the reference rows, or register without --promote",
        )
    return rows


def _holdout_metrics(checked: CheckedModel, rows: Reference, config: ProjectConfig, *, promote: bool) -> dict[str, Any]:
    """The task's metrics on a labeled reference ({} without labels); RegisterError when the gate is asked for
    and its metric cannot be computed (a holdout of one class has no ROC AUC)."""
    metrics = metrics_of(checked.task, rows.labels, checked.predictions) if rows.labels is not None else {}
    if promote and config.promotion.metric not in metrics:
        raise RegisterError(
            f"the gate's metric {config.promotion.metric} cannot be computed on {rows.entry['key']}'s labels "
            f"(metrics: {', '.join(k for k in metrics if k != 'rows') or 'none'})",
            "give a holdout with rows of every class, or register without --promote",
        )
    return metrics


def _gate(
    registry: Registry,
    version: str,
    metrics: dict[str, Any],
    *,
    rows: Reference,
    checked: CheckedModel,
    config: ProjectConfig,
) -> GateOutcome:
    """The gate a trained version goes through, on the reference's labeled rows."""
    return gate_promotion(
        registry,
        version=version,
        metrics=metrics,
        x_holdout=model_input(rows.columns, config.features),
        y_holdout=rows.labels,  # type: ignore[arg-type]  # labeled: checked in _reference
        task=checked.task,
        config=config,
        run_id=None,
        notes=[f"holdout: the {rows.rows:,} labeled rows of {rows.entry['key']}, given with the registered model"],
    )


def _origin(
    model: Path, artifact: bytes, checked: CheckedModel, rows: Reference, who: dict[str, str]
) -> dict[str, Any]:
    """Where a registered version came from: the file, the libraries it names, who registered it, on what rows."""
    pickled = checked.pickled
    return {
        "kind": "registered",
        "file": model.name,
        "sha256": _sha256(artifact),
        "bytes": len(artifact),
        "sklearn": (pickled.get("sklearn") or [None])[0],
        "numpy": pickled.get("numpy"),
        "pickle_protocol": pickled.get("pickle_protocol"),
        "compression": pickled.get("compression"),
        "model_class": checked.model.get("class"),
        "steps": checked.model.get("steps"),
        "registered_by": who,
        "reference": {
            "file": rows.entry["key"],
            "sha256": rows.entry["sha256"],
            "rows": rows.rows,
            "labeled": rows.labeled,
        },
    }


def _decision(
    version: str, origin: dict[str, Any], metrics: dict[str, Any], *, promote: bool, labeled: bool
) -> dict[str, Any]:
    """The history's `register` decision."""
    then = "sent to the promotion gate" if promote else _not_gated(version, labeled=labeled)
    return {
        "kind": "register",
        "version": version,
        "by": origin["registered_by"],
        "reasons": [f"registered from {origin['file']} (SHA-256 {origin['sha256'][:12]}); {then}"],
        "candidate_metrics": metrics,
        "origin": origin,
    }


def _not_gated(version: str, *, labeled: bool) -> str:
    if not labeled:
        return (
            "never promoted automatically: the reference has no labels, so there are no holdout metrics to gate on "
            f"(to serve it anyway: `mlops rollback {version}` makes it the champion)"
        )
    return (
        "not promoted: registered only; to gate it, register the file again with --promote (a new version), "
        f"or make it the champion by hand with `mlops rollback {version}`"
    )


def _announced(announce: Announce, pending: dict[str, Any]) -> list[str]:
    """Tell people the candidate awaits approval; a failed message is a note (the candidate is held)."""
    try:
        announce(pending)
    except Exception as exc:  # any failure to notify leaves a held candidate, listed by `mlops status`
        return [f"could not announce the candidate on the alerts topic ({type(exc).__name__}: {exc})"]
    return []


def sns_announcer(sns: Any, topic_arn: str, config: ProjectConfig) -> Announce:
    """An `Announce` that publishes the pending-approval message (as a training run does) to the alerts topic."""

    def announce(record: dict[str, Any]) -> None:
        subject, message = pending_alert(record, config)
        sns.publish(TopicArn=topic_arn, Subject=subject, Message=message)

    return announce


def summary(result: Registered) -> list[str]:
    """What `mlops register` prints: the version and its origin, its metrics, what the gate did, the notes."""
    origin, manifest = result.manifest["origin"], result.manifest
    reference = origin["reference"]
    labeled = "labeled" if reference["labeled"] else "unlabeled"
    lines = [
        f"registered {origin['file']} as version {result.version} (scikit-learn {origin['sklearn'] or 'not named'}, "
        f"SHA-256 {origin['sha256'][:12]}) by {origin['registered_by']['arn']}",
        f"  reference {reference['file']}: {reference['rows']:,} rows, {labeled}: the drift profile is built from them",
    ]
    if manifest["metrics"]:
        lines.append(f"  holdout metrics on the reference rows: {present.metrics_text(manifest['metrics'])}")
    gate = result.gate
    if gate is not None:
        lines.append(f"  {_gate_verdict(gate)}: {'; '.join(gate.record.get('reasons', []))}")
    return lines + [f"  {note}" for note in result.notes]


def _gate_verdict(gate: GateOutcome) -> str:
    record = gate.record
    if gate.promoted:
        return "promoted to champion"
    if gate.pending:
        return "passed the gate and awaits approval"
    if record.get("kind") == "challenge":
        return f"passed the gate: now a {record.get('mode')} challenger of champion {record.get('champion')}"
    return "not promoted"
