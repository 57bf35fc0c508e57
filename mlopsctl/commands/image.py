"""The training image on this machine: image build."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops_core.config import config_path, load_config

from ..image import LOCAL_BASE, build_image
from . import common

app = typer.Typer(name="image", help="The training image (training/Dockerfile) on this machine.", no_args_is_help=True)


@app.command()
def build(
    config: Path | None = typer.Option(
        None,
        "--config",
        help="the project's config file (default: mlops --config's, else mlops.toml); inside the repository",
        exists=True,
        dir_okay=False,
        resolve_path=True,
    ),
    base: str = typer.Option(
        "auto",
        help="the image to build from: auto (python:3.12-slim if `podman pull` gets it, else local), "
        f"local ({LOCAL_BASE}: Debian and this host's Python 3.12, built by training/local-base.sh "
        "once and then reused), or any image",
    ),
    rebuild_base: bool = typer.Option(False, "--rebuild-base", help="build the local base again, not from cache"),
) -> None:
    """Build the training image for the project, tagged localhost/serverless-mlops-training-<project>:latest.

    Uses docker if its daemon answers (`docker build`), else podman's `buildah bud --isolation chroot`."""
    config_file = config or config_path()
    project = load_config(config_file).name
    built = build_image(
        root=common.ROOT, config_file=config_file, project=project, base=base, rebuild_base=rebuild_base
    )
    if built.base_seconds is not None:
        typer.echo(f"base: {built.base} ready in {built.base_seconds:.0f} s")
    typer.echo(f"image: {built.tag} from {built.base}")
    typer.echo(f"  built in {built.seconds:.0f} s; size {built.size_bytes / 1e6:.0f} MB")
