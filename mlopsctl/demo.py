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

from mlops_core import observability as obs
from mlops_core.monitoring.verdict import verdict_line
from mlops_core.storage import layout

from . import batches, runs, standing
from .datagen import generate
from .deploy import deploy
from .localaws import LocalAws
from .present import labeled_brief, labeled_of
from .report import build_report
from .stack import OpsError, Pipeline, wait_for

# Data sizes: enough rows for stable PSI and a meaningful holdout, small enough for 2 cores.
TRAINING_ROWS = 8_000
TRAINING_KEY = layout.training_key("base.csv")
BATCH_ROWS = 3_000
DRIFT_SHIFT = 1.0  # covariate and concept shift of the drifted batches
# The alarms that start retraining, all of which the demo waits to see back at OK.
RETRAINING_ALARM_METRICS = (
    obs.DRIFTED_FEATURE_SHARE,
    obs.PREDICTION_DRIFT_SCORE,
    obs.MULTIVARIATE_DRIFT_SCORE,
    obs.MODEL_ACCURACY,
)
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


class DemoFailed(OpsError):
    """A demo step did not do what it should."""


def _score(pipeline: Pipeline, name: str, body: bytes, progress) -> dict[str, Any]:
    upload = batches.upload_for_scoring(pipeline, body, name)
    receipt = batches.wait_for_outcome(pipeline, upload["key"], upload["etag"], timeout_s=300, progress=progress)
    if receipt["outcome"] != "scored":
        raise DemoFailed(f"{name} was not scored: {receipt.get('outcome')} ({receipt.get('kind')})")
    return receipt


def _drift_text(receipt: dict[str, Any]) -> str:
    """The verdict and, for a labeled batch, its headline metric (`; accuracy 0.812` for binary)."""
    brief = labeled_brief(labeled_of(receipt))
    return verdict_line(receipt["drift"]) + (f"; {brief}" if brief else "")


def run_demo(
    root: Path, *, echo: Callable[[str], None], progress: Callable[[str], Callable[[float], None]], report_dir: Path
) -> dict[str, Any]:
    """Run the loop; return what it produced. Raises OpsError (with a hint) when a step fails."""
    timeline = Timeline(echo)
    pipeline = _fresh_stack(root, timeline, echo)
    act = _Act(pipeline, timeline, progress)
    first = act.first_model()
    clean = act.score_clean_batch()
    drifted = act.score_drifted_batch()
    second = act.retrain_on_alarm(first["run_id"])
    after = act.score_again(second["version"])
    act.wait_for_alarms_ok()
    report = build_report(pipeline, report_dir)
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


def _fresh_stack(root: Path, timeline: Timeline, echo: Callable[[str], None]) -> Pipeline:
    """Local AWS up and the stack deployed; refuses a stack that already has a champion."""
    local_aws = LocalAws(root, log=echo)
    local_aws.up()
    timeline.step("local AWS is up")
    deploy(root, target="localstack", log=lambda _msg: None)
    timeline.step("stack deployed (bootstrap + deploy)")
    pipeline = Pipeline.connect(root, "localstack")
    if (champion := pipeline.registry().champion()) is not None:
        restart = (
            "`mlops down && mlops demo`"
            if local_aws.status().owned
            else "restart your LocalStack container, then `mlops demo`"
        )
        raise DemoFailed(
            f"the demo starts from a fresh stack, and this one already has a champion ({champion.version})",
            f"local AWS state is disposable: {restart}",
        )
    return pipeline


