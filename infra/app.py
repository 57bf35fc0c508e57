"""Builds the CDK app for a target; app.py and the template tests both call `build_app`."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from mlops_core.config import ProjectConfig, load_config

from .stack import MlopsStack
from .targets import target_settings

STACK_NAME = "MlopsStack"
ROOT = Path(__file__).resolve().parent.parent


def build_app(app: cdk.App, *, target: str, config: ProjectConfig | None = None) -> MlopsStack:
    """Add the stack for `target` to `app`, with cdk-nag's AWS Solutions checks as a validation."""
    config = config or load_config()
    stack = MlopsStack(
        app,
        STACK_NAME,
        config=config,
        target=target_settings(target),
        build_label=str(app.node.try_get_context("build_label") or "dev"),
        description="Serverless MLOps: batch scoring, drift monitoring, alarm-driven retraining",
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def synthesize(target: str, outdir: Path, *, bundle: bool = False) -> tuple[dict, Path]:
    """Synthesise `target` as the CDK CLI would (cdk.json's context); bundling skipped unless `bundle`.

    Returns the stack's template and the cloud assembly's directory (the tests and benchmarks use it).
    """
    context = {
        **json.loads((ROOT / "cdk.json").read_text())["context"],
        "target": target,
        "aws:cdk:enable-path-metadata": True,
    }
    if not bundle:
        context["aws:cdk:bundling-stacks"] = []
    app = cdk.App(context=context, outdir=str(outdir))
    stack = build_app(app, target=target)
    assembly = Path(app.synth().directory)
    return json.loads((assembly / f"{stack.artifact_id}.template.json").read_text()), assembly
