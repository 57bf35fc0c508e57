"""Monitoring: drift and accuracy alarms that start retraining, staleness alarms, an SNS topic for people, a
dashboard.

Every metric comes from its record in `mlops_core.observability`, the module the publishers use,
so an alarm cannot watch a name nobody publishes.
"""

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

from mlops_core import observability as obs
from mlops_core.config import ProjectConfig

from . import nag
from .alarms import AlarmSpec, Window, required
from .online import OnlineEndpoint, dashboard_widgets, server_errors_alarm
from .staleness import STALENESS_ALARMS
from .targets import TargetSettings

# The drift alarms are the four parts of the one drift verdict (mlops_core/monitoring/verdict.py), so an alarm
# fires exactly when a batch's verdict says drift for that reason. With accuracy, the first three mean "the
# model no longer fits the data": each starts retraining and tells people. The fourth, data quality, tells
# people only: a blanked column is fixed upstream, not by a model trained on it.
ALARMS = (
    AlarmSpec(
        metric=obs.DRIFTED_FEATURE_SHARE,
        threshold=lambda config: config.drift.drifted_share_threshold,
        comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        statistic="Maximum",
        description="Enough features drifted for the drift verdict: retraining starts by itself; the SNS "
        "drift alert and `mlops report` name the features, `mlops status` shows the run and the gate's decision",
        retrains=True,
    ),
    AlarmSpec(
        metric=obs.PREDICTION_DRIFT_SCORE,
        threshold=lambda _: 1.0,
        comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        statistic="Maximum",
        description="The distribution of prediction scores drifted (PSI above its threshold for the batch size): "
        "retraining starts by itself; `mlops status` shows the run and the gate's decision",
        retrains=True,
    ),
    AlarmSpec(
        metric=obs.MULTIVARIATE_DRIFT_SCORE,
        threshold=lambda _: 1.0,
        comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        statistic="Maximum",
        description="The joint distribution of the features changed (a domain classifier tells the batch from "
        "the reference): retraining starts by itself; the SNS drift alert names the features that separate them",
        retrains=True,
    ),
    AlarmSpec(
        metric=obs.QUALITY_DRIFTED_FEATURES,
        threshold=lambda _: 1,
        comparison=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        statistic="Maximum",
        description="A feature's missing or unknown share changed beyond what the batch size explains (an "
        "upstream bug that blanks a column, a new category): the SNS drift alert and `mlops score` name the "
        "feature and its shares; fix the data, since retraining on broken data would not help",
        retrains=False,
    ),
    AlarmSpec(
        metric=obs.MODEL_ACCURACY,
        threshold=lambda config: required(config.drift.accuracy_floor),
        comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
        statistic="Minimum",
        description="Accuracy on labeled batches fell below the floor: retraining starts by itself; if "
        "`mlops status` shows the new model was not promoted, check the recent labeled batches under feedback/",
        retrains=True,
        tasks=frozenset({"binary", "multiclass"}),
    ),
    AlarmSpec(
        metric=obs.MODEL_ERROR,
        threshold=lambda config: required(config.drift.max_error),
        comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        statistic="Maximum",
        description="The mean absolute error on labeled batches rose above drift.max_error: retraining starts "
        "by itself; if `mlops status` shows the new model was not promoted, check the recent labeled batches "
        "under feedback/",
        retrains=True,
        tasks=frozenset({"regression"}),
    ),
    AlarmSpec(
        metric=obs.ESTIMATED_ACCURACY,
        threshold=lambda config: config.drift.estimated_accuracy_floor,
        comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
        statistic="Minimum",
        description="The label-free accuracy estimate fell below the floor: label a sample of the recent "
        "batches and upload it (`mlops add-training-data`) so the next training run can learn from it",
        retrains=False,
        tasks=frozenset({"binary"}),  # the estimate (CBPE) is for binary classifiers
    ),
    AlarmSpec(
        metric=obs.TRAINING_FAILURES,
        threshold=lambda _: 0,
        comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        statistic="Sum",
        description="A training run failed and the champion is unchanged: read the run's error in "
        "`mlops status` and the SNS message, fix the cause, then `mlops train`",
        retrains=False,
    ),
)


