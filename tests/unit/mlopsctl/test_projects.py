"""Several projects side by side: one outputs file holds every stack's outputs, and the CLI's --config
chooses which project (and so which stack) a command works on. No network."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_core.config import CONFIG_ENV
from mlopsctl import cli, stack
from mlopsctl.commands import common
from mlopsctl.deploy import forget_outputs, load_outputs, one_cdk_at_a_time, outputs_path, save_outputs

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "breast-cancer" / "mlops.toml"
DEFAULT = {"DataBucket": "mlops-data", "ModelsBucket": "mlops-models"}
CANCER = {"DataBucket": "cancer-data", "ModelsBucket": "cancer-models"}


@pytest.fixture
def no_chosen_config(monkeypatch):
    """No project chosen; whatever a test sets in MLOPS_CONFIG is undone after it."""
    monkeypatch.setenv(CONFIG_ENV, "")  # recorded, so teardown restores the original state
    monkeypatch.delenv(CONFIG_ENV)


def test_given_two_stacks_deployed_then_the_outputs_file_keeps_both(tmp_path):
    path = outputs_path(tmp_path, "localstack")
    save_outputs(path, "MlopsStack", DEFAULT)
    save_outputs(path, "MlopsStack-cancer", CANCER)
    save_outputs(path, "MlopsStack", {**DEFAULT, "BuildLabel": "v2"})  # a redeploy replaces only its own
    assert json.loads(path.read_text()) == {
        "MlopsStack": {**DEFAULT, "BuildLabel": "v2"},
        "MlopsStack-cancer": CANCER,
    }
    assert load_outputs(tmp_path, "localstack", "MlopsStack-cancer") == CANCER
    assert (load_outputs(tmp_path, "localstack", "MlopsStack") or {}).get("BuildLabel") == "v2"


def test_given_stacks_saved_and_forgotten_while_another_process_reads_then_it_never_sees_a_torn_file(tmp_path):
    """A test's own stack is removed (its entry forgotten) while the demo reads its outputs, without the lock."""
    path = outputs_path(tmp_path, "localstack")
    save_outputs(path, "MlopsStack", DEFAULT)
    errors: list[Exception] = []
    done = threading.Event()

    def churn() -> None:
        for _ in range(300):
            save_outputs(path, "MlopsStack-cancer", CANCER)
            forget_outputs(path, "MlopsStack-cancer")
        done.set()

    writer = threading.Thread(target=churn)
    writer.start()
    while not done.is_set():
        try:
            assert load_outputs(tmp_path, "localstack", "MlopsStack") == DEFAULT
        except Exception as exc:  # any failure to read is what this test looks for
            errors.append(exc)
    writer.join()
    assert errors == []
    assert load_outputs(tmp_path, "localstack", "MlopsStack-cancer") is None


def test_given_a_deploy_holding_the_lock_then_a_second_deploy_waits_for_it(tmp_path):
    events: list[str] = []
    first_holds = threading.Event()

    def second() -> None:
        first_holds.wait()
        with one_cdk_at_a_time(tmp_path):
            events.append("second in")

    waiter = threading.Thread(target=second)
    waiter.start()
    with one_cdk_at_a_time(tmp_path):
        events.append("first in")
        first_holds.set()
        time.sleep(0.3)  # the second would get in now if the lock did not hold it
        events.append("first out")
    waiter.join(timeout=10)
    assert events == ["first in", "first out", "second in"]


def test_given_no_deploy_then_load_outputs_is_none(tmp_path):
    assert load_outputs(tmp_path, "aws", "MlopsStack") is None
    save_outputs(outputs_path(tmp_path, "aws"), "MlopsStack", DEFAULT)
    assert load_outputs(tmp_path, "aws", "MlopsStack-cancer") is None


def test_given_a_chosen_project_then_connect_finds_its_stack_outputs(tmp_path, monkeypatch, no_chosen_config):
    save_outputs(outputs_path(tmp_path, "localstack"), "MlopsStack", DEFAULT)
    save_outputs(outputs_path(tmp_path, "localstack"), "MlopsStack-cancer", CANCER)
    assert stack.Pipeline.connect(tmp_path).data_bucket == "mlops-data"
    monkeypatch.setenv(CONFIG_ENV, str(EXAMPLE))
    assert stack.Pipeline.connect(tmp_path).data_bucket == "cancer-data"


def test_given_a_project_not_deployed_then_the_error_names_it_and_how_to_deploy(
    tmp_path, monkeypatch, no_chosen_config
):
    monkeypatch.setenv(CONFIG_ENV, str(EXAMPLE))
    with pytest.raises(stack.OpsError, match="project 'cancer' is not deployed to aws") as error:
        stack.Pipeline.connect(tmp_path, "aws")
    assert "mlops --config " in error.value.hint
    assert "breast-cancer/mlops.toml deploy --target aws" in error.value.hint


def test_given_the_config_option_then_every_command_works_on_that_project(tmp_path, monkeypatch, no_chosen_config):
    monkeypatch.setattr(common, "ROOT", tmp_path)
    monkeypatch.chdir(ROOT)
    save_outputs(outputs_path(tmp_path, "localstack"), "MlopsStack", DEFAULT)
    result = CliRunner().invoke(cli.app, ["--config", str(EXAMPLE.relative_to(ROOT)), "status"])
    assert isinstance(result.exception, stack.OpsError)
    assert "project 'cancer'" in str(result.exception)
    assert Path(os.environ[CONFIG_ENV]) == EXAMPLE  # absolute, for the CDK app's subprocess too


def test_given_no_config_option_then_mlops_config_is_left_alone(tmp_path, monkeypatch, no_chosen_config):
    monkeypatch.setattr(common, "ROOT", tmp_path)
    result = CliRunner().invoke(cli.app, ["status"])
    assert isinstance(result.exception, stack.OpsError)
    assert "project 'mlops'" in str(result.exception) and "`mlops deploy --target localstack`" in result.exception.hint
    assert CONFIG_ENV not in os.environ
