"""The online endpoint ([online] in mlops.toml): without it the stack has no API and no extra function; with it, an
IAM-only REST API throttled as configured, its function's and the monitor's exact grants, the monitor's schedule,
the 5xx alarm, the dashboard and the outputs the CLI reads (both targets)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from aws_cdk.assertions import Match, Template

from infra.app import ROOT
from mlops_core.environment import OnlineEnvironment, OnlineMonitorEnvironment
from mlops_core.observability import NAMESPACE, PIPELINE

from .conftest import logical_id, resources, synth
from .test_contracts import dashboard_metrics, environment
from .test_permissions import grants, s3_grants
from .test_staleness import refs, topic_and_retraining

ONLINE = (
    "[online]\nenabled = true\nrate_limit = 25\nburst_limit = 40\nmonitor_every_minutes = 5\nmax_5xx_rate = 0.05\n\n"
)
HANDLERS = {"online.handler.lambda_handler", "online_monitor.handler.lambda_handler"}
OUTPUTS = {"OnlineEndpoint", "OnlineApiId", "OnlineFunction", "OnlineMonitorFunction", "Online5xxAlarm"}
ENDPOINT = {
    ("s3:ListBucket", "data"),
    *grants("s3:PutObject", "data/online/requests/*", "data/online/labels/*"),
    ("s3:ListBucket", "models"),
    *grants("s3:GetObject", "models/models/*", "models/registry/champion.json", "models/registry/challenger.json"),
}
# With the champion/challenger rule, as scoring: it may close a challenger and record that, never move the champion.
ENDPOINT_CHALLENGER_RULE = grants("s3:PutObject", "models/registry/challenger.json", "models/registry/history/*")
MONITOR = {
    ("s3:ListBucket", "data"),
    *grants("s3:GetObject", "data/online/requests/*", "data/online/labels/*", "data/reports/online/*"),
    *grants("s3:PutObject", "data/reports/online/*", "data/incoming/online/*"),
    ("s3:AbortMultipartUpload", "data/incoming/online/*"),
}


def with_online(text: str, extra: str = "") -> str:
    return text.replace("[queue]\n", ONLINE + extra + "[queue]\n", 1)


@pytest.fixture(scope="module", params=["localstack", "aws"])
def online(request, tmp_path_factory) -> tuple[str, Template, Path]:
    """mlops.toml with [online] on, synthesised for each target. The aws target's training image takes only a
    config inside the repository: it is written under cdk.out/ (ignored by git), and removed afterwards."""
    (ROOT / "cdk.out").mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="test-online-", dir=ROOT / "cdk.out"))
    try:
        config = folder / "mlops.toml"
        config.write_text(with_online((ROOT / "mlops.toml").read_text()))
        template, assembly = synth(
            request.param, tmp_path_factory.mktemp(f"online-{request.param}"), config_file=config
        )
        yield request.param, template, assembly
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def online_challenger(tmp_path_factory) -> Template:
    """The local target with [online] on and the champion/challenger rule."""
    folder = tmp_path_factory.mktemp("online-challenger")
    text = with_online((ROOT / "mlops.toml").read_text())
    config = folder / "mlops.toml"
    config.write_text(text.replace("[promotion]\n", '[promotion]\nchallenger = "shadow"\n', 1))
    template, _ = synth("localstack", folder / "cdk", config_file=config)
    return template


def handlers(template: Template) -> set[str]:
    return {f["Properties"]["Handler"] for f in resources(template, "AWS::Lambda::Function").values()}


def test_given_no_online_section_when_synthesized_then_no_api_no_online_function_and_no_online_output(synthesized):
    _, template, _ = synthesized

    assert not [r for r in template.to_json()["Resources"].values() if r["Type"].startswith("AWS::ApiGateway::")]
    assert not handlers(template) & HANDLERS
    assert not OUTPUTS & set(template.find_outputs("*"))
    data = resources(template, "AWS::S3::Bucket")[logical_id(template, "AWS::S3::Bucket", "Storage/Data")]
    assert "online/" not in {r.get("Prefix") for r in data["Properties"]["LifecycleConfiguration"]["Rules"]}


def test_given_online_when_synthesized_then_predict_and_feedback_take_only_iam_signed_posts(online):
    _, template, _ = online
    api = logical_id(template, "AWS::ApiGateway::RestApi", "Online/Api")
    paths = {k: r["Properties"]["PathPart"] for k, r in resources(template, "AWS::ApiGateway::Resource").items()}
    methods = resources(template, "AWS::ApiGateway::Method").values()

    assert sorted(paths.values()) == ["feedback", "predict"]
    assert sorted(paths[m["Properties"]["ResourceId"]["Ref"]] for m in methods) == ["feedback", "predict"]
    for method in methods:  # every method of the stack: none is unauthenticated
        props = method["Properties"]
        assert (props["HttpMethod"], props["AuthorizationType"]) == ("POST", "AWS_IAM")
        assert props["RestApiId"] == {"Ref": api}
        assert props["Integration"]["Type"] == "AWS_PROXY"
    assert resources(template, "AWS::ApiGateway::RestApi")[api]["Properties"]["Name"] == "mlops-online"


def test_given_online_when_synthesized_then_the_prod_stage_is_throttled_as_configured_and_logged(online):
    _, template, _ = online
    logs = logical_id(template, "AWS::Logs::LogGroup", "Online/AccessLogs")
    (stage,) = resources(template, "AWS::ApiGateway::Stage").values()

    props = stage["Properties"]
    assert props["StageName"] == "prod"
    assert props["MethodSettings"] == [
        {
            "HttpMethod": "*",
            "ResourcePath": "/*",
            "ThrottlingRateLimit": 25,
            "ThrottlingBurstLimit": 40,
            "MetricsEnabled": True,
            "LoggingLevel": "ERROR",
            "DataTraceEnabled": False,  # never a request's or an answer's body in the logs
        }
    ]
    assert props["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": [logs, "Arn"]}
    # Stage logs need the account's CloudWatch role, set before the stage is created.
    account = logical_id(template, "AWS::ApiGateway::Account", "Online/Api")
    assert account in stage["DependsOn"]


def test_given_online_then_the_endpoint_function_runs_the_online_handler_within_its_limits(online):
    _, template, _ = online
    function = logical_id(template, "AWS::Lambda::Function", "Online/Function")
    props = resources(template, "AWS::Lambda::Function")[function]["Properties"]

    assert props["Handler"] == "online.handler.lambda_handler"
    assert (props["MemorySize"], props["Timeout"]) == (1024, 10)
    variables = environment(template, "Online/Function")
    assert OnlineEnvironment.from_environment(variables).as_environment() == variables
    assert OnlineEnvironment.from_environment(variables).alert_topic_arn is not None
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com",
            "FunctionName": {"Fn::GetAtt": [function, "Arn"]},
        },
    )


def test_given_online_then_the_endpoint_role_writes_its_captures_and_only_reads_models(online):
    _, template, _ = online
    assert s3_grants(template, "Online/FunctionRole") == ENDPOINT


def test_given_the_challenger_rule_then_the_endpoint_may_close_a_challenger_but_never_move_the_champion(
    online_challenger,
):
    assert s3_grants(online_challenger, "Online/FunctionRole") == ENDPOINT | ENDPOINT_CHALLENGER_RULE


def test_given_online_then_the_monitor_reads_captures_and_writes_its_batches_and_reports(online):
    _, template, _ = online
    assert s3_grants(template, "Online/MonitorFunctionRole") == MONITOR
    variables = environment(template, "Online/MonitorFunction")
    assert OnlineMonitorEnvironment.from_environment(variables).as_environment() == variables


def test_given_online_then_both_roles_are_denied_purging_model_versions(online):
    _, template, _ = online
    models = logical_id(template, "AWS::S3::Bucket", "Storage/Models")
    (policy,) = [
        p for p in resources(template, "AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == {"Ref": models}
    ]
    denials = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "ArnEquals" in s.get("Condition", {})]
    assert len(denials) == 2  # keep every version; never delete a model
    for denied in denials:
        (principals,) = denied["Condition"]["ArnEquals"].values()
        named = {p["Fn::GetAtt"][0] for p in principals}
        for path in ("Online/FunctionRole", "Online/MonitorFunctionRole"):
            assert logical_id(template, "AWS::IAM::Role", path) in named


def test_given_online_then_the_monitor_runs_every_window_without_retries(online):
    _, template, _ = online
    function = logical_id(template, "AWS::Lambda::Function", "Online/MonitorFunction")
    props = resources(template, "AWS::Lambda::Function")[function]["Properties"]

    assert props["Handler"] == "online_monitor.handler.lambda_handler"
    assert (props["MemorySize"], props["Timeout"]) == (1024, 300)
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(5 minutes)",
            "State": "ENABLED",
            "Targets": [
                Match.object_like(
                    {"Arn": {"Fn::GetAtt": [function, "Arn"]}, "RetryPolicy": {"MaximumRetryAttempts": 0}}
                )
            ],
        },
    )


def test_given_online_then_the_5xx_alarm_tells_people_when_the_share_of_5xx_passes_the_limit(online):
    target, template, _ = online
    topic, retraining = topic_and_retraining(template)
    stage = logical_id(template, "AWS::ApiGateway::Stage", "Online/Api")
    (alarm,) = [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "5XXError"
    ]

    assert (alarm["Namespace"], alarm["Statistic"]) == ("AWS/ApiGateway", "Average")  # 0 or 1 per request: a rate
    assert alarm["Dimensions"] == [
        {"Name": "ApiName", "Value": "mlops-online"},
        {"Name": "Stage", "Value": {"Ref": stage}},
    ]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0.05, "GreaterThanThreshold")
    assert alarm["Period"] == (60 if target == "aws" else 10)
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmName"] == "mlops-Online5xx"
    assert topic in refs(alarm["AlarmActions"]) and topic in refs(alarm["OKActions"])
    assert retraining not in refs(alarm["AlarmActions"])


def test_given_online_then_the_dashboard_shows_the_api_the_function_throttles_and_the_window_metrics(online):
    _, template, _ = online
    metrics = dashboard_metrics(template)
    api = {name for namespace, name, _ in metrics if namespace == "AWS/ApiGateway"}
    windows = {name: dimensions for namespace, name, dimensions in metrics if namespace == NAMESPACE}

    assert api == {"Latency", "Count", "4XXError", "5XXError"}
    assert ("AWS/Lambda", "Throttles") in {(namespace, name) for namespace, name, _ in metrics}
    for name in (
        "OnlineRequests",
        "OnlineBadRequests",
        "OnlineLatencyP50",
        "OnlineLatencyP99",
        "OnlineUnmatchedLabels",
    ):
        assert windows[name] == {PIPELINE: "mlops"}


def test_given_online_then_captures_expire_with_incoming(online):
    _, template, _ = online
    data = resources(template, "AWS::S3::Bucket")[logical_id(template, "AWS::S3::Bucket", "Storage/Data")]
    rules = {r["Id"]: r for r in data["Properties"]["LifecycleConfiguration"]["Rules"]}

    assert (rules["expire-online"]["Prefix"], rules["expire-online"]["ExpirationInDays"]) == ("online/", 30)
    assert rules["expire-incoming"]["ExpirationInDays"] == 30


def test_given_online_then_the_outputs_name_the_endpoint_its_functions_and_its_alarm(online):
    target, template, _ = online
    outputs = template.find_outputs("*")
    api = logical_id(template, "AWS::ApiGateway::RestApi", "Online/Api")

    assert set(outputs) >= OUTPUTS
    assert "OnlineApiEndpoint" not in "".join(outputs)  # CDK's own URL output is replaced by OnlineEndpoint
    assert outputs["OnlineApiId"]["Value"] == {"Ref": api}
    parts = outputs["OnlineEndpoint"]["Value"]["Fn::Join"][1]
    if target == "aws":
        assert (parts[0], parts[1], parts[-1]) == ("https://", {"Ref": api}, "/")
    else:  # LocalStack's path style (infra/targets.py)
        assert parts == ["http://127.0.0.1:4566/restapis/", {"Ref": api}, "/prod/_user_request_/"]


def test_given_online_then_cdk_nag_and_cfn_lint_pass(online):
    _, _, assembly = online
    report = json.loads((assembly / "validation-report.json").read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert (nag["conclusion"], nag["violations"]) == ("success", [])
    assert all(len(s["reason"]) > 20 for s in nag["suppressedViolations"])
    template = next(Path(assembly).glob("*.template.json"))
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), "--format", "parseable", str(template)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
