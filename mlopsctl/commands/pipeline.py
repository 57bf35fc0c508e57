"""Data in, scoring and training: train, redrive, audit, seed, add-training-data, add-holdout, score."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from mlops_core.monitoring.verdict import verdict_line
from mlops_core.storage import layout

from .. import batches, data_quality, leaderboard, present, runs
from ..datagen import generate
from ..stack import read_json
from . import common
from .common import CliError, TargetOption
from .tracking import keeps_mlflow_current

app = typer.Typer()


@app.command()
@keeps_mlflow_current
def train(
    reason: str = typer.Option("started by hand", help="recorded with the run"),
    wait: bool = typer.Option(True, help="wait for the run to finish"),
    backend: str | None = typer.Option(
        None,
        help="where this run trains: lambda or container on local AWS (the container runs the image `make image` "
        "built, as SageMaker would); default: the stack's own ([training] local_backend; SageMaker on AWS)",
    ),
    target: str = TargetOption,
) -> None:
    """Start a training run now (skips the cooldown; never runs two at once)."""
    pipeline = common.connect(target)
    result = runs.start_training(pipeline, reason, backend)
    if not result.get("started"):
        raise CliError(
            f"no run started: {result.get('reason')} (run {result.get('run_id')})",
            "wait for the running training to finish; see `mlops status`",
        )
    typer.echo(f"training run {result['run_id']} started" + (f" ({backend})" if backend else ""))
    if not wait:
        return
    run = runs.wait_for_run(pipeline, result["run_id"], progress=common.progress("training"))
    typer.echo("", err=True)
    if run["status"] == "failed":
        raise CliError(f"training run {run['run_id']} failed: {run.get('error')}", "the champion is unchanged")
    decision = run.get("decision", {})
    reasons = "; ".join(decision.get("reasons", []))
    typer.echo(f"version {run['version']} {_verdict(run)} in {run.get('seconds')} s: {reasons}")
    for line in present.accounting_lines(runs.run_files(pipeline, run)):
        typer.echo(f"  {line}")
    common.echo_lines(leaderboard.search_lines(run.get("search")))


def _verdict(run: dict[str, Any]) -> str:
    """What became of a finished run's version: promoted, a challenger, awaiting approval, or not promoted."""
    decision = run.get("decision", {})
    verdict = "promoted to champion" if run.get("promoted") else "not promoted"
    if decision.get("kind") == "challenge":
        verdict = f"started as a {decision.get('mode')} challenger of champion {decision.get('champion')}"
    if run.get("pending"):
        verdict = "passed the gate and awaits approval"
    return verdict


@app.command()
def redrive(target: str = TargetOption) -> None:
    """Move the dead-letter queue's messages back to the scoring queue (after fixing the cause)."""
    moved = batches.redrive(common.connect(target))
    typer.echo(f"moved {moved} message(s) back to the scoring queue")


@app.command()
def audit(
    minutes: float = typer.Option(60, "--minutes", help="look at files that arrived in the last N minutes"),
    as_json: bool = typer.Option(False, "--json", help="machine-readable, every file listed"),
    target: str = TargetOption,
) -> None:
    """Account for each file that arrived: in = scored + rejected + superseded + in flight + dead-lettered; exit 1
    if any is lost."""
    pipeline = common.connect(target)
    result = batches.audit(pipeline, datetime.now(UTC) - timedelta(minutes=minutes))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        c = result.counts()
        typer.echo(
            f"last {minutes:g} min: {c['in']} in = {c['scored']} scored + {c['rejected']} rejected + "
            f"{c['superseded']} superseded + {c['in_flight']} in flight + {c['dead_lettered']} dead-lettered + "
            f"{c['lost']} lost"
        )
        for f in [f for f in result.files if f.state not in ("scored", "rejected")][:20]:
            typer.echo(f"  {f.state:13} {f.key} ({f.detail})")
        if result.ignored:
            typer.echo(f"  {len(result.ignored)} object(s) under incoming/ are never sent to scoring:")
            for key in result.ignored[:20]:
                typer.echo(f"  {'never sent':13} {key} ({layout.why_not_scored(key)})")
    if not result.balanced:
        raise CliError(
            f"{result.counts()['lost']} file(s) are unaccounted for",
            "re-upload them (or send their S3 events to the scoring queue); see the logs",
        )


