"""The online endpoint: predict, feedback."""

from __future__ import annotations

import sys

import typer

from .. import online
from . import common
from .common import TargetOption

app = typer.Typer()

RecordsArgument = typer.Argument(
    ..., help="a JSON record ('{\"tenure_months\": 3, ...}'), a JSON list, or a .jsonl file"
)


@app.command()
def predict(records: str = RecordsArgument, target: str = TargetOption) -> None:
    """Score records through the online endpoint (signed with your AWS credentials on AWS) and print the answer."""
    _send("predict", records, target)


@app.command()
def feedback(records: str = RecordsArgument, target: str = TargetOption) -> None:
    """Post labels for records answered before: each {"<id column>": ..., "<label column>": ...}."""
    _send("feedback", records, target)


def _send(route: str, records: str, target: str) -> None:
    status, answer = online.post(common.connect(target), route, online.read_records(records))
    typer.echo(answer)
    if status >= 400:
        typer.secho(f"error: the endpoint answered {status}", fg="red", err=True)
        sys.exit(1)
