"""Synthesised templates of both targets, shared by the template tests (bundling skipped: fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from infra.app import synthesize
from mlops_core.config import load_config


def synth(target: str, outdir: Path, *, bundle: bool = False) -> tuple[Template, Path]:
    """Synthesise `target` as the CLI would (cdk.json context); bundling skipped unless `bundle`."""
    template, assembly = synthesize(target, outdir, bundle=bundle)
    return Template.from_json(template), assembly


@pytest.fixture(scope="session")
def config():
    return load_config()


@pytest.fixture(scope="session", params=["localstack", "aws"])
def synthesized(request, tmp_path_factory) -> tuple[str, Template, Path]:
    target = request.param
    template, assembly = synth(target, tmp_path_factory.mktemp(f"cdk-{target}"))
    return target, template, assembly


@pytest.fixture(scope="session")
def template(synthesized) -> Template:
    return synthesized[1]
