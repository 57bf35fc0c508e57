"""Builds the CDK app for a target; app.py and the template tests both call `build_app`."""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from mlops_core.config import ProjectConfig, load_config

from .stack import MlopsStack
from .targets import target_settings

STACK_NAME = "MlopsStack"


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
