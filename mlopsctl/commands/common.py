"""What the command groups share: the repository, the deployed stack a command works on, the --target
option, progress on stderr, and the error shown as a message and a hint (`CliError`)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import typer

from ..stack import Pipeline

ROOT = Path(__file__).resolve().parents[2]

TargetOption = typer.Option("localstack", "--target", help="localstack or aws")


class CliError(Exception):
    """An error shown to the operator as one line plus a hint, not a traceback."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def connect(target: str) -> Pipeline:
    """The chosen project's stack deployed to `target` (tests replace this to run commands without one)."""
    return Pipeline.connect(ROOT, target)


def progress(label: str) -> Callable[[float], None]:
    """A one-line progress display for long waits (stderr, so stdout stays clean for scripts)."""

    interactive = sys.stderr.isatty()
    shown = [-10.0]

    def show(elapsed: float) -> None:
        if interactive:
            typer.echo(f"\r  {label}... {elapsed:4.0f} s ", nl=False, err=True)
        elif elapsed - shown[0] >= 10:  # logs and CI: a line every 10 s
            shown[0] = elapsed
            typer.echo(f"  {label}... {elapsed:.0f} s", err=True)

    return show


def echo_lines(lines: list[str]) -> None:
    """Each line on its own (nothing for no lines)."""
    for line in lines:
        typer.echo(line)
