"""The one stack: wires storage, scoring, training and monitoring; nothing else lives here."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from mlops_core.config import ProjectConfig

from .functions import FunctionAssets
from .monitoring import Alerts, Monitoring
from .scoring import Scoring
from .storage import Storage
from .targets import TargetSettings
from .training import Training

METRICS_NAMESPACE = "MLOps"


class MlopsStack(Stack):
    """Serverless MLOps: batch scoring with drift monitoring and alarm-driven retraining."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ProjectConfig,
        target: TargetSettings,
        build_label: str,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = target.removal_policy
        storage = Storage(self, "Storage", project=config.name, removal_policy=removal)
        assets = FunctionAssets(self, "Assets", bundle_for_host=target.bundle_for_host)
        alerts = Alerts(self, "Alerts", kms_key=target.alerts_kms_key, removal_policy=removal)
        scoring = Scoring(
            self,
            "Scoring",
            storage=storage,
            assets=assets,
            metrics_namespace=METRICS_NAMESPACE,
            max_receive_count=config.max_receive_count,
            removal_policy=removal,
        )
        training = Training(
            self,
            "Training",
            storage=storage,
            assets=assets,
            backend=target.training_backend,
            alerts=alerts.topic,
            metrics_namespace=METRICS_NAMESPACE,
            removal_policy=removal,
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            namespace=METRICS_NAMESPACE,
            period=target.alarm_period,
            retraining_function=training.retraining_function,
            alerts=alerts.topic,
            dead_letter_queue=scoring.dead_letter_queue,
        )

        outputs = {
            "Target": target.target,
            "BuildLabel": build_label,  # which build is deployed (the git commit, by default)
            "DataBucket": storage.data_bucket.bucket_name,
            "ModelsBucket": storage.models_bucket.bucket_name,
            "ScoringQueueUrl": scoring.queue.queue_url,
            "DeadLetterQueueUrl": scoring.dead_letter_queue.queue_url,
            "ScoringFunction": scoring.function.function_name,
            "RetrainingFunction": training.retraining_function.function_name,
            "AlertsTopic": alerts.topic.topic_arn,
            "MetricsNamespace": METRICS_NAMESPACE,
            "Dashboard": monitoring.dashboard.dashboard_name,
            "DeadLettersAlarm": monitoring.dlq_alarm.alarm_name,
            "TrainingFailuresAlarm": monitoring.training_failure_alarm.alarm_name,
            **{f"{name}Alarm": alarm.alarm_name for name, alarm in monitoring.retraining_alarms.items()},
        }
        if training.training_function is not None:
            outputs["TrainingFunction"] = training.training_function.function_name
        if training.image is not None:
            outputs["TrainingImageUri"] = training.image.image_uri
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
