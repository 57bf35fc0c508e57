"""The one stack: wires storage, scoring, training, the online endpoint and monitoring; nothing else lives here."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from mlops_core.config import ProjectConfig
from mlops_core.observability import NAMESPACE

from .functions import FunctionAssets
from .monitoring import Alerts, Monitoring
from .online import OnlineEndpoint
from .scoring import Scoring
from .staleness import ChampionAge
from .storage import Storage
from .targets import TargetSettings, training_backend
from .training import Training


class MlopsStack(Stack):
    """Serverless MLOps: batch scoring with drift monitoring and alarm-driven retraining.

    `config` is the project, parsed from `config_file`; the functions and the training image carry
    that file as their mlops.toml.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ProjectConfig,
        config_file: Path,
        target: TargetSettings,
        build_label: str,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        removal = target.removal_policy
        self.storage = Storage(self, "Storage", project=config.name, removal_policy=removal)
        assets = FunctionAssets(self, "Assets", bundle_for_host=target.bundle_for_host, config_file=config_file)
        self.alerts = Alerts(self, "Alerts", kms_key=target.alerts_kms_key, removal_policy=removal)
        self.scoring = Scoring(
            self,
            "Scoring",
            storage=self.storage,
            assets=assets,
            alerts=self.alerts.topic,
            max_receive_count=config.max_receive_count,
            removal_policy=removal,
            challenger_rule=config.promotion.challenger != "off",
        )
        self.training = Training(
            self,
            "Training",
            backend=training_backend(target, config),
            container=target.container_training,
            project=config.name,
            conditional_deletes=target.s3_conditional_deletes,
            max_runtime_s=config.retraining.max_runtime_seconds,
            config_file=config_file,
            storage=self.storage,
            assets=assets,
            alerts=self.alerts.topic,
            removal_policy=removal,
            promotion=config.promotion,
            schedule=config.retraining.schedule,
        )
        # The champion's age is published only for the alarm that watches it ([monitoring] max_model_age_days).
        self.champion_age = (
            ChampionAge(
                self,
                "Staleness",
                storage=self.storage,
                assets=assets,
                rate=target.staleness_rate,
                removal_policy=removal,
            )
            if config.monitoring.max_model_age_days is not None
            else None
        )
        # The HTTPS endpoint beside batch scoring, and the monitor that makes its traffic batches ([online]).
        self.online = (
            OnlineEndpoint(
                self,
                "Online",
                project=config.name,
                settings=config.online,
                storage=self.storage,
                assets=assets,
                alerts=self.alerts.topic,
                url_style=target.rest_api_url,
                removal_policy=removal,
                challenger_rule=config.promotion.challenger != "off",
            )
            if config.online.enabled
            else None
        )
        self.storage.guard_models(
            function_roles=[
                self.scoring.role,
                *self.training.roles,
                *([self.champion_age.role] if self.champion_age else []),
                *(self.online.roles if self.online else []),
            ]
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            target=target,
            retraining_function=self.training.retraining_function,
            alerts=self.alerts.topic,
            dead_letter_queue=self.scoring.dead_letter_queue,
            online=self.online,
        )
        for name, value in self._outputs(target, build_label).items():
            CfnOutput(self, name, value=value)

    def _outputs(self, target: TargetSettings, build_label: str) -> dict[str, str]:
        """What the CLI and the end-to-end tests read from the deployed stack."""
        return {
            "Target": target.target,
            "BuildLabel": build_label,  # which build is deployed (the git commit, by default)
            "DataBucket": self.storage.data_bucket.bucket_name,
            "ModelsBucket": self.storage.models_bucket.bucket_name,
            "ScoringQueueUrl": self.scoring.queue.queue_url,
            "DeadLetterQueueUrl": self.scoring.dead_letter_queue.queue_url,
            "ScoringFunction": self.scoring.function.function_name,
            "RetrainingFunction": self.training.retraining_function.function_name,
            "TrainingEndedFunction": self.training.ended_function.function_name,
            **self.training.outputs(),
            "AlertsTopic": self.alerts.topic.topic_arn,
            "MetricsNamespace": NAMESPACE,
            "Dashboard": self.monitoring.dashboard.dashboard_name,
            "DeadLettersAlarm": self.monitoring.dlq_alarm.alarm_name,
            **{f"{name}Alarm": alarm.alarm_name for name, alarm in self.monitoring.alarms.items()},
            **({"StalenessFunction": self.champion_age.function.function_name} if self.champion_age else {}),
            **(self.online.outputs() if self.online else {}),
        }
