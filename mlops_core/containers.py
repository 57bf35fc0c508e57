"""Container engines on this machine, for the training image (training/Dockerfile): which engine there is and the
options its runs need, the image's local tag, and its config build argument.

Shared by `mlops image build`, the stack (the image's tag) and the local SageMaker-style runner
(training/local_jobs.py). Standard library only: this package ships in every Lambda bundle and in the `mlops` wheel.
"""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

PID_MAX = Path("/proc/sys/kernel/pid_max")
DOCKER_INFO_TIMEOUT_S = 10


@dataclass(frozen=True)
class Engine:
    """A container engine: its name and the argv prefix every command starts with."""

    name: Literal["docker", "podman"]
    command: tuple[str, ...]  # e.g. ("podman", "--runtime", "runc")

    def run_options(self) -> list[str]:
        """Options every `run` needs on this machine: podman's ulimits at the current hard limits; none for docker.

        podman asks for RLIMIT_NOFILE 1048576 and a larger RLIMIT_NPROC than the process may set without
        CAP_SYS_RESOURCE, so the run fails with EPERM (`--ulimit host` does not help in podman 4.3)."""
        return podman_ulimits() if self.name == "podman" else []


def podman_ulimits(
    *,
    getrlimit: Callable[[int], tuple[int, int]] = resource.getrlimit,
    pid_max: Callable[[], int | None] = lambda: _read_int(PID_MAX),
) -> list[str]:
    """`--ulimit nofile=N:N` and `--ulimit nproc=M:M` at this process's hard limits, nproc no higher than pid_max
    (the runtime cannot exceed it). A limit with no bound (unlimited, no pid_max) is left to podman."""
    options = []
    nofile = _bounded(getrlimit(resource.RLIMIT_NOFILE)[1])
    if nofile is not None:
        options += ["--ulimit", f"nofile={nofile}:{nofile}"]
    nproc_bounds = [b for b in (_bounded(getrlimit(resource.RLIMIT_NPROC)[1]), pid_max()) if b is not None]
    if nproc_bounds:
        options += ["--ulimit", f"nproc={min(nproc_bounds)}:{min(nproc_bounds)}"]
    return options


def find_engine(
    which: Callable[[str], str | None] = shutil.which,
    *,
    answers: Callable[[list[str]], bool] | None = None,
) -> Engine | None:
    """docker if its daemon answers (`docker info`), else podman (with runc as its runtime when runc is installed:
    crun 1.8 refuses hybrid cgroup layouts), else None. `answers` runs a command and says whether it succeeded."""
    answers = answers or _succeeds
    docker = which("docker")
    if docker and answers([docker, "info"]):
        return Engine("docker", (docker,))
    podman = which("podman")
    if not podman:
        return None
    runc = which("runc")
    return Engine("podman", (podman, "--runtime", runc) if runc else (podman,))


def local_image(project: str) -> str:
    """The training image's local tag for a project (the [project] name of mlops.toml)."""
    component = re.sub(r"[^a-z0-9]+", "-", project.lower()).strip("-")
    if not component:
        raise ValueError(f"project name {project!r} has no letter or digit to name an image with")
    return f"localhost/serverless-mlops-training-{component}:latest"


def config_build_args(config_file: Path, *, context: Path) -> dict[str, str]:
    """The training image's build argument naming the project's config (MLOPS_CONFIG in training/Dockerfile), as
    a path inside the build context (the repository root, whose .dockerignore lets every *.toml in)."""
    config_file, context = config_file.resolve(), context.resolve()
    if not config_file.is_relative_to(context):
        raise ValueError(
            f"the training image can only include a config inside the repository ({context}); "
            f"{config_file} is outside it: copy it under the repository (e.g. examples/<name>/mlops.toml)"
        )
    return {"MLOPS_CONFIG": config_file.relative_to(context).as_posix()}


def _bounded(limit: int) -> int | None:
    return None if limit == resource.RLIM_INFINITY else limit


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def _succeeds(argv: list[str]) -> bool:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=DOCKER_INFO_TIMEOUT_S, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
