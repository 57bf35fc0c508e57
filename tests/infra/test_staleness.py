"""Staleness ([monitoring] in mlops.toml): the heartbeat and champion-age alarms, the function that publishes the
champion's age on a schedule, its role, and the heartbeat's window within what CloudWatch accepts."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from infra.app import ROOT
from infra.staleness import ALARM_PERIODS_S, MIN_HEARTBEAT_PERIODS, heartbeat_periods
from mlops_core.config import ConfigError, MonitoringSettings

from .conftest import logical_id, resources, synth
from .test_stack import policy_documents_of_role, statements_touching


def alarm_on(template: Template, metric: str) -> dict:
    """The properties of the one alarm on `metric`."""
    (alarm,) = [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == metric
    ]
    return alarm


def refs(actions: list) -> str:
    return json.dumps(actions)


def topic_and_retraining(template: Template) -> tuple[str, str]:
    """The logical ids an alarm action names: the alerts topic, the retraining function."""
    return (
        logical_id(template, "AWS::SNS::Topic", "Alerts/Topic"),
        logical_id(template, "AWS::Lambda::Function", "Training/RetrainingFunction"),
    )


def synth_with(tmp_path, edit) -> Template:
    """The localstack template of the repo's mlops.toml after `edit` (text -> text)."""
    config = tmp_path / "mlops.toml"
    config.write_text(edit((ROOT / "mlops.toml").read_text()))
    template, _ = synth("localstack", tmp_path / "cdk", config_file=config)
    return template


def test_given_max_silence_hours_when_synthesized_then_the_heartbeat_breaches_when_every_period_had_no_file(
    synthesized, config
):
    _, template, _ = synthesized
    topic, retraining = topic_and_retraining(template)
    alarm = alarm_on(template, "FilesScored")

    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == ("Sum", "LessThanThreshold", 1)
    assert alarm["TreatMissingData"] == "breaching"  # no datum: no file scored in that period
    assert alarm["Period"] * alarm["EvaluationPeriods"] == config.monitoring.silence_seconds == 24 * 3600
    assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"] >= MIN_HEARTBEAT_PERIODS
    assert alarm["AlarmName"] == f"{config.name}-Heartbeat"
    assert topic in refs(alarm["AlarmActions"]) and retraining not in refs(alarm["AlarmActions"])
    assert topic in refs(alarm["OKActions"])


def test_given_max_model_age_days_when_synthesized_then_the_champion_age_alarm_reads_no_datum_as_unknown(
    synthesized, config
):
    target, template, _ = synthesized
    topic, retraining = topic_and_retraining(template)
    alarm = alarm_on(template, "ChampionAgeDays")

    assert (alarm["Statistic"], alarm["ComparisonOperator"]) == ("Maximum", "GreaterThanThreshold")
    assert alarm["Threshold"] == config.monitoring.max_model_age_days == 30
    assert alarm["TreatMissingData"] == "missing"
    assert (alarm["Period"], alarm["EvaluationPeriods"]) == (3600 if target == "aws" else 60, 1)
    assert alarm["Dimensions"] == [{"Name": "Pipeline", "Value": config.name}]
    # retraining.on_stale is off in mlops.toml: people are told of every change of state, nothing retrains.
    assert retraining not in refs(alarm["AlarmActions"])
    for actions in ("AlarmActions", "OKActions", "InsufficientDataActions"):
        assert topic in refs(alarm[actions]), actions


def test_given_max_model_age_days_when_synthesized_then_a_schedule_starts_the_publisher_at_the_alarm_period(
    synthesized,
):
    target, template, _ = synthesized
    function = logical_id(template, "AWS::Lambda::Function", "Staleness/Function")
    models = logical_id(template, "AWS::S3::Bucket", "Storage/Models")

    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(1 hour)" if target == "aws" else "rate(1 minute)",
            "State": "ENABLED",
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [function, "Arn"]}})],
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {"Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com", "FunctionName": Match.any_value()},
    )
    props = resources(template, "AWS::Lambda::Function")[function]["Properties"]
    assert props["Handler"] == "staleness.handler.lambda_handler"
    assert props["Environment"]["Variables"]["MODELS_BUCKET"] == {"Ref": models}
    outputs = set(template.find_outputs("*"))
    assert {"StalenessFunction", "HeartbeatAlarm", "ChampionAgeDaysAlarm"} <= outputs


