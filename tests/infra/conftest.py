"""Synthesised templates of both targets, shared by the template tests (bundling skipped: fast)."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.app import build_app
from mlops_core.config import load_config

ROOT = Path(__file__).resolve().parents[2]
# The feature flags and defaults the CDK CLI passes from cdk.json.
CDK_JSON_CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]


def synth(target: str, outdir: Path, *, bundle: bool = False) -> tuple[Template, Path]:
    """Synthesise `target` as the CLI would (cdk.json context); bundling skipped unless `bundle`."""
    context = {**CDK_JSON_CONTEXT, "target": target, "aws:cdk:enable-path-metadata": True}
    if not bundle:
        context["aws:cdk:bundling-stacks"] = []
    app = cdk.App(context=context, outdir=str(outdir))
    stack = build_app(app, target=target)
    assembly = app.synth()
    template_path = Path(assembly.directory) / f"{stack.artifact_id}.template.json"
    return Template.from_json(json.loads(template_path.read_text())), Path(assembly.directory)


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
