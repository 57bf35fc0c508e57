"""The registry in MLflow: `mlops mlflow sync`, and `keeps_mlflow_current` for the commands after which
`[tracking] mlflow_uri` is synced by itself."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer
from botocore.exceptions import BotoCoreError, ClientError

from mlops_core.config import ProjectConfig, load_config

from ..stack import OpsError
from . import common
from .common import CliError, TargetOption

if TYPE_CHECKING:
    from ..mlflow_sync import SyncReport

app = typer.Typer(name="mlflow", help="The project's runs and models in MLflow.", no_args_is_help=True)


@app.command()
def sync(
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        help="the MLflow tracking server: http://127.0.0.1:5000, or a SageMaker managed MLflow ARN "
        "(arn:aws:sagemaker:REGION:ACCOUNT:mlflow-tracking-server/NAME, with `pip install sagemaker-mlflow`); "
        "default: [tracking] mlflow_uri",
    ),
    experiment: str | None = typer.Option(
        None, help="the MLflow experiment (default: [tracking] experiment, else the project's name)"
    ),
    target: str = TargetOption,
) -> None:
    """Log every training run, register every model version and set the champion and challenger aliases in
    MLflow; running it again adds only what is new."""
    config = load_config()
    uri = tracking_uri or config.tracking.mlflow_uri
    if uri is None:
        raise CliError(
            "no MLflow tracking server named", "pass --tracking-uri, or set [tracking] mlflow_uri in the config"
        )
    report, where = _sync(config, uri, experiment or config.tracking.experiment, target)
    typer.echo(f"synced to {where}: {report.summary}")
    for alias, version in report.aliases.items():
        typer.echo(f"  @{alias} -> {version or 'none'}")


def keeps_mlflow_current[**P, R](command: Callable[P, R]) -> Callable[P, R]:
    """Make a command that trains, registers, decides or shows the registry sync it to `[tracking] mlflow_uri`
    when it is done, whether it succeeded or failed (a failed run is a run too). A sync that fails is a warning:
    the command's own outcome stands, and the next sync completes what this one left."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        finally:
            sync_if_tracked(str(kwargs.get("target", "localstack")))

    return run


def sync_if_tracked(target: str) -> None:
    """Sync to `[tracking] mlflow_uri` if it is set; what was added, or why nothing could be, on stderr."""
    config = load_config()
    if config.tracking.mlflow_uri is None:
        return
    try:
        report, where = _sync(config, config.tracking.mlflow_uri, config.tracking.experiment, target)
    except (CliError, OpsError, BotoCoreError, ClientError) as exc:
        typer.secho(f"warning: MLflow not updated: {exc}", fg="yellow", err=True)
        typer.echo("hint: the next command, or `mlops mlflow sync`, completes it", err=True)
        return
    if report.added:
        typer.echo(f"synced to MLflow at {where}: {report.summary}", err=True)


def _sync(config: ProjectConfig, tracking_uri: str, experiment: str | None, target: str) -> tuple[SyncReport, str]:
    """Sync the project's registry on `target`; the report and where it went."""
    if tracking_uri.startswith("arn:") and importlib.util.find_spec("sagemaker_mlflow") is None:
        raise CliError(
            "a SageMaker managed MLflow ARN needs its authentication plugin",
            "pip install sagemaker-mlflow (into .venv), then run the sync again",
        )
    from .. import mlflow_sync  # noqa: PLC0415 - MLflow takes seconds to import; only a sync needs it

    name = config.name
    experiment = experiment or name
    report = mlflow_sync.sync(common.connect(target), tracking_uri=tracking_uri, experiment=experiment, model_name=name)
    return report, f"{tracking_uri} (experiment {experiment}, registered model {name})"
