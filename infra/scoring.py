"""Scoring path: S3 ObjectCreated on incoming/ -> SQS (with DLQ) -> batch scoring Lambda."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from mlops_core import layout

from . import nag
from .functions import FunctionAssets, metrics_statement
from .storage import Storage

SCORING_TIMEOUT = Duration.minutes(5)
SCORING_MEMORY_MB = 2048
BATCH_SIZE = 4  # files per invocation; partial failures are reported per file


class Scoring(Construct):
    """The queue, its dead-letter queue and the scoring function, with least-privilege grants."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        assets: FunctionAssets,
        metrics_namespace: str,
        max_receive_count: int,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
            removal_policy=removal_policy,
        )
        self.queue = sqs.Queue(
            self,
            "Incoming",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            # AWS: at least 6x the function timeout, so a message is not redelivered mid-invocation.
            visibility_timeout=Duration.seconds(SCORING_TIMEOUT.to_seconds() * 6),
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter_queue, max_receive_count=max_receive_count),
            removal_policy=removal_policy,
        )
        storage.notify_on_incoming_csv(self.queue)

        self.function = assets.function(
            self,
            "Function",
            handler="scoring.handler.lambda_handler",
            timeout=SCORING_TIMEOUT,
            memory_size=SCORING_MEMORY_MB,
            environment={
                "DATA_BUCKET": storage.data_bucket.bucket_name,
                "MODELS_BUCKET": storage.models_bucket.bucket_name,
                "SCORING_QUEUE_URL": self.queue.queue_url,
                "METRICS_NAMESPACE": metrics_namespace,
                "POWERTOOLS_SERVICE_NAME": "scoring",
            },
            removal_policy=removal_policy,
            description="Scores CSV batches from incoming/ with the champion model; reports drift",
        )
        self.function.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=BATCH_SIZE, report_batch_item_failures=True)
        )
        data, models = storage.data_bucket, storage.models_bucket
        data.grant_read(self.function, f"{layout.INCOMING}*")
        outputs = (layout.PREDICTIONS, layout.REJECTED, layout.REPORTS, layout.FEEDBACK)
        for prefix in outputs:
            data.grant_read_write(self.function, f"{prefix}*")  # read: the idempotency check
        # Read-only on the registry: scoring can never write a model or move the champion.
        models.grant_read(self.function, f"{layout.MODELS}*")
        models.grant_read(self.function, layout.CHAMPION_KEY)
        self.queue.grant_send_messages(self.function)  # large files fan out as byte ranges
        self.function.add_to_role_policy(metrics_statement(metrics_namespace))
        nag.acknowledge_s3_grants(
            self.function.role,
            [
                (data, f"{layout.INCOMING}*", "reads the files it scores, and only those"),
                *((data, f"{p}*", f"writes its outputs under {p} and nothing else") for p in outputs),
                (models, f"{layout.MODELS}*", "reads model artifacts and manifests (read-only)"),
            ],
            ["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*"],
        )
        nag.acknowledge_metrics(self.function.role)

    def dlq_depth(self, period: Duration) -> cloudwatch.Metric:
        return self.dead_letter_queue.metric_approximate_number_of_messages_visible(period=period)
