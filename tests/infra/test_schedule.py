"""Scheduled retraining: `retraining.schedule` becomes an EventBridge rule that starts the retraining function."""

from __future__ import annotations

from aws_cdk.assertions import Match

from infra.app import ROOT

from .conftest import logical_id, resources, synth


def test_given_a_schedule_when_synthesized_then_a_rule_starts_the_retraining_function_on_it(tmp_path):
    config = tmp_path / "mlops.toml"
    text = (ROOT / "mlops.toml").read_text()
    config.write_text(text.replace("[retraining]\n", '[retraining]\nschedule = "rate(7 days)"\n', 1))

    template, _ = synth("localstack", tmp_path / "cdk", config_file=config)

    function = logical_id(template, "AWS::Lambda::Function", "RetrainingFunction")
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "rate(7 days)",
            "State": "ENABLED",
            "Targets": [
                Match.object_like({"Arn": {"Fn::GetAtt": [function, "Arn"]}, "RetryPolicy": Match.any_value()})
            ],
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {"Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com", "FunctionName": Match.any_value()},
    )


def test_given_no_schedule_when_synthesized_then_no_rule_starts_retraining(template):
    function = logical_id(template, "AWS::Lambda::Function", "RetrainingFunction")
    targets = [t for rule in resources(template, "AWS::Events::Rule").values() for t in rule["Properties"]["Targets"]]
    assert targets  # the staleness function's schedule ([monitoring] in mlops.toml)
    assert not [t for t in targets if t["Arn"] == {"Fn::GetAtt": [function, "Arn"]}]
