"""The `mlops` command: run local AWS, deploy the stack and operate the pipeline."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import typer

from .deploy import STACK_NAME, DeployError
from .deploy import deploy as deploy_stack
from .localaws import LocalAws, LocalAwsError

ROOT = Path(__file__).resolve().parent.parent

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)


class CliError(Exception):
    """An error shown to the operator as one line plus a hint, not a traceback."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def _local_aws() -> LocalAws:
    return LocalAws(ROOT, log=lambda msg: typer.echo(msg, err=True))


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
    outputs = deploy_stack(ROOT, target=target, log=lambda msg: typer.echo(msg, err=True))
    typer.echo(f"deployed {STACK_NAME} to {target} in {time.monotonic() - started:.0f} s")
    for key in ("DataBucket", "ModelsBucket", "ScoringQueueUrl"):
        typer.echo(f"  {key}: {outputs.get(key)}")


@app.command("local-status")
def local_status() -> None:
    """Whether local AWS is running, and who started it."""
    typer.echo(_local_aws().status().describe())


def main() -> None:
    """Console-script entry point: expected failures print one line and a hint."""
    try:
        app(standalone_mode=False)
    except (CliError, LocalAwsError, DeployError) as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        hint = getattr(exc, "hint", "")
        if hint:
            typer.echo(f"hint: {hint}", err=True)
        sys.exit(1)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        code = getattr(exc, "exit_code", None)
        if code is None:
            raise
        if hasattr(exc, "show"):
            exc.show()
        sys.exit(code)
