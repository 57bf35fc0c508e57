"""Where a model came from: reproduce (train a run again from its recorded inputs), lineage (its chain from data
to the batches it scored, or which model scored a file)."""

from __future__ import annotations

import json
from typing import Any

import typer

from .. import lineage as chains
from .. import runs
from ..lineage_text import file_lines, lineage_lines
from . import common
from .common import CliError, TargetOption
from .tracking import keeps_mlflow_current

app = typer.Typer()


@app.command()
@keeps_mlflow_current
def reproduce(
    run_id: str = typer.Argument(..., help="the training run to train again (`mlops status` lists recent runs)"),
    target: str = TargetOption,
) -> None:
    """Train a run again from exactly the object versions, config and seeds it recorded, on the same backend,
    and compare its model with the registered one on the same holdout rows (registers nothing; exit 1 if not
    reproduced)."""
    pipeline = common.connect(target)
    original = pipeline.ledger().get(run_id)
    if original is None:
        raise CliError(f"no training run {run_id}", "`mlops status` lists the recent runs")
    backend = original.get("backend") if original.get("backend") in ("lambda", "container", "sagemaker") else None
    started = runs.start_training(pipeline, f"reproduce {run_id}", backend, reproduce=run_id)
    if not started.get("started"):
        raise CliError(f"no run started: {started.get('reason')} (run {started.get('run_id')})", "try again later")
    typer.echo(f"reproducing {run_id} as run {started['run_id']}" + (f" ({backend})" if backend else ""))
    run = runs.wait_for_run(pipeline, started["run_id"], progress=common.progress("training"))
    typer.echo("", err=True)
    if run["status"] == "failed":
        raise CliError(f"{run_id} could not be reproduced: {run.get('error')}", "see `mlops lineage` for its inputs")
    result = run["reproduction"]
    for line in reproduction_lines(result):
        typer.echo(line)
    if result["verdict"] == "differs":
        raise typer.Exit(1)


def reproduction_lines(result: dict[str, Any]) -> list[str]:
    """The verdict, what differs, and what changed since the run (the likely why)."""
    of = result["reproduces"]
    gap = result["max_prediction_gap"]
    lines = [
        f"{result['verdict']}: {of['run_id']} (version {of['version']}), trained again from the same object versions; "
        f"holdout predictions on {result['holdout_rows']:,} rows "
        + ("identical" if gap == 0 else f"differ by up to {gap:.3g}")
    ]
    lines += [f"  differs: {difference}" for difference in result["differences"]]
    lines += [f"  changed since: {change}" for change in result["changed"]]
    return lines


@app.command()
def lineage(
    version: str | None = typer.Argument(None, help="the model version (`mlops status` lists them)"),
    file: str | None = typer.Option(None, "--file", help="an incoming/ key: which model versions scored it"),
    max_batches: int = typer.Option(
        chains.MAX_BATCHES, "--max-batches", min=1, help="read at most this many scoring receipts, newest first"
    ),
    as_json: bool = typer.Option(False, "--json", help="the same as one JSON object"),
    target: str = TargetOption,
) -> None:
    """A version's chain: the data it was trained on (object versions, SHA-256, rows), the run and its trigger,
    its metrics and config and code digests, the decisions about it, the batches it scored, and what replaced it;
    with --file, which model versions scored a file, where the outputs are and the drift verdict."""
    if (version is None) == (file is None):
        raise CliError(
            "give a VERSION or --file KEY (one of them)",
            "mlops lineage v2026... or mlops lineage --file incoming/x.csv",
        )
    pipeline = common.connect(target)
    if file is not None:
        found = chains.file_lineage(pipeline, file)
        lines = file_lines(found)
    else:
        found = chains.lineage(pipeline, str(version), max_batches=max_batches)
        lines = lineage_lines(found)
    if as_json:
        typer.echo(json.dumps(found, indent=2, default=str))
    else:
        common.echo_lines(lines)
