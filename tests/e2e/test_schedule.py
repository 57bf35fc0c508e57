"""Scheduled retraining on local AWS: an EventBridge rule on a schedule really invokes the deployed retraining
function, which reads the event as a `schedule` trigger (the stack makes that rule from `retraining.schedule`;
tests/infra/test_schedule.py checks it, and this test makes a one-minute one by hand on the deployed function)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from .test_local_lambda_executor import wait_until

RULE = "e2e-retraining-every-minute"


@pytest.fixture
def every_minute(deployed: dict[str, str], boto_session) -> Iterator[dict[str, Any]]:
    """A rule with rate(1 minute) aimed at the deployed retraining function; removed afterwards."""
    events, lambda_ = boto_session.client("events"), boto_session.client("lambda")
    function = lambda_.get_function(FunctionName=deployed["RetrainingFunction"])["Configuration"]
    rule_arn = events.put_rule(Name=RULE, ScheduleExpression="rate(1 minute)", State="ENABLED")["RuleArn"]
    lambda_.add_permission(
        FunctionName=function["FunctionName"],
        StatementId=RULE,
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        SourceArn=rule_arn,
    )
    events.put_targets(Rule=RULE, Targets=[{"Id": "retraining", "Arn": function["FunctionArn"]}])
    yield function
    events.remove_targets(Rule=RULE, Ids=["retraining"])
    events.delete_rule(Name=RULE)
    lambda_.remove_permission(FunctionName=function["FunctionName"], StatementId=RULE)


def test_given_a_one_minute_schedule_then_the_retraining_function_runs_with_a_schedule_trigger(
    every_minute, boto_session
):
    logs = boto_session.client("logs")
    group = f"/aws/lambda/{every_minute['FunctionName']}"

    def scheduled_decisions() -> list[dict[str, Any]]:
        try:
            found = logs.filter_log_events(logGroupName=group)["events"]
        except logs.exceptions.ResourceNotFoundException:
            return []
        lines = [json.loads(e["message"]) for e in found if e["message"].startswith("{")]
        return [line for line in lines if line.get("message") == "retraining decision" and is_scheduled(line)]

    decisions = wait_until(scheduled_decisions, timeout=150, interval=2)

    assert decisions, "no scheduled invocation reached the retraining function within 150 s"
    decision = decisions[0]
    assert decision["trigger"]["rule"] == RULE
    # The same lock and cooldown as an alarm: it started a run, or says why not.
    assert decision["reason"] in ("started", "cooldown", "locked")


def is_scheduled(line: dict[str, Any]) -> bool:
    trigger = line.get("trigger")
    return isinstance(trigger, dict) and trigger.get("source") == "schedule"
