"""Storage: the data bucket (incoming CSVs and everything derived from them) and the models bucket."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from mlops_core.storage import layout

# How long a replaced or deleted object of the data bucket stays recoverable as a noncurrent version: an
# input overwritten under incoming/ before it was scored can still be read by its version id, and an
# output removed by mistake brought back. Longer than a message can wait in the queue and then the
# dead-letter queue (4 + 14 days).
DATA_NONCURRENT_DAYS = 30
# What no function may do to the models bucket: purge a version, or change the rules that keep versions.
KEEP_VERSIONS = [
    "s3:DeleteObjectVersion",
    "s3:PutBucketVersioning",
    "s3:PutLifecycleConfiguration",
    "s3:PutBucketPolicy",
    "s3:DeleteBucketPolicy",
]


class Storage(Construct):
    """Encrypted, SSL-only, private buckets, both versioned; server access logs to a log bucket."""

    def __init__(self, scope: Construct, construct_id: str, *, project: str, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        common: dict[str, Any] = dict(
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=removal_policy,
        )
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            lifecycle_rules=[s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(90))],
            **common,
        )
        # A fixed name lets the queue policy name the bucket without referencing it, which would
        # make a cycle: the bucket's notification needs the queue policy to exist first.
        self.data_bucket_name = Fn.join("-", [project, "data", Aws.ACCOUNT_ID, Aws.REGION])
        self.data_bucket = s3.Bucket(
            self,
            "Data",
            bucket_name=self.data_bucket_name,
            versioned=True,  # an input overwritten before it is scored is kept (DATA_NONCURRENT_DAYS)
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="data/",
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-predictions", prefix=layout.PREDICTIONS, expiration=Duration.days(90)),
                s3.LifecycleRule(id="expire-rejected", prefix=layout.REJECTED, expiration=Duration.days(180)),
                s3.LifecycleRule(id="expire-incoming", prefix=layout.INCOMING, expiration=Duration.days(30)),
                s3.LifecycleRule(id="expire-reports", prefix=layout.REPORTS, expiration=Duration.days(365)),
                # The rules above leave a delete marker over the expired version; these remove both in turn. Not
                # for layout.TRAINING_INPUTS: a registered model's manifest names the versions it read there, kept
                # for as long as the bucket so the model can be trained again (docs/registry.md#reproducing-a-run).
                *(
                    s3.LifecycleRule(
                        id=f"expire-noncurrent-{prefix.strip('/')}",
                        prefix=prefix,
                        noncurrent_version_expiration=Duration.days(DATA_NONCURRENT_DAYS),
                        expired_object_delete_marker=True,
                    )
                    for prefix in layout.SCRATCH
                    if prefix != layout.ONLINE  # its rule comes with the endpoint ([online]: `expire_online`)
                ),
                s3.LifecycleRule(id="abort-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)),
            ],
            **common,
        )
        self.models_bucket = s3.Bucket(
            self,
            "Models",
            versioned=True,  # a model version is never overwritten; object versions guard against mistakes too
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="models/",
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-noncurrent", noncurrent_version_expiration=Duration.days(365)),
                s3.LifecycleRule(id="abort-uploads", abort_incomplete_multipart_upload_after=Duration.days(1)),
            ],
            **common,
        )

    def expire_online(self, *, days: int) -> None:
        """Expire the online endpoint's captured requests and labels ([online]) after `days`
        (`OnlineSettings.retention_days`: as long as incoming/ keeps a window's batch, and never less than a
        label may look back for its record plus a day)."""
        self.data_bucket.add_lifecycle_rule(
            id="expire-online",
            prefix=layout.ONLINE,
            expiration=Duration.days(days),
            # Not ExpiredObjectDeleteMarker: S3 refuses it beside an expiration in days.
            noncurrent_version_expiration=Duration.days(DATA_NONCURRENT_DAYS),
        )

    def guard_models(self, *, function_roles: Sequence[iam.IRole]) -> None:
        """The models bucket's own policy, which holds whatever a role's policy says.

        Nobody writes under models/ without If-None-Match: a version is written once (Registry.publish
        always sends it), so an artifact and the manifest that holds its SHA-256 cannot be rewritten
        together. And the stack's `function_roles` may not delete a model, delete any object version, or
        change versioning, lifecycle or this policy. These denials name the roles rather than excepting an
        administrator: denying everyone but the deploying role would lock out the people who must repair or
        clean up (the deploy role's name depends on the bootstrap). They match `aws:PrincipalArn`, not a
        role Principal, which S3 checks exists when the policy is written and stores as the role's unique id,
        so a role replaced later would silently fall out of the denial.
        """
        for statement in models_denials(self.models_bucket, function_roles):
            self.models_bucket.add_to_resource_policy(statement)

    def notify_on_incoming_csv(self, queue: sqs.IQueue) -> None:
        """Send ObjectCreated events for incoming/*.csv and incoming/*.csv.gz, lower or upper case, to `queue`.

        Uses the bucket's own NotificationConfiguration rather than add_event_notification, which is
        a custom resource (a Lambda) and does nothing on LocalStack.
        """
        source_arn = Fn.join("", ["arn:", Aws.PARTITION, ":s3:::", self.data_bucket_name])
        policy = sqs.QueuePolicy(self, "IncomingQueuePolicy", queues=[queue])
        policy.document.add_statements(
            iam.PolicyStatement(
                sid="S3IncomingNotifications",
                principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[queue.queue_arn],
                conditions={
                    "ArnEquals": {"aws:SourceArn": source_arn},
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                },
            )
        )
        cfn_bucket = cast(s3.CfnBucket, self.data_bucket.node.default_child)
        cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            queue_configurations=[
                s3.CfnBucket.QueueConfigurationProperty(
                    event="s3:ObjectCreated:*",
                    queue=queue.queue_arn,
                    filter=s3.CfnBucket.NotificationFilterProperty(
                        s3_key=s3.CfnBucket.S3KeyFilterProperty(
                            rules=[
                                s3.CfnBucket.FilterRuleProperty(name="prefix", value=layout.INCOMING),
                                s3.CfnBucket.FilterRuleProperty(name="suffix", value=suffix),
                            ]
                        )
                    ),
                )
                for suffix in layout.NOTIFIED_SUFFIXES
            ]
        )
        cfn_bucket.add_resource_dependency(cast(sqs.CfnQueuePolicy, policy.node.default_child))


def models_denials(bucket: s3.IBucket, function_roles: Sequence[iam.IRole]) -> list[iam.PolicyStatement]:
    """The models bucket's denials (see Storage.guard_models)."""
    models = bucket.arn_for_objects(f"{layout.MODELS}*")
    roles = {"ArnEquals": {"aws:PrincipalArn": [role.role_arn for role in function_roles]}}
    everyone = [iam.AnyPrincipal()]
    return [
        iam.PolicyStatement(
            sid="ModelVersionsAreWrittenOnce",
            effect=iam.Effect.DENY,
            principals=everyone,
            actions=["s3:PutObject"],
            resources=[models],
            conditions={"Null": {"s3:if-none-match": "true"}},
        ),
        iam.PolicyStatement(
            sid="FunctionsKeepEveryVersion",
            effect=iam.Effect.DENY,
            principals=everyone,
            actions=KEEP_VERSIONS,
            resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
            conditions=roles,
        ),
        iam.PolicyStatement(
            sid="FunctionsNeverDeleteAModel",
            effect=iam.Effect.DENY,
            principals=everyone,
            actions=["s3:DeleteObject"],
            resources=[models],
            conditions=roles,
        ),
    ]