def test_given_the_publisher_role_then_it_reads_only_the_champion_pointer_and_manifests(template):
    role = logical_id(template, "AWS::IAM::Role", "Staleness/FunctionRole")
    models = logical_id(template, "AWS::S3::Bucket", "Storage/Models")
    data = logical_id(template, "AWS::S3::Bucket", "Storage/Data")
    docs = policy_documents_of_role(template, role)

    assert statements_touching(docs, data) == []
    statements = statements_touching(docs, models)
    actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert not any(a.startswith(("s3:Put", "s3:Delete", "s3:Abort")) for a in actions), actions
    paths = {
        part
        for s in statements
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
        if "Fn::Join" in r
        for part in r["Fn::Join"][1]
        if isinstance(part, str) and part.startswith("/")
    }
    assert paths == {"/registry/champion.json", "/models/*/manifest.json"}  # no artifact, no run record


def test_given_on_stale_when_synthesized_then_the_champion_age_alarm_also_starts_retraining(tmp_path):
    template = synth_with(tmp_path, lambda text: text.replace("[retraining]\n", "[retraining]\non_stale = true\n", 1))
    topic, retraining = topic_and_retraining(template)

    actions = refs(alarm_on(template, "ChampionAgeDays")["AlarmActions"])

    assert retraining in actions and topic in actions
    assert retraining not in refs(alarm_on(template, "FilesScored")["AlarmActions"])


def test_given_no_monitoring_section_when_synthesized_then_no_staleness_alarm_function_or_rule(tmp_path):
    template = synth_with(tmp_path, lambda text: text[: text.index("\n[monitoring]")])

    metrics = {a["Properties"].get("MetricName") for a in resources(template, "AWS::CloudWatch::Alarm").values()}
    assert not metrics & {"FilesScored", "ChampionAgeDays"}
    handlers = {f["Properties"]["Handler"] for f in resources(template, "AWS::Lambda::Function").values()}
    assert "staleness.handler.lambda_handler" not in handlers
    rules = [r["Properties"] for r in resources(template, "AWS::Events::Rule").values()]
    assert all(r.get("EventPattern", {}).get("source") == ["aws.sagemaker"] for r in rules)  # no schedule
    assert "StalenessFunction" not in template.find_outputs("*")


@pytest.mark.parametrize(
    ("silence_s", "shortest_s", "window"),
    [
        (60, 10, (10, 6)),  # the e2e test's minute on LocalStack: as fine as the target allows
        (60, 60, (60, 1)),  # a minute on AWS (60 s periods): one period, so it fires a few minutes late
        (3600, 60, (300, 12)),
        (24 * 3600, 60, (3600, 24)),
        (24 * 3600, 10, (3600, 24)),
        (36 * 3600, 60, (3600, 36)),
        (7 * 24 * 3600, 60, (3600, 168)),
    ],
)
def test_given_a_silence_when_split_into_periods_then_the_longest_period_giving_ten(silence_s, shortest_s, window):
    assert heartbeat_periods(silence_s, shortest_s=shortest_s) == window


@pytest.mark.parametrize("shortest_s", [10, 60])
def test_given_every_silence_the_config_accepts_when_split_then_cloudwatch_accepts_the_window(shortest_s):
    accepted = 0
    for minutes in range(1, 7 * 24 * 60 + 2):
        try:
            MonitoringSettings(max_silence_hours=minutes / 60)
        except ConfigError:
            continue
        accepted += 1
        silence = minutes * 60
        period, periods = heartbeat_periods(silence, shortest_s=shortest_s)
        assert period * periods == silence
        assert period in ALARM_PERIODS_S and period >= shortest_s
        # CloudWatch: period x evaluation periods at most 7 days, and at most 1 day below 1-hour periods.
        assert silence <= 7 * 24 * 3600 and (period >= 3600 or silence <= 24 * 3600), minutes
        assert periods >= MIN_HEARTBEAT_PERIODS or period == shortest_s, minutes
    assert accepted == 24 * 60 + 6 * 24  # every minute up to a day, then whole hours up to 7 days
