"""cdk-nag findings this stack accepts, each acknowledged where it arises with its reason.

cdk-nag 3 reads acknowledgments from `Validations.of(scope).acknowledge(...)`; every IAM5 wildcard is
acknowledged on its own, so a new wildcard added later still fails synth.
"""

from __future__ import annotations

from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from constructs import IConstruct


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one finding (e.g. "IAM5[Resource::*]") on `scope` with a written reason."""
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=f"AwsSolutions::AwsSolutions-{finding}", reason=reason))


def arn_token(resource: IConstruct) -> str:
    """How cdk-nag names a resource's ARN in a finding: `<LogicalId.Arn>`."""
    stack = cdk.Stack.of(resource)
    logical_id = stack.resolve(stack.get_logical_id(cast(cdk.CfnElement, resource.node.default_child)))
    return f"<{logical_id}.Arn>"


def acknowledge_metrics(role: iam.IRole) -> None:
    """The PutMetricData statement's `*` resource (see functions.metrics_statement)."""
    acknowledge(
        role.node.find_child("DefaultPolicy"),
        "IAM5[Resource::*]",
        "cloudwatch:PutMetricData supports no resource ARNs; a cloudwatch:namespace condition scopes it",
    )


def acknowledge_alert_publishing(role: iam.IRole) -> None:
    """grant_publish on the KMS-encrypted alerts topic needs kms:GenerateDataKey* on that key."""
    acknowledge(
        role.node.find_child("DefaultPolicy"),
        "IAM5[Action::kms:GenerateDataKey*]",
        "grant_publish on the encrypted alerts topic: data keys for that one KMS key",
    )
