"""`[tracking] mlflow_uri`: the commands that train, register, decide or show the registry sync it when they are
done (mlopsctl/commands/tracking.py), to a real MLflow store (SQLite) over moto S3."""

from __future__ import annotations

import tomllib
from pathlib import Path

import boto3
import pytest
import typer
from mlflow import MlflowClient
from typer.testing import CliRunner

from mlops_core.config import CONFIG_ENV, CONFIG_FILE
from mlopsctl import cli
from mlopsctl.commands import common, tracking
from mlopsctl.commands.common import TargetOption
from mlopsctl.datagen import generate
from mlopsctl.stack import Pipeline
from tests.unit.conftest import DATA, MODELS, REGION, run_training_job

ROOT = Path(__file__).resolve().parents[3]
# The commands after which the registry may have changed (or is shown): each keeps MLflow current.
SYNCING = {"train", "score", "status", "challenge", "rollback", "approve", "reject", "register", "reproduce", "demo"}


@pytest.fixture
def tracked(tmp_path, monkeypatch) -> str:
    """A config with [tracking] mlflow_uri on an SQLite store in tmp_path; the store's URI."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    text = (ROOT / CONFIG_FILE).read_text()
    assert "tracking" not in tomllib.loads(text)
    path = tmp_path / CONFIG_FILE
    path.write_text(f'{text}\n[tracking]\nmlflow_uri = "{uri}"\nexperiment = "tracked"\n')
    monkeypatch.setenv(CONFIG_ENV, str(path))
    monkeypatch.chdir(tmp_path)  # MLflow's SQLite store puts artifacts under ./mlruns
    return uri


@pytest.fixture
def trained(aws, config, monkeypatch) -> str:
    """One training run on moto, and the CLI connected to it; the run's version."""
    monkeypatch.setattr("training.job.put_metrics", lambda *args, **kwargs: None)
    aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(1200, seed=1))
    result = run_training_job(aws, config, run_id="run-1", trigger={"source": "alarm", "reason": "drift"})
    pipeline = Pipeline({"DataBucket": DATA, "ModelsBucket": MODELS}, boto3.Session(region_name=REGION), None)
    monkeypatch.setattr(common, "connect", lambda target: pipeline)
    return result["version"]


def command_app(outcome: Exception | None = None) -> typer.Typer:
    """One command that keeps MLflow current, ending in `outcome` (None: it succeeds)."""
    app = typer.Typer()

    @app.command()
    @tracking.keeps_mlflow_current
    def act(target: str = TargetOption) -> None:
        typer.echo(f"acted on {target}")
        if outcome is not None:
            raise outcome

    return app


def runs_in(uri: str) -> list[str]:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("tracked")
    return (
        []
        if experiment is None
        else [r.data.tags["mlops.run_id"] for r in client.search_runs([experiment.experiment_id])]
    )


def test_given_a_tracking_uri_when_a_command_is_done_then_the_alarm_run_is_in_mlflow_and_said_on_stderr(
    tracked, trained
):
    result = CliRunner().invoke(command_app(), [])
    assert result.exit_code == 0, result.output
    assert result.stdout == "acted on localstack\n"  # stdout stays the command's own (`status --json`)
    assert (
        f"synced to MLflow at {tracked} (experiment tracked, registered model mlops): 1 run(s) and 1 version(s) added"
        in result.stderr
    )
    assert runs_in(tracked) == ["run-1"]
    assert MlflowClient(tracked).get_model_version_by_alias("mlops", "champion").tags["mlops.version"] == trained


def test_given_a_command_that_fails_then_mlflow_is_still_synced_and_the_error_stands(tracked, trained):
    result = CliRunner().invoke(command_app(common.CliError("the run failed")), [])
    assert isinstance(result.exception, common.CliError)
    assert runs_in(tracked) == ["run-1"]


def test_given_a_tracking_server_that_is_down_then_a_warning_and_the_command_succeeds(
    tracked, trained, tmp_path, monkeypatch
):
    text = Path(tmp_path / CONFIG_FILE).read_text().replace(tracked, "http://127.0.0.1:9")
    Path(tmp_path / CONFIG_FILE).write_text(text)
    result = CliRunner().invoke(command_app(), [])
    assert result.exit_code == 0
    assert "warning: MLflow not updated: the MLflow tracking server at http://127.0.0.1:9 failed" in result.stderr
    assert "`mlops mlflow sync`, completes it" in result.stderr


def test_given_no_tracking_section_then_a_command_syncs_nothing(trained, monkeypatch):
    monkeypatch.setattr(tracking, "_sync", lambda *args: pytest.fail("synced without [tracking] mlflow_uri"))
    assert CliRunner().invoke(command_app(), []).exit_code == 0


def test_given_the_app_then_exactly_the_commands_that_change_or_show_the_registry_keep_mlflow_current():
    def wrapped(app: typer.Typer) -> set[str]:
        names = {
            info.callback.__name__.replace("_", "-")
            for info in app.registered_commands
            if info.callback and getattr(info.callback, "__wrapped__", None)
        }
        return names.union(*(wrapped(g.typer_instance) for g in app.registered_groups if g.typer_instance))

    assert wrapped(cli.app) == SYNCING
