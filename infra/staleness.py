"""Staleness: the function that publishes the champion's age on a schedule, and the alarms on a silent
pipeline and an old champion (built with the rest by `infra/monitoring.py`'s Monitoring)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from constructs import Construct

from mlops_core import observability as obs
from mlops_core.config import SHORT_PERIOD_SPAN_LIMIT_S, ProjectConfig
from mlops_core.environment import StalenessEnvironment
from mlops_core.storage import layout

from . import nag
from .access import KeyAccess, grant_keys
from .alarms import AlarmSpec, Window, required
from .functions import FunctionAssets, metrics_statement
from .storage import Storage
from .targets import TargetSettings

# Alarm periods CloudWatch accepts (10 and 30 s only for high-resolution metrics, as FilesScored is),
# longest first.
ALARM_PERIODS_S = (3600, 1800, 900, 600, 300, 120, 60, 30, 10)
# CloudWatch reads missing periods as breaching only while its evaluation range (the alarm's periods and
# a few before them) holds fewer real data points than the alarm has periods. A heartbeat of one long
# period therefore fires periods late (a 1-day period, "1 of 1": after 3 or 4 silent days). Split into
# this many periods or more, every one of which must be empty, it fires within one period of the silence.
MIN_HEARTBEAT_PERIODS = 10


def heartbeat_periods(silence_s: int, *, shortest_s: int) -> tuple[int, int]:
    """(period, number of periods) of an alarm that fires when all of `silence_s` seconds had no datum.

    The longest period that still gives MIN_HEARTBEAT_PERIODS (fewer periods are cheaper to evaluate:
    LocalStack queries each one apart), never shorter than `shortest_s`, the target's alarm period.
    `silence_s` is what `MonitoringSettings` accepted: whole minutes, whole hours above a day.
    """
    for period in ALARM_PERIODS_S:
        if period >= shortest_s and silence_s % period == 0 and silence_s // period >= MIN_HEARTBEAT_PERIODS:
            return period, silence_s // period
    period = shortest_s
    if silence_s % period or (period < 3600 and silence_s > SHORT_PERIOD_SPAN_LIMIT_S):
        raise ValueError(f"no CloudWatch alarm spans {silence_s} s in periods of {period} s")
    return period, silence_s // period


def _heartbeat_window(config: ProjectConfig, target: TargetSettings) -> Window:
    """Every period of monitoring.max_silence_hours without a file scored (see `heartbeat_periods`)."""
    silence_s = config.monitoring.silence_seconds
    assert silence_s is not None, "the heartbeat alarm exists only when max_silence_hours is set"
    period, periods = heartbeat_periods(silence_s, shortest_s=int(target.alarm_period.to_seconds()))
    return Window(Duration.seconds(period), periods, periods)


# Staleness ([monitoring] in mlops.toml): a pipeline gone silent, a champion grown old. Each exists only
# when its setting is set, and both report every change of state to the alerts topic.
STALENESS_ALARMS = (
    AlarmSpec(
        name="Heartbeat",
        metric=obs.FILES_SCORED,
        threshold=lambda _: 1,
        comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
        statistic="Sum",
        description="No file was scored for monitoring.max_silence_hours (rejected files do not count): check that "
        "files still arrive under incoming/ (`mlops audit`), the queue and dead-letter queue depths (`mlops status`) "
        "and the scoring function's log",
        retrains=False,
        enabled=lambda config: config.monitoring.max_silence_hours is not None,
        window=_heartbeat_window,
        # FilesScored is published only when a file is scored: a period without a datum is a period in which
        # no file was scored, which is what this alarm is about.
        missing_data=cw.TreatMissingData.BREACHING,
        tells=frozenset({"OK"}),
    ),
    AlarmSpec(
        metric=obs.CHAMPION_AGE_DAYS,
        threshold=lambda config: required(config.monitoring.max_model_age_days),
        comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        statistic="Maximum",
        description="ALARM: the champion was trained more than monitoring.max_model_age_days ago; with "
        "retraining.on_stale a run starts by itself, else add recent labeled data and `mlops train` (`mlops status` "
        "shows the champion and the gate's decisions). INSUFFICIENT_DATA: its age is not being published: no "
        "champion yet, or the staleness function is failing (read its log)",
        retrains=lambda config: config.retraining.on_stale,
        enabled=lambda config: config.monitoring.max_model_age_days is not None,
        # One period per publication of the age (infra/targets.py's staleness_rate).
        window=lambda _, target: Window(target.staleness_rate, 1, 1),
        # No datum means the publisher is not running or there is no champion: neither says the model is
        # old (breaching would retrain a pipeline that has no model) nor that it is fresh (not breaching would
        # hide a broken publisher). Missing: INSUFFICIENT_DATA, which is reported like the other states.
        missing_data=cw.TreatMissingData.MISSING,
        tells=frozenset({"OK", "INSUFFICIENT_DATA"}),
    ),
)


class ChampionAge(Construct):
    """A function that publishes `ChampionAgeDays` on an EventBridge schedule (the target's `staleness_rate`)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        assets: FunctionAssets,
        rate: Duration,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        environment = StalenessEnvironment(models_bucket=storage.models_bucket.bucket_name, namespace=obs.NAMESPACE)
        self.function, self.role = assets.function(
            self,
            "Function",
            handler="staleness.handler.lambda_handler",
            timeout=Duration.seconds(30),
            memory_size=256,
            environment={**environment.as_environment(), "POWERTOOLS_SERVICE_NAME": "staleness"},
            removal_policy=removal_policy,
            description="Publishes the champion's age (ChampionAgeDays) for the staleness alarm",
        )
        manifests = layout.manifest_key("*")
        why = {manifests: "reads the champion's manifest (its training time); no artifact, no data"}
        grant_keys(self.role, storage.models_bucket, KeyAccess(read=(layout.CHAMPION_KEY, manifests)), why=why)
        self.role.add_to_policy(metrics_statement())
        nag.acknowledge_metrics(self.role)
        self.rule = events.Rule(
            self,
            "Schedule",
            schedule=events.Schedule.rate(rate),
            # No retries: the next tick publishes the age again, computed afresh.
            targets=[events_targets.LambdaFunction(self.function, retry_attempts=0)],
            description="Publishes the champion's age for the staleness alarm",
        )
