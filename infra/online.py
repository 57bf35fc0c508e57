"""The online endpoint ([online] in mlops.toml): an IAM-authorized REST API whose POST /predict and POST /feedback
reach one function (lambdas/online), and the scheduled function that turns each closed window of captured traffic
into a batch under incoming/online/, which the scoring pipeline scores like any other file (lambdas/online_monitor).

Its 5xx alarm and its dashboard widgets are built with the rest by `infra/monitoring.py`'s Monitoring, from
`server_errors_alarm` and `dashboard_widgets` here.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from mlops_core import observability as obs
from mlops_core.config import OnlineSettings
from mlops_core.environment import OnlineEnvironment, OnlineMonitorEnvironment
from mlops_core.storage import layout

from . import nag
from .access import KeyAccess, grant_keys
from .functions import FunctionAssets, metrics_statement
from .storage import Storage
from .targets import RestApiUrl

# scikit-learn's import and the champion (and a challenger) stay in memory between requests; Lambda gives CPU in
# proportion to memory, and a cold start's imports and model load are what a first caller waits for.
ENDPOINT_MEMORY_MB = 1024
# Well inside API Gateway's 29 s integration timeout. The monitor's grace period depends on it: a request's
# capture is written before the function times out, so a window is complete this long after it closes.
ENDPOINT_TIMEOUT = Duration.seconds(10)
MONITOR_MEMORY_MB = 1024  # one window's captured records, read into one batch
MONITOR_TIMEOUT = Duration.minutes(5)
STAGE = "prod"
ROUTES = ("predict", "feedback")
# LocalStack's path-style URL of a REST API's stage (infra/targets.py's rest_api_url).
LOCAL_URL = "http://127.0.0.1:4566/restapis/{api_id}/" + STAGE + "/_user_request_/"

ENDPOINT_DATA = KeyAccess(write=(f"{layout.ONLINE_REQUESTS}*", f"{layout.ONLINE_LABELS}*"))
ENDPOINT_DATA_WHY = {
    f"{layout.ONLINE_REQUESTS}*": "writes the captured records of a request to /predict (new objects only)",
    f"{layout.ONLINE_LABELS}*": "writes the labels posted to /feedback (new objects only)",
}
MONITOR_DATA = KeyAccess(
    read=(f"{layout.ONLINE_REQUESTS}*", f"{layout.ONLINE_LABELS}*", f"{layout.ONLINE_REPORTS}*"),
    write=(f"{layout.ONLINE_REPORTS}*",),
    # A window's batch can be large (the boto3 managed transfer goes multipart): PutObject and AbortMultipartUpload.
    upload=(f"{layout.ONLINE_BATCHES}*",),
)
MONITOR_DATA_WHY = {
    f"{layout.ONLINE_REQUESTS}*": "reads a closed window's captured requests",
    f"{layout.ONLINE_LABELS}*": "reads the labels posted for the window's records",
    f"{layout.ONLINE_REPORTS}*": "reads and writes one report per window: what became of it (exactly once)",
    f"{layout.ONLINE_BATCHES}*": "writes one batch per window under incoming/, which scoring then scores",
}


class OnlineEndpoint(Construct):
    """The REST API and its function, and the monitor with its schedule, with least-privilege grants."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        project: str,
        settings: OnlineSettings,
        storage: Storage,
        assets: FunctionAssets,
        alerts: sns.ITopic,
        url_style: RestApiUrl,
        removal_policy: RemovalPolicy,
        challenger_rule: bool,
    ) -> None:
        """`challenger_rule`: as scoring's (promotion.challenger is not off), the endpoint may close a challenger
        (suspend one whose artifact fails its checksum, retire one a rollback left behind) and record that."""
        super().__init__(scope, construct_id)
        storage.expire_online(days=settings.retention_days)
        self.function, self.role = self._endpoint(storage, assets, alerts, removal_policy, challenger_rule)
        self.api = self._api(project, settings, removal_policy)
        self.url = self.api.url if url_style == "execute-api" else LOCAL_URL.format(api_id=self.api.rest_api_id)
        self.monitor, self.monitor_role = self._monitor(storage, assets, removal_policy)
        self.rule = events.Rule(
            self,
            "Schedule",
            schedule=events.Schedule.rate(Duration.minutes(settings.monitor_every_minutes)),
            # No retries: the schedule comes round again within one window, and the monitor takes every closed
            # window it has no report for, so a failed run's window is taken by the next.
            targets=[events_targets.LambdaFunction(self.monitor, retry_attempts=0)],
            description="Turns each closed window of the online endpoint's traffic into a batch under incoming/online/",
        )

    @property
    def roles(self) -> list[iam.IRole]:
        return [self.role, self.monitor_role]

    def outputs(self) -> dict[str, str]:
        return {
            "OnlineEndpoint": self.url,  # the stage's base URL, ending in "/": append "predict" or "feedback"
            "OnlineApiId": self.api.rest_api_id,
            "OnlineFunction": self.function.function_name,
            "OnlineMonitorFunction": self.monitor.function_name,
        }

    def _endpoint(
        self,
        storage: Storage,
        assets: FunctionAssets,
        alerts: sns.ITopic,
        removal_policy: RemovalPolicy,
        challenger_rule: bool,
    ) -> tuple[lambda_.Function, iam.Role]:
        environment = OnlineEnvironment(
            data_bucket=storage.data_bucket.bucket_name,
            models_bucket=storage.models_bucket.bucket_name,
            namespace=obs.NAMESPACE,
            alert_topic_arn=alerts.topic_arn,
        )
        function, role = assets.function(
            self,
            "Function",
            handler="online.handler.lambda_handler",
            timeout=ENDPOINT_TIMEOUT,
            memory_size=ENDPOINT_MEMORY_MB,
            environment={**environment.as_environment(), "POWERTOOLS_SERVICE_NAME": "online"},
            removal_policy=removal_policy,
            description="Answers POST /predict and /feedback with the champion (and challenger); captures the traffic",
        )
        grant_keys(role, storage.data_bucket, ENDPOINT_DATA, why=ENDPOINT_DATA_WHY)
        # Scoring's models access (infra/scoring.py) without byte ranges, and of the challenger rule only the
        # closing of a challenger: it never promotes, so it never writes the champion pointer.
        models = KeyAccess(
            read=(f"{layout.MODELS}*", layout.CHAMPION_KEY, layout.CHALLENGER_KEY),
            write=(layout.CHALLENGER_KEY, f"{layout.HISTORY}*") if challenger_rule else (),
        )
        why = {
            f"{layout.MODELS}*": "reads model artifacts and manifests (read-only)",
            f"{layout.HISTORY}*": "records a suspended or retired challenger (new objects only)",
        }
        grant_keys(role, storage.models_bucket, models, why=why)
        alerts.grant_publish(role)  # a suspended challenger's alert
        nag.acknowledge_alert_publishing(role)
        return function, role

    def _api(self, project: str, settings: OnlineSettings, removal_policy: RemovalPolicy) -> apigw.RestApi:
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=removal_policy
        )
        api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{project}-online",
            description="The online endpoint: POST /predict and /feedback (IAM-signed requests only)",
            endpoint_types=[apigw.EndpointType.REGIONAL],  # called from services in the region; no CloudFront
            # Stage logs need the account's CloudWatch role (AWS::ApiGateway::Account, one per account and region,
            # which this sets; retained on AWS, where other APIs of the account may log through it).
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=removal_policy,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE,
                throttling_rate_limit=settings.rate_limit,
                throttling_burst_limit=settings.burst_limit,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # never log request or response bodies
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=True,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        # API Gateway refuses a body over 10 MB itself; the function refuses one over online.max_body_bytes.
        integration = apigw.LambdaIntegration(self.function, proxy=True, allow_test_invoke=False)
        for route in ROUTES:
            api.root.add_resource(route).add_method("POST", integration, authorization_type=apigw.AuthorizationType.IAM)
        api.node.try_remove_child("Endpoint")  # CDK's own output of the URL: the stack outputs OnlineEndpoint
        self._acknowledge(api)
        return api

    @staticmethod
    def _acknowledge(api: apigw.RestApi) -> None:
        nag.acknowledge(
            api,
            "APIG2",
            "a Lambda proxy whose function validates every request itself (size, records, fields) and answers "
            "4xx naming the problem; an API Gateway model would be a second, weaker copy of mlops.toml's schema",
        )
        nag.acknowledge(
            api,
            "APIG3",
            "every method takes IAM-signed requests only and the stage is throttled (online.rate_limit, "
            "burst_limit); a WAF web ACL adds cost per month and per request for no caller the IAM check lets in",
        )
        nag.acknowledge(
            api,
            "COG4",
            "callers are services with AWS credentials: IAM (SigV4) authorization on every method, not Cognito",
        )
        nag.acknowledge(
            api.node.find_child("CloudWatchRole"),
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "the role API Gateway's account settings require for stage logs; AWS's policy for exactly that",
        )

    def _monitor(
        self, storage: Storage, assets: FunctionAssets, removal_policy: RemovalPolicy
    ) -> tuple[lambda_.Function, iam.Role]:
        environment = OnlineMonitorEnvironment(data_bucket=storage.data_bucket.bucket_name, namespace=obs.NAMESPACE)
        function, role = assets.function(
            self,
            "MonitorFunction",
            handler="online_monitor.handler.lambda_handler",
            timeout=MONITOR_TIMEOUT,
            memory_size=MONITOR_MEMORY_MB,
            environment={**environment.as_environment(), "POWERTOOLS_SERVICE_NAME": "online_monitor"},
            removal_policy=removal_policy,
            description="Turns each closed window of online traffic into a batch for scoring; publishes its metrics",
        )
        grant_keys(role, storage.data_bucket, MONITOR_DATA, why=MONITOR_DATA_WHY)
        role.add_to_policy(metrics_statement())
        nag.acknowledge_metrics(role)
        return function, role


