"""Which container engine this machine has and what its runs need (mlops_core/containers.py), with fakes: no
engine is needed."""

from __future__ import annotations

import re
import resource

import pytest

from mlops_core.containers import Engine, config_build_args, find_engine, local_image, podman_ulimits

INFINITY = resource.RLIM_INFINITY


def _which(*present: str):
    return lambda name: f"/usr/bin/{name}" if name in present else None


def test_given_docker_whose_daemon_answers_then_docker_is_the_engine():
    asked = []

    def answers(argv):
        asked.append(argv)
        return True

    engine = find_engine(_which("docker", "podman", "runc"), answers=answers)

    assert engine == Engine("docker", ("/usr/bin/docker",))
    assert asked == [["/usr/bin/docker", "info"]]
    assert engine.run_options() == []


def test_given_a_docker_cli_without_its_daemon_and_podman_with_runc_then_podman_runs_on_runc():
    engine = find_engine(_which("docker", "podman", "runc"), answers=lambda argv: False)

    assert engine == Engine("podman", ("/usr/bin/podman", "--runtime", "/usr/bin/runc"))


def test_given_podman_without_runc_then_podman_keeps_its_own_runtime():
    assert find_engine(_which("podman"), answers=lambda argv: True) == Engine("podman", ("/usr/bin/podman",))


def test_given_no_engine_then_none():
    assert find_engine(_which("runc", "buildah"), answers=lambda argv: True) is None


def _limits(nofile: int, nproc: int):
    return lambda which: {resource.RLIMIT_NOFILE: (1024, nofile), resource.RLIMIT_NPROC: (100, nproc)}[which]


def test_given_hard_limits_then_podman_runs_at_them_and_nproc_at_most_pid_max():
    options = podman_ulimits(getrlimit=_limits(20000, 96367), pid_max=lambda: 32768)

    assert options == ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


def test_given_nproc_below_pid_max_then_nproc_is_the_hard_limit():
    options = podman_ulimits(getrlimit=_limits(20000, 4096), pid_max=lambda: 32768)

    assert options[-1] == "nproc=4096:4096"


def test_given_unlimited_limits_and_no_pid_max_then_podman_keeps_its_defaults():
    assert podman_ulimits(getrlimit=_limits(INFINITY, INFINITY), pid_max=lambda: None) == []


def test_given_podman_on_this_machine_then_its_run_options_are_the_process_hard_limits():
    options = Engine("podman", ("podman",)).run_options()

    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert nofile == INFINITY or f"nofile={nofile}:{nofile}" in options


@pytest.mark.parametrize(
    ("project", "tag"),
    [
        ("mlops", "localhost/serverless-mlops-training-mlops:latest"),
        ("breast-cancer", "localhost/serverless-mlops-training-breast-cancer:latest"),
        ("My_Project!", "localhost/serverless-mlops-training-my-project:latest"),
    ],
)
def test_given_a_project_name_then_its_image_tag_is_lowercase_and_valid(project, tag):
    assert local_image(project) == tag
    name, _, version = tag.rpartition(":")
    assert re.fullmatch(r"localhost(/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+", name) and version == "latest"


def test_given_a_name_with_nothing_to_tag_then_it_is_refused():
    with pytest.raises(ValueError, match="no letter or digit"):
        local_image("--")


def test_given_a_config_inside_the_context_then_the_build_argument_is_its_relative_path(tmp_path):
    (tmp_path / "examples").mkdir()
    config = tmp_path / "examples" / "mlops.toml"

    assert config_build_args(config, context=tmp_path) == {"MLOPS_CONFIG": "examples/mlops.toml"}


def test_given_a_config_outside_the_context_then_it_is_refused(tmp_path):
    with pytest.raises(ValueError, match="inside the repository"):
        config_build_args(tmp_path / "mlops.toml", context=tmp_path / "repo")
