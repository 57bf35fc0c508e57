"""Where a model came from: reproduce (train a run again from its recorded inputs)."""

from __future__ import annotations

from typing import Any

import typer

from .. import runs
from . import common
from .common import CliError, TargetOption

app = typer.Typer()


@app.command()
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
