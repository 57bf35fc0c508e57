"""Scoring path: S3 ObjectCreated on incoming/ -> SQS (with DLQ) -> batch scoring Lambda."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from mlops_core.environment import ScoringEnvironment
from mlops_core.observability import NAMESPACE
from mlops_core.storage import layout

from . import nag
from .access import KeyAccess, grant_keys
from .functions import FunctionAssets, metrics_statement
from .storage import Storage

SCORING_TIMEOUT = Duration.minutes(5)
SCORING_MEMORY_MB = 2048
BATCH_SIZE = 4  # files per invocation; partial failures are reported per file
# Written with boto3's managed transfer (files that can be large); REPORTS are small JSON documents.
UPLOADS = (layout.PREDICTIONS, layout.FEEDBACK, layout.SHADOW, layout.REJECTED)
REPORTS = (layout.RECEIPTS, layout.DRIFT_REPORTS, layout.CHALLENGER_EVIDENCE)
SCORING_DATA = KeyAccess(
    read=(f"{layout.INCOMING}*", f"{layout.RECEIPTS}*", f"{layout.CHALLENGER_EVIDENCE}*"),
    # The data bucket is versioned so that an input overwritten before it is scored can still be read by the
    # version id its S3 event names.
    read_versions=(f"{layout.INCOMING}*",),
    upload=tuple(f"{prefix}*" for prefix in UPLOADS),
    write=tuple(f"{prefix}*" for prefix in REPORTS),
    # A failed attempt's predictions with another model version (lambdas/scoring/outputs.py).
    delete=(f"{layout.PREDICTIONS}*", f"{layout.SHADOW}*"),
)
SCORING_DATA_WHY = {
    f"{layout.INCOMING}*": "reads the files it scores, and only those",
    f"{layout.RECEIPTS}*": "reads and writes one receipt per input: what became of it (exactly once)",
    f"{layout.CHALLENGER_EVIDENCE}*": "reads and writes what labeled rows say about the challenger, per job",
    f"{layout.DRIFT_REPORTS}*": "writes one drift report per input",
    f"{layout.PREDICTIONS}*": "writes predictions, per input and model version; deletes a failed attempt's stale ones",
    f"{layout.FEEDBACK}*": "writes the labeled rows of a scored input, kept for retraining",
    f"{layout.SHADOW}*": "writes a shadow challenger's predictions; deletes a failed attempt's stale ones",
    f"{layout.REJECTED}*": "writes a rejected input's copy or bad rows, and the report of why",
}


class Scoring(Construct):
    """The queue, its dead-letter queue and the scoring function, with least-privilege grants."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        assets: FunctionAssets,
        alerts: sns.ITopic,
        max_receive_count: int,
        removal_policy: RemovalPolicy,
        challenger_rule: bool = False,
    ) -> None:
        """`challenger_rule`: the champion/challenger rule runs in scoring (promotion.challenger is not off),
        so the function may move the champion and challenger pointers and record its decisions."""
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
        self.function, self.role = self._function(storage, assets, alerts, removal_policy)
        self.function.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=BATCH_SIZE, report_batch_item_failures=True)
        )
        self._grant(self.role, storage, challenger_rule=challenger_rule)
        alerts.grant_publish(self.role)  # drift alerts that name the features, the file and the report
        nag.acknowledge_alert_publishing(self.role)

    def _function(
        self, storage: Storage, assets: FunctionAssets, alerts: sns.ITopic, removal_policy: RemovalPolicy
    ) -> tuple[lambda_.Function, iam.Role]:
        environment = ScoringEnvironment(
            data_bucket=storage.data_bucket.bucket_name,
            models_bucket=storage.models_bucket.bucket_name,
            queue_url=self.queue.queue_url,
            namespace=NAMESPACE,
            alert_topic_arn=alerts.topic_arn,
        ).as_environment()
        return assets.function(
            self,
            "Function",
            handler="scoring.handler.lambda_handler",
            timeout=SCORING_TIMEOUT,
            memory_size=SCORING_MEMORY_MB,
            environment={**environment, "POWERTOOLS_SERVICE_NAME": "scoring"},
            removal_policy=removal_policy,
            description="Scores CSV batches from incoming/ with the champion model; reports drift",
        )

    def _grant(self, role: iam.Role, storage: Storage, *, challenger_rule: bool) -> None:
        """Read incoming/, write its outputs, read models; never write a model. Only with the champion/challenger
        rule (lambdas/scoring/review.py) may it move the champion and the challenger, and record that."""
        grant_keys(role, storage.data_bucket, SCORING_DATA, why=SCORING_DATA_WHY)
        pointers = (layout.CHAMPION_KEY, layout.CHALLENGER_KEY)
        models = KeyAccess(
            read=(f"{layout.MODELS}*", *pointers),
            # A byte range's pinned version must have been the champion: the pointer's earlier versions say.
            read_versions=(layout.CHAMPION_KEY,),
            list_versions=(layout.CHAMPION_KEY,),
            write=(*pointers, f"{layout.HISTORY}*") if challenger_rule else (),
        )
        why = {
            f"{layout.MODELS}*": "reads model artifacts and manifests (read-only)",
            f"{layout.HISTORY}*": "records the challenger rule's decisions (new objects only)",
        }
        grant_keys(role, storage.models_bucket, models, why=why)
        self.queue.grant_send_messages(role)  # large files fan out as byte ranges
        role.add_to_policy(metrics_statement())
        nag.acknowledge_metrics(role)
