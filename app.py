#!/usr/bin/env python3
"""CDK entry point: `cdk deploy -c target=aws` or `cdklocal deploy` (target localstack, the default)."""

import aws_cdk as cdk

from infra.app import build_app

app = cdk.App()
build_app(app, target=app.node.try_get_context("target") or "localstack")
app.synth()
