"""The `mlops` command: run local AWS, deploy the stack and operate the pipeline."""

# The app, its global --config option and its error handling; the commands are in mlopsctl/commands/.

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import typer
from botocore.exceptions import ClientError, EndpointConnectionError

from mlops_core.config import CONFIG_ENV, ConfigError

from .commands import decisions, image, init, local, models, online, pipeline, provenance, reports, tracking
from .commands.common import CliError
from .deploy import DeployError
from .image import ImageError
from .localaws import LocalAwsError
from .stack import OpsError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)
for group in (init, local, pipeline, provenance, models, online, decisions, reports, image, tracking):
    app.add_typer(group.app)


@app.callback()
def project(
    config: Path | None = typer.Option(
        None,
        "--config",
        help="the project's config file (default: mlops.toml); each project has its own stack",
        exists=True,
        dir_okay=False,
        resolve_path=True,
    ),
) -> None:
    """Choose the project every command works on (sets MLOPS_CONFIG for this process and the CDK app)."""
    if config:
        os.environ[CONFIG_ENV] = str(config)


def _fail(message: str, hint: str) -> NoReturn:
    typer.secho(f"error: {message}", fg="red", err=True)
    if hint:
        typer.echo(f"hint: {hint}", err=True)
    sys.exit(1)


def main() -> None:
    """Console-script entry point: expected failures print one line and a hint."""
    try:
        app(standalone_mode=False)
    except (CliError, LocalAwsError, DeployError, OpsError, ConfigError, ImageError) as exc:
        _fail(str(exc), getattr(exc, "hint", ""))
    except EndpointConnectionError as exc:
        _fail(
            f"nothing answers at {exc.kwargs.get('endpoint_url', 'the AWS endpoint')}",
            "start local AWS with `mlops up` (or `make up`); with --target aws, check the network and the region",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise
        bucket = exc.response["Error"].get("BucketName")
        _fail(
            f"the stack's bucket {bucket} is not there" if bucket else "the stack's buckets are not there",
            "deploy the stack: `mlops deploy` (local AWS keeps nothing once it stops); "
            "with --target aws, check the region and that the stack exists",
        )
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # click usage errors carry their own exit code
        code = getattr(exc, "exit_code", None)
        if code is None:
            raise
        if hasattr(exc, "show"):
            exc.show()
        sys.exit(code)
