"""Start a project from data: init."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops_core.config import TASKS, ConfigError
from mlops_core.data import FileRejected

from ..infer import InferError, describe, infer
from ..initwrite import render
from .common import CliError, echo_lines

app = typer.Typer()


@app.command()
def init(
    data: Path = typer.Argument(..., help="a CSV (or .csv.gz) with a header row", exists=True, dir_okay=False),
    *,
    label: str = typer.Option(..., "--label", help="the column the model predicts"),
    task: str | None = typer.Option(None, "--task", help="binary, multiclass or regression (default: inferred)"),
    ids: list[str] = typer.Option([], "--id", help="a column to leave out as an id (repeatable)"),
    out: Path = typer.Option(Path("mlops.toml"), "--out", help="the file to write"),
    name: str | None = typer.Option(None, "--name", help="the project's name (its stack, buckets, alarms)"),
    force: bool = typer.Option(False, "--force", help="overwrite the file if it exists"),
) -> None:
    """Write a commented mlops.toml from DATA: each column typed (or left out, with why), the label's task,
    every other setting at its default; print what was inferred and why."""
    if out.exists() and not force:
        raise CliError(f"{out} exists; nothing written", "use --force to overwrite it, or --out another file")
    if task is not None and task not in TASKS:
        raise CliError(f"--task must be one of {', '.join(TASKS)}, not {task!r}")
    try:
        inference = infer(data, label, task=task, ids=ids)
    except InferError as exc:
        raise CliError(str(exc)) from exc
    except FileRejected as exc:
        raise CliError(f"{data} cannot be read: {exc}", exc.fix) from exc
    try:
        text = render(inference, name=name)
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    echo_lines(describe(inference))
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}: {len(inference.features)} features; every other setting at its default, commented")