def server_errors_alarm(
    scope: Construct,
    online: OnlineEndpoint,
    *,
    project: str,
    settings: OnlineSettings,
    period: Duration,
    alerts: sns.ITopic,
) -> cw.Alarm:
    """The share of requests answered 5xx above online.max_5xx_rate in a period: people are told (ALARM and OK);
    nothing retrains, since a failing endpoint says nothing about the model's fit."""
    alarm = cw.Alarm(
        scope,
        "Online5xxAlarm",
        alarm_name=f"{project}-Online5xx",
        alarm_description="More than online.max_5xx_rate of the endpoint's requests were answered 5xx: read the "
        "online function's log (errors, timeouts), its Throttles on the dashboard, and `mlops status` (a champion "
        "that does not load); API Gateway's own 5xx are in the stage's access log",
        # 5XXError is 0 or 1 per request, so its average over a period is the period's 5xx rate.
        metric=online.api.deployment_stage.metric_server_error(statistic="Average", period=period),
        threshold=settings.max_5xx_rate,
        comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        # No request, no datum: no evidence of trouble.
        treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
    )
    alarm.add_alarm_action(cw_actions.SnsAction(alerts))
    alarm.add_ok_action(cw_actions.SnsAction(alerts))
    return alarm


def dashboard_widgets(
    online: OnlineEndpoint, *, settings: OnlineSettings, metric: Callable[[obs.Metric, str], cw.Metric]
) -> list[cw.IWidget]:
    """API Gateway's live view, the function's throttles, and the monitor's per-window metrics (`metric` builds a
    pipeline metric, as `Monitoring._metric` does)."""
    stage, minute = online.api.deployment_stage, Duration.minutes(1)
    latency = [stage.metric_latency(statistic=p, period=minute, label=f"Latency {p}") for p in ("p50", "p99")]
    requests = [
        stage.metric_count(statistic="Sum", period=minute),
        stage.metric_client_error(statistic="Sum", period=minute),
        stage.metric_server_error(statistic="Sum", period=minute),
        online.function.metric_throttles(statistic="Sum", period=minute),
    ]
    window = Duration.minutes(settings.monitor_every_minutes)
    counts = [obs.ONLINE_REQUESTS, obs.ONLINE_BAD_REQUESTS, obs.ONLINE_UNMATCHED_LABELS]
    handler_latency = [obs.ONLINE_LATENCY_P50, obs.ONLINE_LATENCY_P99]
    return [
        cw.GraphWidget(title="Online: API Gateway latency (ms)", left=latency),
        cw.GraphWidget(title="Online: requests, 4xx, 5xx, function throttles", left=requests),
        cw.GraphWidget(
            title="Online, per window: requests, 4xx, unmatched labels; handler latency (ms)",
            left=[metric(m, "Sum").with_(period=window) for m in counts],
            right=[metric(m, "Maximum").with_(period=window) for m in handler_latency],
        ),
    ]
