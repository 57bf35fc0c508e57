"""cdk-nag findings this stack accepts, each acknowledged where it arises with its reason.

cdk-nag 3 reads acknowledgments from `Validations.of(scope).acknowledge(...)`; every IAM5 wildcard is
acknowledged on its own, so a new wildcard added later still fails synth.
"""

from __future__ import annotations

from typing import cast

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

# The action groups that CDK's S3 grant methods use (grant_read / grant_read_write).
S3_GRANT_ACTIONS = {
    "s3:GetObject*": "grant_read's object read actions (GetObject, GetObjectVersion, ...), scoped to a prefix",
    "s3:GetBucket*": "grant_read's bucket metadata reads (location, versioning) needed by the SDK",
    "s3:List*": "grant_read's listing actions, needed to list a prefix and check for existing outputs",
    "s3:DeleteObject*": "grant_read_write's delete, scoped to the prefixes this function owns",
    "s3:Abort*": "grant_read_write's multipart-upload abort, so failed large uploads leave nothing behind",
}


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Acknowledge one finding (e.g. "IAM5[Resource::*]") on `scope` with a written reason."""
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=f"AwsSolutions::AwsSolutions-{finding}", reason=reason))


def arn_token(resource: IConstruct) -> str:
    """How cdk-nag names a resource's ARN in a finding: `<LogicalId.Arn>`."""
    stack = cdk.Stack.of(resource)
    logical_id = stack.resolve(stack.get_logical_id(cast(cdk.CfnElement, resource.node.default_child)))
    return f"<{logical_id}.Arn>"


def acknowledge_s3_grants(role: iam.IRole, grants: list[tuple[s3.IBucket, str, str]], actions: list[str]) -> None:
    """Acknowledge the wildcards of S3 grants on `role`: each (bucket, key pattern, reason), and `actions`."""
    policy = role.node.find_child("DefaultPolicy")
    for bucket, pattern, reason in grants:
        acknowledge(policy, f"IAM5[Resource::{arn_token(bucket)}/{pattern}]", reason)
    for action in actions:
        acknowledge(policy, f"IAM5[Action::{action}]", S3_GRANT_ACTIONS[action])


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