@app.command()
def seed(
    rows: int = typer.Option(8000, help="labeled rows of training data"),
    seed_: int = typer.Option(1, "--seed", help="random seed (same seed, same data)"),
    covariate_shift: float = typer.Option(0.0, help="shift of the feature distributions"),
    concept_shift: float = typer.Option(0.0, help="change of the feature-label relationship"),
    target: str = TargetOption,
) -> None:
    """Generate labeled training data and upload it under training/."""
    pipeline = common.connect(target)
    key = layout.training_key(f"generated-seed{seed_}-{rows}.csv")
    body = generate(rows, seed=seed_, covariate_shift=covariate_shift, concept_shift=concept_shift)
    pipeline.s3.put_object(Bucket=pipeline.data_bucket, Key=key, Body=body)
    typer.echo(f"uploaded s3://{pipeline.data_bucket}/{key} ({rows:,} rows)")


@app.command("add-training-data")
def add_training_data(file: Path, target: str = TargetOption) -> None:
    """Upload a labeled CSV (your own data) under training/ for the next training run."""
    if not file.is_file():
        raise CliError(f"no such file: {file}", "give the path of a labeled CSV (or .csv.gz) file")
    pipeline = common.connect(target)
    key = layout.training_key(file.name)
    pipeline.s3.upload_file(str(file), pipeline.data_bucket, key)
    typer.echo(f"uploaded s3://{pipeline.data_bucket}/{key}; start a run with `mlops train`")


@app.command("add-holdout")
def add_holdout(file: Path, target: str = TargetOption) -> None:
    """Upload a labeled CSV under holdout/: the reference holdout every candidate and the champion are judged
    on, which no upload to incoming/ can change (never trained on)."""
    if not file.is_file():
        raise CliError(f"no such file: {file}", "give the path of a labeled CSV (or .csv.gz) file")
    pipeline = common.connect(target)
    key = layout.holdout_key(file.name)
    pipeline.s3.upload_file(str(file), pipeline.data_bucket, key)
    typer.echo(f"uploaded s3://{pipeline.data_bucket}/{key}; the next training run judges candidates on it")


@app.command()
@keeps_mlflow_current
def score(file: Path, target: str = TargetOption, timeout: float = typer.Option(300, help="seconds to wait")) -> None:
    """Upload a CSV under incoming/, wait for scoring, and say where the predictions (or the report) are."""
    if not file.is_file():
        raise CliError(f"no such file: {file}", "give the path of a CSV (or .csv.gz) file")
    pipeline = common.connect(target)
    upload = batches.upload_for_scoring(pipeline, file.read_bytes(), file.name)
    receipt = batches.wait_for_outcome(
        pipeline, upload["key"], upload["etag"], timeout_s=timeout, progress=common.progress("scoring")
    )
    typer.echo("", err=True)
    outputs = receipt.get("outputs", {})
    if receipt["outcome"] == "rejected":
        report = read_json(pipeline, outputs["report"])
        raise CliError(
            f"{file.name} was rejected ({report['kind']}): {report['error']}",
            f"{report['fix']}; report: s3://{pipeline.data_bucket}/{outputs['report']}",
        )
    if receipt["outcome"] == "superseded":
        raise CliError(
            f"{file.name} was overwritten under {upload['key']} before it was scored",
            "upload it again under a name of its own (`mlops audit` counts superseded files)",
        )
    if receipt["outcome"] == "fanned_out":
        typer.echo(
            f"{file.name} is large: split into {receipt['parts']} byte ranges, scored in parallel "
            f"under s3://{pipeline.data_bucket}/predictions/"
        )
        return
    typer.echo(f"scored {receipt['scored']:,} of {receipt['rows']:,} rows with model {receipt['model_version']}")
    for name, key in outputs.items():
        typer.echo(f"  {name}: s3://{pipeline.data_bucket}/{key}")
    drift = receipt.get("drift") or {}
    if drift:
        typer.echo(f"  {verdict_line(drift)}")
        for line in data_quality.quality_lines(drift):
            typer.echo(f"  {line}")
    for line in present.labeled_lines(present.labeled_of(receipt)):
        typer.echo(f"  {line}")
