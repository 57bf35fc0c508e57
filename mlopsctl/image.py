"""The training image (training/Dockerfile) built on this machine, tagged for the project: `mlops image build`.

With docker, `docker build` from python:3.12-slim as on AWS. With podman, `buildah bud --isolation chroot` (no OCI
runtime needed), from python:3.12-slim if a registry gives it, else from a local base of Debian and this host's
Python 3.12 that training/local-base.sh builds once and podman keeps (a cache).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlops_core.containers import Engine, config_build_args, find_engine, local_image

REGISTRY_BASE = "docker.io/library/python:3.12-slim"
LOCAL_BASE = "localhost/mlops-python:3.12-bookworm"
PULL_TIMEOUT_S = 60
INSTALL_HINT = "install docker (with its daemon running) or podman, buildah and runc (`make image` does, as root)"


class ImageError(Exception):
    """The image could not be built; the message and a hint say why."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class BuiltImage:
    """What a build made and how long it took (base_seconds: None when no base was built)."""

    tag: str
    base: str
    size_bytes: int
    seconds: float
    base_seconds: float | None


def build_image(
    *, root: Path, config_file: Path, project: str, base: str = "auto", rebuild_base: bool = False
) -> BuiltImage:
    """Build training/Dockerfile for the project whose config is `config_file`, tagged `local_image(project)`.

    `base`: "auto" (python:3.12-slim if it can be pulled, else the local base), "local" (the local base),
    or an image to build from as given."""
    engine = find_engine()
    if engine is None:
        raise ImageError("no container engine on this machine", INSTALL_HINT)
    try:
        build_args = config_build_args(config_file, context=root)
    except ValueError as exc:
        raise ImageError(str(exc), "pass --config with a config inside the repository") from exc
    chosen, base_seconds = _base(engine, root=root, base=base, rebuild=rebuild_base)
    tag = local_image(project)
    argv = build_command(engine, which=shutil.which, tag=tag, base=chosen, build_args=build_args, root=root)
    started = time.monotonic()
    if _run(argv, cwd=root) != 0:
        raise ImageError(f"the image build failed ({' '.join(argv[:3])} ...)", "its output above says why")
    return BuiltImage(tag, chosen, _size(engine, tag), time.monotonic() - started, base_seconds)


def build_command(
    engine: Engine,
    *,
    which: Callable[[str], str | None],
    tag: str,
    base: str,
    build_args: dict[str, str],
    root: Path,
) -> list[str]:
    """The build's argv: `docker build`, or for podman `buildah bud --isolation chroot` (chroot: no OCI runtime,
    so neither crun's cgroup refusal nor podman's ulimits get in the way)."""
    if engine.name == "docker":
        prefix = [*engine.command, "build"]
    else:
        buildah = which("buildah")
        if not buildah:
            raise ImageError("podman is here but buildah, which builds the image, is not", INSTALL_HINT)
        prefix = [buildah, "bud", "--isolation", "chroot"]
    args = [f"--build-arg={name}={value}" for name, value in {"BASE": base, **build_args}.items()]
    return [*prefix, "--file", str(root / "training" / "Dockerfile"), "--tag", tag, *args, str(root)]


def _base(engine: Engine, *, root: Path, base: str, rebuild: bool) -> tuple[str, float | None]:
    """The image to build from, and how long building it took (None: nothing built)."""
    if base not in ("auto", "local"):
        return base, None
    if engine.name == "docker":
        if base == "local":
            raise ImageError("the local base is built for podman", "with docker, build from python:3.12-slim")
        return REGISTRY_BASE, None
    if base == "auto" and _run([*engine.command, "pull", "--quiet", REGISTRY_BASE], timeout=PULL_TIMEOUT_S) == 0:
        return REGISTRY_BASE, None
    if os.geteuid() != 0:
        raise ImageError("building the local base needs root (debootstrap, chroot)", "run as root, or pass --base")
    started = time.monotonic()
    script = ["bash", str(root / "training" / "local-base.sh"), *(["--rebuild"] if rebuild else []), LOCAL_BASE]
    if _run(script, cwd=root) != 0:
        raise ImageError("the local base image could not be built", "training/local-base.sh's output above says why")
    return LOCAL_BASE, time.monotonic() - started


def _size(engine: Engine, tag: str) -> int:
    shown = subprocess.run(
        [*engine.command, "image", "inspect", "--format", "{{.Size}}", tag], capture_output=True, text=True, check=True
    )
    return int(shown.stdout.strip())


def _run(argv: list[str], *, cwd: Path | None = None, timeout: float | None = None) -> int:
    """Run `argv` with its output on stderr (stdout stays for the summary); a timeout counts as a failure."""
    try:
        return subprocess.run(argv, cwd=cwd, stdout=sys.stderr, timeout=timeout, check=False).returncode
    except subprocess.TimeoutExpired:
        return 1
