"""Builds the CDK app for a target; app.py and the template tests both call `build_app`."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from mlops_core.config import config_path, load_config
from mlops_core.modeling.search import check_model

from .stack import MlopsStack
from .targets import target_settings

ROOT = Path(__file__).resolve().parent.parent


def build_app(app: cdk.App, *, target: str, config_file: Path | None = None) -> MlopsStack:
    """Add the stack of the project in `config_file` (default: config_path()) for `target` to `app`.

    The stack is named after the project (config.stack_name), so several projects deploy side by
    side; cdk-nag's AWS Solutions checks run as a validation.
    """
    config_file = (config_file or config_path()).resolve()
    config = load_config(config_file)
    # The estimator and its parameters must fit the task, each search candidate's grid must name its
    # parameters, and your pipeline function must build a model: fail the synth, not the first training run.
    check_model(config)
    stack = MlopsStack(
        app,
        config.stack_name,
        config=config,
        config_file=config_file,
        target=target_settings(target),
        build_label=str(app.node.try_get_context("build_label") or "dev"),
        description="Serverless MLOps: batch scoring, drift monitoring, alarm-driven retraining",
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


def synthesize(
    target: str, outdir: Path, *, bundle: bool = False, config_file: Path | None = None
) -> tuple[dict, Path]:
    """Synthesise `target` as the CDK CLI would (cdk.json's context); bundling skipped unless `bundle`.

    `config_file` chooses the project (default: config_path()). Returns the stack's template and the
    cloud assembly's directory (the tests and benchmarks use it).
    """
    context = {
        **json.loads((ROOT / "cdk.json").read_text())["context"],
        "target": target,
        "aws:cdk:enable-path-metadata": True,
    }
    if not bundle:
        context["aws:cdk:bundling-stacks"] = []
    app = cdk.App(context=context, outdir=str(outdir))
    stack = build_app(app, target=target, config_file=config_file)
    assembly = Path(app.synth().directory)
    return json.loads((assembly / f"{stack.artifact_id}.template.json").read_text()), assembly
