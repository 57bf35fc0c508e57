"""`mlops image build` (mlopsctl/image.py, mlopsctl/commands/image.py) with fake engines: the build's command,
the base it builds from, and the errors an operator sees. No engine runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mlops_core.containers import Engine
from mlopsctl import cli
from mlopsctl import image as image_module
from mlopsctl.image import LOCAL_BASE, REGISTRY_BASE, ImageError, build_command

ROOT = Path("/repo")
PODMAN = Engine("podman", ("/usr/bin/podman", "--runtime", "/usr/sbin/runc"))
DOCKER = Engine("docker", ("/usr/bin/docker",))


def _which(*present: str):
    return lambda name: f"/usr/bin/{name}" if name in present else None


def test_given_docker_then_the_image_is_built_with_docker_build_from_the_given_base():
    argv = build_command(
        DOCKER, which=_which(), tag="t:latest", base="b", build_args={"MLOPS_CONFIG": "mlops.toml"}, root=ROOT
    )

    assert argv == [
        "/usr/bin/docker",
        "build",
        "--file",
        "/repo/training/Dockerfile",
        "--tag",
        "t:latest",
        "--build-arg=BASE=b",
        "--build-arg=MLOPS_CONFIG=mlops.toml",
        "/repo",
    ]


def test_given_podman_then_buildah_builds_in_a_chroot():
    argv = build_command(PODMAN, which=_which("buildah"), tag="t", base=LOCAL_BASE, build_args={}, root=ROOT)

    assert argv[:4] == ["/usr/bin/buildah", "bud", "--isolation", "chroot"]
    assert f"--build-arg=BASE={LOCAL_BASE}" in argv


def test_given_podman_without_buildah_then_the_error_says_what_to_install():
    with pytest.raises(ImageError, match="buildah") as raised:
        build_command(PODMAN, which=_which(), tag="t", base="b", build_args={}, root=ROOT)
    assert "apt" in raised.value.hint or "make image" in raised.value.hint


def _fake_runs(monkeypatch, *, pull_ok: bool) -> list[list[str]]:
    ran: list[list[str]] = []

    def run(argv, *, cwd=None, timeout=None):
        ran.append(argv)
        return 0 if pull_ok or "pull" not in argv else 125

    monkeypatch.setattr(image_module, "_run", run)
    monkeypatch.setattr(image_module.os, "geteuid", lambda: 0)
    return ran


def test_given_podman_and_a_registry_that_answers_then_python_slim_is_the_base(monkeypatch):
    ran = _fake_runs(monkeypatch, pull_ok=True)

    assert image_module._base(PODMAN, root=ROOT, base="auto", rebuild=False) == (REGISTRY_BASE, None)
    assert ran == [[*PODMAN.command, "pull", "--quiet", REGISTRY_BASE]]


def test_given_podman_and_no_registry_then_the_local_base_is_built_or_reused(monkeypatch):
    ran = _fake_runs(monkeypatch, pull_ok=False)

    base, seconds = image_module._base(PODMAN, root=ROOT, base="auto", rebuild=True)

    assert base == LOCAL_BASE and seconds is not None
    assert ran[-1] == ["bash", "/repo/training/local-base.sh", "--rebuild", LOCAL_BASE]


def test_given_base_local_then_no_pull_is_tried(monkeypatch):
    ran = _fake_runs(monkeypatch, pull_ok=True)

    assert image_module._base(PODMAN, root=ROOT, base="local", rebuild=False)[0] == LOCAL_BASE
    assert ran == [["bash", "/repo/training/local-base.sh", LOCAL_BASE]]


def test_given_an_image_as_base_then_it_is_used_as_given(monkeypatch):
    ran = _fake_runs(monkeypatch, pull_ok=True)

    assert image_module._base(PODMAN, root=ROOT, base="my/python:3.12", rebuild=False) == ("my/python:3.12", None)
    assert ran == []


def test_given_docker_and_the_local_base_then_it_is_refused():
    with pytest.raises(ImageError, match="local base"):
        image_module._base(DOCKER, root=ROOT, base="local", rebuild=False)


def test_given_no_engine_when_building_then_one_line_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setattr(image_module, "find_engine", lambda: None)
    monkeypatch.setattr(sys, "argv", ["mlops", "image", "build"])

    with pytest.raises(SystemExit) as exited:
        cli.main()

    err = capsys.readouterr().err
    assert exited.value.code == 1
    assert "error: no container engine on this machine" in err and "podman, buildah and runc" in err
    assert "Traceback" not in err


def test_given_the_image_group_then_build_is_listed_with_its_options():
    shown = CliRunner().invoke(cli.app, ["image", "build", "--help"], env={"COLUMNS": "200"})

    assert shown.exit_code == 0, shown.output
    assert all(option in shown.output for option in ("--config", "--base", "--rebuild-base"))
