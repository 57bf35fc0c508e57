"""The registry in MLflow: mlflow sync."""

from __future__ import annotations

import importlib.util

import typer

from mlops_core.config import load_config

from . import common
from .common import CliError, TargetOption

app = typer.Typer(name="mlflow", help="The project's runs and models in MLflow.", no_args_is_help=True)


@app.command()
def sync(
    tracking_uri: str = typer.Option(
        ...,
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        help="the MLflow tracking server: http://127.0.0.1:5000, or a SageMaker managed MLflow ARN "
        "(arn:aws:sagemaker:REGION:ACCOUNT:mlflow-tracking-server/NAME, with `pip install sagemaker-mlflow`)",
    ),
    experiment: str | None = typer.Option(None, help="the MLflow experiment (default: the project's name)"),
    target: str = TargetOption,
) -> None:
    """Log every training run, register every model version and set the champion and challenger aliases in
    MLflow; running it again adds only what is new."""
    if tracking_uri.startswith("arn:") and importlib.util.find_spec("sagemaker_mlflow") is None:
        raise CliError(
            "a SageMaker managed MLflow ARN needs its authentication plugin",
            "pip install sagemaker-mlflow (into .venv), then run the sync again",
        )
    from .. import mlflow_sync  # noqa: PLC0415 - MLflow takes seconds to import; only this command needs it

    name = load_config().name
    report = mlflow_sync.sync(
        common.connect(target), tracking_uri=tracking_uri, experiment=experiment or name, model_name=name
    )
    typer.echo(
        f"synced to {tracking_uri} (experiment {experiment or name}, registered model {name}): "
        f"{len(report.runs)} run(s) and {len(report.versions)} version(s) added"
    )
    for alias, version in report.aliases.items():
        typer.echo(f"  @{alias} -> {version or 'none'}")