@dataclass
class _Act:
    """The demo's steps on one deployed pipeline, each checked and put on the timeline."""

    pipeline: Pipeline
    timeline: Timeline
    progress: Callable[[str], Callable[[float], None]]

    def first_model(self) -> dict[str, Any]:
        body = generate(TRAINING_ROWS, seed=1)
        self.pipeline.s3.put_object(Bucket=self.pipeline.data_bucket, Key=TRAINING_KEY, Body=body)
        self.timeline.step(f"training data uploaded: {TRAINING_KEY} ({TRAINING_ROWS:,} labeled rows)")
        start = runs.start_training(self.pipeline, "demo: first model")
        if not start.get("started"):
            raise DemoFailed(f"no training run started: {start}", "is another run in progress? see `mlops status`")
        first = runs.wait_for_run(self.pipeline, start["run_id"], progress=self.progress("training"))
        if first["status"] != "succeeded" or not first.get("promoted"):
            raise DemoFailed(f"the first model was not promoted: {first.get('error') or first.get('decision')}")
        roc_auc = first["metrics"]["roc_auc"]
        self.timeline.step(f"first model {first['version']} trained and promoted (roc_auc {roc_auc:.3f})")
        return first

    def score_clean_batch(self) -> dict[str, Any]:
        clean = self._score("demo/clean.csv", generate(BATCH_ROWS, seed=2, with_label=False))
        if clean["drift"]["verdict"] is not False:
            raise DemoFailed(f"the clean batch shows drift: {_drift_text(clean)}")
        self.timeline.step(f"clean batch scored: {_drift_text(clean)}")
        return clean

    def score_drifted_batch(self) -> dict[str, Any]:
        body = generate(DRIFTED_LABELED_ROWS, seed=3, covariate_shift=DRIFT_SHIFT, concept_shift=DRIFT_SHIFT)
        drifted = self._score("demo/drifted-labeled.csv", body)
        if drifted["drift"]["verdict"] is not True:
            raise DemoFailed(f"the drifted batch shows no drift: {_drift_text(drifted)}")
        self.timeline.step(f"drifted labeled batch scored: {_drift_text(drifted)}")
        return drifted

    def retrain_on_alarm(self, first_run: str) -> dict[str, Any]:
        """Wait for the drift alarm, the run it starts, and that run's promotion."""
        pipeline = self.pipeline
        alarms = [pipeline.outputs[_alarm_output(m)] for m in RETRAINING_ALARM_METRICS]

        def fired() -> list[str]:
            states = standing.alarm_states(pipeline)
            return [a for a in alarms if states.get(a) == "ALARM"]

        wait_for(
            "a drift alarm",
            lambda: fired() or _alarm_run(pipeline, first_run),
            timeout_s=120,
            progress=self.progress("waiting for the alarm"),
        )
        self.timeline.step(f"alarm {', '.join(fired()) or 'a drift alarm'} fired")
        run = wait_for(
            "an alarm-triggered training run",
            lambda: _alarm_run(pipeline, first_run),
            timeout_s=120,
            progress=self.progress("waiting for retraining to start"),
        )
        self.timeline.step(f"retraining {run['run_id']} started by {run['trigger'].get('alarm')}")
        second = runs.wait_for_run(pipeline, run["run_id"], progress=self.progress("retraining"))
        if second["status"] != "succeeded" or not second.get("promoted"):
            raise DemoFailed(f"the retrained model was not promoted: {second.get('error') or second.get('decision')}")
        self.timeline.step(f"new model {second['version']} promoted: {'; '.join(second['decision']['reasons'])}")
        return second

    def score_again(self, version: str) -> dict[str, Any]:
        body = generate(BATCH_ROWS, seed=4, with_label=False, covariate_shift=DRIFT_SHIFT, concept_shift=DRIFT_SHIFT)
        after = self._score("demo/drifted-again.csv", body)
        if after["model_version"] != version or after["drift"]["verdict"] is not False:
            raise DemoFailed(f"the drifted distribution still drifts under the new model: {_drift_text(after)}")
        text = f"drifted distribution scored again by {after['model_version']}: {_drift_text(after)}"
        self.timeline.step(text)
        return after

    def wait_for_alarms_ok(self) -> None:
        alarms = [self.pipeline.outputs[_alarm_output(m)] for m in RETRAINING_ALARM_METRICS]
        wait_for(
            "the drift alarms to return to OK",
            lambda: all(standing.alarm_states(self.pipeline).get(a) == "OK" for a in alarms),
            timeout_s=120,
            progress=self.progress("waiting for alarms"),
        )
        self.timeline.step("drift alarms back to OK")

    def _score(self, name: str, body: bytes) -> dict[str, Any]:
        return _score(self.pipeline, name, body, self.progress("scoring"))


def _alarm_output(metric: obs.Metric) -> str:
    """The stack output that names the alarm on `metric`."""
    return f"{metric.name}Alarm"


def _alarm_run(pipeline: Pipeline, after_run: str) -> dict[str, Any] | None:
    """The newest training run started by an alarm after `after_run`, if any."""
    for run in pipeline.ledger().recent(limit=5):
        if run["run_id"] > after_run and run.get("trigger", {}).get("source") == "alarm":
            return run
    return None
