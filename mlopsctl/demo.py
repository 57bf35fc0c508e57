"""The whole loop on local AWS, step by step, with a timeline: `mlops demo`.

set-up -> local AWS up -> deploy -> training data -> first model -> clean batch (low drift) ->
drifted labeled batch (high drift) -> alarm -> retraining -> new champion -> drifted batch again
(low drift) -> alarms back to OK -> drift report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_core.config import load_config

from . import ops
from .datagen import generate
from .deploy import deploy
from .localaws import LocalAws
from .report import build_report

# Data sizes: enough rows for stable PSI and a meaningful holdout, small enough for 2 cores.
TRAINING_ROWS = 8_000
BATCH_ROWS = 3_000
DRIFT = {"covariate_shift": 1.0, "concept_shift": 1.0}
DRIFTED_LABELED_ROWS = 4_000


@dataclass
class Timeline:
    """Prints each step as it finishes, with the time since the start."""

    echo: Callable[[str], None]
    started: float = field(default_factory=time.monotonic)
    steps: list[tuple[float, str]] = field(default_factory=list)

    def step(self, text: str) -> None:
        at = time.monotonic() - self.started
        self.steps.append((at, text))
        self.echo(f"[{at:6.1f} s] {text}")


class DemoFailed(ops.OpsError):
    """A demo step did not do what it should."""


def _score(pipeline: ops.Pipeline, name: str, body: bytes, progress) -> dict[str, Any]:
    upload = ops.upload_for_scoring(pipeline, body, name)
    receipt = ops.wait_for_outcome(pipeline, upload["key"], upload["etag"], timeout_s=300, progress=progress)
    if receipt["outcome"] != "scored":
        raise DemoFailed(f"{name} was not scored: {receipt.get('outcome')} ({receipt.get('kind')})")
    return receipt


def _drift_text(receipt: dict[str, Any]) -> str:
    drift = receipt["drift"]
    accuracy = receipt.get("accuracy") or {}
    text = (f"worst PSI {drift['worst_psi']:.3f} ({drift['worst_feature']}), "
            f"prediction PSI {drift['prediction_psi']:.3f}")  # fmt: skip
    return text + (f", accuracy {accuracy['accuracy']:.3f}" if accuracy else "")


def run_demo(root: Path, *, echo: Callable[[str], None], progress: Callable[[str], Callable[[float], None]],
             report_dir: Path) -> dict[str, Any]:  # fmt: skip
    """Run the loop; return what it produced. Raises OpsError (with a hint) when a step fails."""
    config = load_config()
    timeline = Timeline(echo)
    local_aws = LocalAws(root, log=echo)
    local_aws.up()
    timeline.step("local AWS is up")
    deploy(root, target="localstack", log=lambda _msg: None)
    timeline.step("stack deployed (bootstrap + deploy)")
    pipeline = ops.Pipeline.connect(root, "localstack")
    if (champion := pipeline.registry().champion()) is not None:
        restart = ("`mlops down && mlops demo`" if local_aws.status().owned
                   else "restart your LocalStack container, then `mlops demo`")  # fmt: skip
        raise DemoFailed(f"the demo starts from a fresh stack, and this one already has a champion "
                         f"({champion.version})", f"local AWS state is disposable: {restart}")  # fmt: skip
    threshold = config.drift.psi_threshold

    pipeline.s3.put_object(Bucket=pipeline.data_bucket, Key="training/base.csv",
                           Body=generate(TRAINING_ROWS, seed=1))  # fmt: skip
    timeline.step(f"training data uploaded: training/base.csv ({TRAINING_ROWS:,} labeled rows)")

    start = ops.start_training(pipeline, "demo: first model")
    if not start.get("started"):
        raise DemoFailed(f"no training run started: {start}", "is another run in progress? see `mlops status`")
    first = ops.wait_for_run(pipeline, start["run_id"], progress=progress("training"))
    if first["status"] != "succeeded" or not first.get("promoted"):
        raise DemoFailed(f"the first model was not promoted: {first.get('error') or first.get('decision')}")
    timeline.step(f"first model {first['version']} trained and promoted (roc_auc {first['metrics']['roc_auc']:.3f})")

    clean = _score(pipeline, "demo/clean.csv", generate(BATCH_ROWS, seed=2, with_label=False), progress("scoring"))
    if clean["drift"]["worst_psi"] >= threshold:
        raise DemoFailed(f"the clean batch shows drift: {_drift_text(clean)}")
    timeline.step(f"clean batch scored: {_drift_text(clean)} -> no drift")

    drifted = _score(
        pipeline, "demo/drifted-labeled.csv", generate(DRIFTED_LABELED_ROWS, seed=3, **DRIFT), progress("scoring")
    )
    if drifted["drift"]["worst_psi"] <= threshold:
        raise DemoFailed(f"the drifted batch shows no drift: {_drift_text(drifted)}")
    timeline.step(f"drifted labeled batch scored: {_drift_text(drifted)} -> drift")

    alarm_name = pipeline.outputs["WorstFeaturePSIAlarm"]
    ops.wait_for(
        f"alarm {alarm_name}",
        lambda: ops.alarm_states(pipeline).get(alarm_name) == "ALARM" or _alarm_run(pipeline, first["run_id"]),
        timeout_s=120,
        progress=progress("waiting for the alarm"),
    )
    timeline.step(f"alarm {alarm_name} fired")  # fmt: skip

    run = ops.wait_for(
        "an alarm-triggered training run", lambda: _alarm_run(pipeline, first["run_id"]), timeout_s=120,
        progress=progress("waiting for retraining to start"),
    )  # fmt: skip
    timeline.step(f"retraining {run['run_id']} started by {run['trigger'].get('alarm')}")
    second = ops.wait_for_run(pipeline, run["run_id"], progress=progress("retraining"))
    if second["status"] != "succeeded" or not second.get("promoted"):
        raise DemoFailed(f"the retrained model was not promoted: {second.get('error') or second.get('decision')}")
    reasons = "; ".join(second["decision"]["reasons"])
    timeline.step(f"new model {second['version']} promoted: {reasons}")

    after = _score(pipeline, "demo/drifted-again.csv", generate(BATCH_ROWS, seed=4, with_label=False, **DRIFT),
                   progress("scoring"))  # fmt: skip
    if after["model_version"] != second["version"] or after["drift"]["worst_psi"] >= threshold:
        raise DemoFailed(f"the drifted distribution still drifts under the new model: {_drift_text(after)}")
    timeline.step(f"drifted distribution scored again by {after['model_version']}: {_drift_text(after)} -> no drift")

    retraining_alarms = [pipeline.outputs[f"{m}Alarm"] for m in
                         ("WorstFeaturePSI", "DriftedFeatureShare", "PredictionPSI", "ModelAccuracy")]  # fmt: skip
    ops.wait_for("the drift alarms to return to OK",
                 lambda: all(ops.alarm_states(pipeline).get(a) == "OK" for a in retraining_alarms),
                 timeout_s=120, progress=progress("waiting for alarms"))  # fmt: skip
    timeline.step("drift alarms back to OK")

    report = build_report(pipeline, report_dir, psi_threshold=threshold)
    timeline.step(f"drift report written: {report}")
    return {
        "timeline": timeline.steps,
        "champion": second["version"],
        "outputs": {
            "predictions": [r["outputs"]["predictions"] for r in (clean, drifted, after)],
            "report": str(report),
            "bucket": pipeline.data_bucket,
        },
    }


def _alarm_run(pipeline: ops.Pipeline, after_run: str) -> dict[str, Any] | None:
    """The newest training run started by an alarm after `after_run`, if any."""
    for run in pipeline.ledger().recent(limit=5):
        if run["run_id"] > after_run and run.get("trigger", {}).get("source") == "alarm":
            return run
    return None