# Alarms on batch signals follow drift.alarm_after ("M of N" periods); a training failure alarms at once.
BATCH_SIGNALS = {spec.metric for spec in ALARMS if spec.metric is not obs.TRAINING_FAILURES}


class Alerts(Construct):
    """An encrypted SNS topic that alarms and the training job publish to."""

    def __init__(self, scope: Construct, construct_id: str, *, kms_key: bool, removal_policy: RemovalPolicy) -> None:
        super().__init__(scope, construct_id)
        self.key = None
        if kms_key:
            # A customer-managed key: the AWS-managed SNS key does not let CloudWatch alarms publish.
            self.key = kms.Key(
                self,
                "Key",
                enable_key_rotation=True,
                removal_policy=removal_policy,
                description="Encrypts the MLOps alerts topic",
            )
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
    """The alarms of ALARMS and STALENESS_ALARMS (thresholds from mlops.toml), the dead-letter alarm, with
    `online` the endpoint's 5xx alarm, and the dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ProjectConfig,
        target: TargetSettings,
        retraining_function: lambda_.IFunction,
        alerts: sns.ITopic,
        dead_letter_queue: sqs.IQueue,
        online: OnlineEndpoint | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        self._target = target
        self._period = target.alarm_period
        self.alarms = {
            spec.alarm_id: self._alarm(spec, retraining_function, alerts)
            for spec in (*ALARMS, *STALENESS_ALARMS)
            if spec.applies_to(config)
        }
        if online is not None:
            self.alarms["Online5xx"] = server_errors_alarm(
                self, online, project=config.name, settings=config.online, period=self._period, alerts=alerts
            )
        self.dlq_alarm = self._dead_letters_alarm(dead_letter_queue, alerts)
        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=f"{config.name}-pipeline")
        self.dashboard.add_widgets(*self._traffic_widgets(dead_letter_queue))
        self.dashboard.add_widgets(*self._drift_widgets())
        self.dashboard.add_widgets(*self._training_widgets())
        if online is not None:
            self.dashboard.add_widgets(*dashboard_widgets(online, settings=config.online, metric=self._metric))

    def _metric(self, metric: obs.Metric, statistic: str = "Maximum", **extra_dimensions: str) -> cw.Metric:
        """`metric` of this pipeline, at the target's alarm period."""
        return cw.Metric(
            namespace=obs.NAMESPACE,
            metric_name=metric.name,
            dimensions_map=obs.dimensions_map(metric, self._config.name, **extra_dimensions),
            statistic=statistic,
            period=self._period,
        )

    def _window(self, spec: AlarmSpec) -> Window:
        if spec.window is not None:
            return spec.window(self._config, self._target)
        datapoints, periods = self._config.drift.alarm_datapoints if spec.metric in BATCH_SIGNALS else (1, 1)
        return Window(self._period, datapoints, periods)

    def _alarm(self, spec: AlarmSpec, retraining_function: lambda_.IFunction, alerts: sns.ITopic) -> cw.Alarm:
        name, window = spec.alarm_id, self._window(spec)
        alarm = cw.Alarm(
            self,
            f"{name}Alarm",
            alarm_name=f"{self._config.name}-{name}",
            alarm_description=spec.description,
            metric=self._metric(spec.metric, spec.statistic).with_(period=window.period),
            threshold=spec.threshold(self._config),
            comparison_operator=spec.comparison,
            evaluation_periods=window.periods,
            datapoints_to_alarm=window.datapoints,
            treat_missing_data=spec.missing_data,
        )
        tell = cw_actions.SnsAction(alerts)
        retrains = spec.retrains_for(self._config)
        if retrains:
            alarm.add_alarm_action(cw_actions.LambdaAction(retraining_function, use_unique_permission_id=True), tell)
        else:
            alarm.add_alarm_action(tell)
        if retrains or "OK" in spec.tells:
            alarm.add_ok_action(tell)
        if "INSUFFICIENT_DATA" in spec.tells:
            alarm.add_insufficient_data_action(tell)
        return alarm

    def _dead_letters_alarm(self, dead_letter_queue: sqs.IQueue, alerts: sns.ITopic) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            "DeadLettersAlarm",
            alarm_name=f"{self._config.name}-DeadLetters",
            alarm_description="Scoring messages reached the dead-letter queue: fix the cause, then `mlops redrive`",
            metric=dead_letter_queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
            threshold=0,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(alerts))
        return alarm

    def _traffic_widgets(self, dead_letter_queue: sqs.IQueue) -> list[cw.IWidget]:
        files = [self._metric(m, "Sum") for m in (obs.FILES_SCORED, obs.FILES_REJECTED, obs.FILES_SUPERSEDED)]
        rows = [self._metric(obs.ROWS_SCORED, "Sum"), self._metric(obs.ROWS_REJECTED, "Sum")]
        return [
            cw.GraphWidget(title="Files scored / rejected / superseded", left=files),
            cw.GraphWidget(title="Rows scored / rejected", left=rows),
            cw.GraphWidget(
                title="Dead-letter queue depth",
                left=[dead_letter_queue.metric_approximate_number_of_messages_visible()],
            ),
        ]

    def _drift_widgets(self) -> list[cw.IWidget]:
        names = self._config.feature_names
        scores = [self._metric(obs.FEATURE_DRIFT_SCORE, **{obs.FEATURE: name}) for name in names]
        threshold = cw.HorizontalAnnotation(value=1.0, label="drift (PSI = its threshold for the batch size)")
        signals = [obs.PREDICTION_DRIFT_SCORE, obs.MULTIVARIATE_DRIFT_SCORE]
        quality_title, quality = self._quality_metrics()
        return [
            cw.GraphWidget(title="Drift per feature (PSI / threshold)", left=scores, left_annotations=[threshold]),
            cw.GraphWidget(
                title=f"Prediction and joint drift; {quality_title}",
                left=[self._metric(m) for m in signals],
                left_annotations=[threshold],
                right=quality,
            ),
            cw.AlarmStatusWidget(title="Alarms", alarms=[*self.alarms.values(), self.dlq_alarm]),
        ]

    def _quality_metrics(self) -> tuple[str, list[cw.Metric]]:
        """What the labeled batches say about the model (and, for binary, the label-free estimate); a title."""
        kind = self._config.task.kind
        if kind == "regression":
            return "mean absolute error (labeled)", [self._metric(obs.MODEL_ERROR, "Maximum")]
        if kind == "multiclass":
            return "accuracy (labeled)", [self._metric(obs.MODEL_ACCURACY, "Minimum")]
        shown = (obs.MODEL_ACCURACY, obs.ESTIMATED_ACCURACY)
        return "accuracy (labeled and estimated)", [self._metric(m, "Minimum") for m in shown]

    def _training_widgets(self) -> list[cw.IWidget]:
        runs = [obs.TRAINING_RUNS, obs.TRAINING_FAILURES, obs.MODEL_PROMOTIONS]
        widgets: list[cw.IWidget] = [
            cw.SingleValueWidget(
                title="Champion version (UTC timestamp of the version id)",
                metrics=[self._metric(obs.CHAMPION_VERSION)],
            ),
            cw.GraphWidget(title="Training runs", left=[self._metric(m, "Sum") for m in runs]),
        ]
        max_age = self._config.monitoring.max_model_age_days
        if max_age is not None:  # published only by a stack with the champion-age alarm
            age = self._metric(obs.CHAMPION_AGE_DAYS).with_(period=self._target.staleness_rate)
            limit = cw.HorizontalAnnotation(value=max_age, label="monitoring.max_model_age_days")
            widgets.append(
                cw.GraphWidget(title="Champion age (days since training)", left=[age], left_annotations=[limit])
            )
        return widgets
