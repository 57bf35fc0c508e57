"""Local AWS and the stack on it: setup, up, down, deploy, local-status."""

from __future__ import annotations

import time

import typer

from mlops_core.config import load_config

from ..deploy import deploy as deploy_stack
from ..localaws import LocalAws
from . import common
from .common import CliError

app = typer.Typer()


def _local_aws() -> LocalAws:
    return LocalAws(common.ROOT, log=lambda msg: typer.echo(msg, err=True))


@app.command()
def setup() -> None:
    """Install local AWS (LocalStack's own virtualenv and the Lambda runtimes); idempotent."""
    _local_aws().install()
    typer.echo("local AWS installed")


@app.command()
def up() -> None:
    """Start local AWS (LocalStack on the host, functions as local processes)."""
    typer.echo(_local_aws().up().describe())


@app.command()
def down() -> None:
    """Stop the local AWS that `up` started (an external one is left alone)."""
    stopped = _local_aws().down()
    typer.echo("local AWS stopped" if stopped else "nothing to stop: local AWS was not started by this project")


@app.command()
def deploy(
    target: str = typer.Option("localstack", help="localstack (local AWS on this machine) or aws (your account)"),
) -> None:
    """Deploy the stack (bootstraps local AWS first if needed); writes the stack outputs file."""
    if target not in ("localstack", "aws"):
        raise CliError(f"unknown target {target!r}", "use --target localstack or --target aws")
    started = time.monotonic()
    outputs = deploy_stack(common.ROOT, target=target, log=lambda msg: typer.echo(msg, err=True))
    typer.echo(f"deployed {load_config().stack_name} to {target} in {time.monotonic() - started:.0f} s")
    for key in ("DataBucket", "ModelsBucket", "ScoringQueueUrl"):
        typer.echo(f"  {key}: {outputs.get(key)}")


@app.command("local-status")
def local_status() -> None:
    """Whether local AWS is running, and who started it."""
    typer.echo(_local_aws().status().describe())
