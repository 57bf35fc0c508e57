"""Storage: the data bucket (incoming CSVs and everything derived from them) and the models bucket."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from mlops_core.storage import layout


class Storage(Construct):
    """Encrypted, SSL-only, private buckets; models versioned; server access logs to a log bucket."""

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
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="data/",
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-predictions", prefix=layout.PREDICTIONS, expiration=Duration.days(90)),
                s3.LifecycleRule(id="expire-rejected", prefix=layout.REJECTED, expiration=Duration.days(180)),
                s3.LifecycleRule(id="expire-incoming", prefix=layout.INCOMING, expiration=Duration.days(30)),
                s3.LifecycleRule(id="expire-reports", prefix=layout.REPORTS, expiration=Duration.days(365)),
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
