"""Synthesised templates of both targets, shared by the template tests (bundling skipped: fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from infra.app import synthesize
from mlops_core.config import load_config


def synth(target: str, outdir: Path, *, bundle: bool = False, config_file: Path | None = None) -> tuple[Template, Path]:
    """Synthesise `target` as the CLI would (cdk.json context); bundling skipped unless `bundle`.

    `config_file` chooses the project (default: config_path()).
    """
    template, assembly = synthesize(target, outdir, bundle=bundle, config_file=config_file)
    return Template.from_json(template), assembly


def resources(template: Template, kind: str) -> dict[str, dict]:
    return template.find_resources(kind)


def logical_id(template: Template, kind: str, path_fragment: str) -> str:
    """The one resource of `kind` whose construct path contains `path_fragment`."""
    matches = [
        k
        for k, v in resources(template, kind).items()
        if path_fragment in v.get("Metadata", {}).get("aws:cdk:path", "")
    ]
    assert len(matches) == 1, (kind, path_fragment, matches)
    return matches[0]


def policy_documents_of_role(template: Template, role_id: str) -> list[dict]:
    return [
        p["Properties"]["PolicyDocument"]
        for p in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in p["Properties"]["Roles"]
    ]


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
