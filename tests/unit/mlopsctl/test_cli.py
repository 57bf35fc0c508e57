"""The `mlops` app (mlopsctl/cli.py) and its command groups (mlopsctl/commands/): no command lost or doubled."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest
import typer
from typer.main import get_command_name

from mlopsctl import cli

ROOT = Path(__file__).resolve().parents[3]

COMMANDS = (
    "init",
    "setup",
    "up",
    "down",
    "deploy",
    "local-status",
    "train",
    "redrive",
    "audit",
    "seed",
    "add-training-data",
    "add-holdout",
    "score",
    "status",
    "challenge",
    "rollback",
    "approve",
    "reject",
    "register",
    "report",
    "demo",
)


def registered(app: typer.Typer) -> list[str]:
    """The names of the commands registered on `app` and on the groups added to it, repeats included."""
    names = [info.name or get_command_name(info.callback.__name__) for info in app.registered_commands if info.callback]
    for group in app.registered_groups:
        if group.typer_instance:
            names += registered(group.typer_instance)
    return names


def test_given_the_app_when_listing_its_commands_then_each_is_registered_exactly_once_and_help_lists_them():
    names = registered(cli.app)

    assert {name: names.count(name) for name in COMMANDS} == dict.fromkeys(COMMANDS, 1)
    assert [name for name, times in Counter(names).items() if times > 1] == []
    assert set(typer.main.get_command(cli.app).commands) >= set(COMMANDS)  # what click runs: the groups merged

    entry_point = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["mlops"]
    module, _, function = entry_point.partition(":")  # mlopsctl.cli:main
    shown = subprocess.run(
        [sys.executable, "-c", f"from {module} import {function}; {function}()", "--help"],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert all(f" {name} " in shown.stdout for name in COMMANDS), shown.stdout


def test_given_no_local_aws_when_a_command_connects_then_one_line_says_how_to_start_it(monkeypatch, capsys):
    from botocore.exceptions import EndpointConnectionError

    from mlopsctl.commands import common

    def unreachable(target: str):
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:4566/")

    monkeypatch.setattr(common, "connect", unreachable)
    monkeypatch.setattr(sys, "argv", ["mlops", "status"])

    with pytest.raises(SystemExit) as exited:
        cli.main()

    err = capsys.readouterr().err
    assert exited.value.code == 1
    assert "error: nothing answers at http://127.0.0.1:4566/" in err and "mlops up" in err
    assert "Traceback" not in err


def test_given_a_local_aws_that_forgot_the_stack_when_a_command_reads_it_then_one_line_says_to_deploy(
    monkeypatch, capsys
):
    from botocore.exceptions import ClientError

    from mlopsctl.commands import common

    def forgotten(target: str):
        error = {"Error": {"Code": "NoSuchBucket", "Message": "The specified bucket does not exist", "BucketName": "b"}}
        raise ClientError(error, "GetObject")

    monkeypatch.setattr(common, "connect", forgotten)
    monkeypatch.setattr(sys, "argv", ["mlops", "status"])

    with pytest.raises(SystemExit) as exited:
        cli.main()

    err = capsys.readouterr().err
    assert exited.value.code == 1 and "Traceback" not in err
    assert "error: the stack's bucket b is not there" in err and "mlops deploy" in err
