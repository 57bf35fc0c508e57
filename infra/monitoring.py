"""Monitoring: drift and accuracy alarms that start retraining, an SNS topic for people, a dashboard."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from mlops_core.config import ProjectConfig

from . import nag


class Alerts(Construct):
    """An encrypted SNS topic that alarms and the training job publish to."""

    def __init__(self, scope: Construct, construct_id: str, *, kms_key: bool, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.key = None
        if kms_key:
            # A customer-managed key: the AWS-managed SNS key does not let CloudWatch alarms publish.
            self.key = kms.Key(self, "Key", enable_key_rotation=True, removal_policy=removal_policy,
                               description="Encrypts the MLOps alerts topic")  # fmt: skip
            self.key.grant_encrypt_decrypt(iam.ServicePrincipal("cloudwatch.amazonaws.com"))
        self.topic = sns.Topic(self, "Topic", master_key=self.key, enforce_ssl=True, display_name="MLOps alerts")
        if not kms_key:
            nag.acknowledge(
                self.topic,
                "SNS2",
                "LocalStack target only: LocalStack 4.13.1 on the host cannot create "
                "KMS keys; the AWS target encrypts this topic with a customer-managed key",
            )


class Monitoring(Construct):
    """Alarms on the metrics scoring and training publish, thresholds from mlops.toml."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ProjectConfig,
        namespace: str,
        period: Duration,
        retraining_function: lambda_.IFunction,
        alerts: sns.ITopic,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        dims = {"Pipeline": config.name}

        def metric(name: str, statistic: str = "Maximum", **extra_dims: str) -> cw.Metric:
            return cw.Metric(namespace=namespace, metric_name=name, dimensions_map={**dims, **extra_dims},
                             statistic=statistic, period=period)  # fmt: skip

        drift = config.drift
        # Alarms that mean "the model no longer fits the data": each starts retraining and tells people.
        specs = [
            ("WorstFeaturePSI", drift.psi_threshold, cw.ComparisonOperator.GREATER_THAN_THRESHOLD, "Maximum",
             "The most drifted feature's PSI is above the threshold"),
            ("DriftedFeatureShare", drift.drifted_share_threshold,
             cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD, "Maximum",
             "Too large a share of features drifted"),
            ("PredictionPSI", drift.prediction_psi_threshold, cw.ComparisonOperator.GREATER_THAN_THRESHOLD, "Maximum",
             "The distribution of prediction scores drifted"),
            ("ModelAccuracy", drift.accuracy_floor, cw.ComparisonOperator.LESS_THAN_THRESHOLD, "Minimum",
             "Accuracy on labeled batches fell below the floor"),
        ]  # fmt: skip
        self.retraining_alarms: dict[str, cw.Alarm] = {}
        for name, threshold, comparison, statistic, description in specs:
            alarm = cw.Alarm(
                self,
                f"{name}Alarm",
                alarm_name=f"{config.name}-{name}",
                alarm_description=description,
                metric=metric(name, statistic),
                threshold=threshold,
                comparison_operator=comparison,
                evaluation_periods=1,
                # Drift metrics exist only when a batch arrives: no batch is no evidence of drift.
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            )
            alarm.add_alarm_action(
                cw_actions.LambdaAction(retraining_function, use_unique_permission_id=True),
                cw_actions.SnsAction(alerts),
            )
            alarm.add_ok_action(cw_actions.SnsAction(alerts))
            self.retraining_alarms[name] = alarm

        self.dlq_alarm = cw.Alarm(
            self,
            "DeadLettersAlarm",
            alarm_name=f"{config.name}-DeadLetters",
            alarm_description="Scoring messages reached the dead-letter queue: fix the cause, then `mlops redrive`",
            metric=dead_letter_queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
            threshold=0,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self.dlq_alarm.add_alarm_action(cw_actions.SnsAction(alerts))
        self.training_failure_alarm = cw.Alarm(
            self,
            "TrainingFailuresAlarm",
            alarm_name=f"{config.name}-TrainingFailures",
            alarm_description="A training run failed; the champion is unchanged",
            metric=metric("TrainingFailures", "Sum"),
            threshold=0,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        self.training_failure_alarm.add_alarm_action(cw_actions.SnsAction(alerts))

        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"{config.name}-pipeline")
        self.dashboard.add_widgets(
            cw.GraphWidget(title="Files scored / rejected", left=[metric("FilesScored", "Sum"),
                                                                 metric("FilesRejected", "Sum")]),
            cw.GraphWidget(title="Rows scored / rejected", left=[metric("RowsScored", "Sum"),
                                                                metric("RowsRejected", "Sum")]),
            cw.GraphWidget(title="Dead-letter queue depth",
                           left=[dead_letter_queue.metric_approximate_number_of_messages_visible()]),
        )  # fmt: skip
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Drift per feature (PSI)",
                left=[metric("FeaturePSI", Feature=name) for name in config.feature_names],
                left_annotations=[cw.HorizontalAnnotation(value=drift.psi_threshold, label="threshold")],
            ),
            cw.GraphWidget(title="Prediction drift and accuracy",
                           left=[metric("PredictionPSI"), metric("WorstFeaturePSI")],
                           right=[metric("ModelAccuracy", "Minimum")]),
            cw.AlarmStatusWidget(title="Alarms", alarms=[*self.retraining_alarms.values(), self.dlq_alarm,
                                                         self.training_failure_alarm]),
        )  # fmt: skip
        self.dashboard.add_widgets(
            cw.SingleValueWidget(title="Champion version (UTC timestamp of the version id)",
                                 metrics=[metric("ChampionVersion")]),
            cw.GraphWidget(title="Training runs", left=[metric("TrainingRuns", "Sum"),
                                                       metric("TrainingFailures", "Sum"),
                                                       metric("ModelPromotions", "Sum")]),
        )  # fmt: skip
