"""Staleness on local AWS: a pipeline that falls silent raises the heartbeat alarm and the alerts topic hears it;
once a champion exists its age is published, and a champion older than the maximum starts retraining
(`retraining.on_stale`), the run's trigger naming the alarm.

One project stack of its own, from a test-owned config: `[project] name = "stale-e2e"`, a one-minute silence
(`max_silence_hours = 0.0166667`), a maximum age under a second (`max_model_age_days = 0.00001`, so the
first published age is already stale), `on_stale = true`.

What LocalStack 4.13.1 does differently (docs/localstack-vs-aws.md, "LocalStack vs AWS"), read from its alarm
scheduler and seen here:
- It evaluates an alarm when the alarm is created, then every period x evaluation periods (AWS: every minute).
  The heartbeat over a minute (6 periods of 10 s) is judged once a minute; a 24-hour one once a day, so a
  fresh local stack shows it in ALARM (nothing scored yet) until a day later, however many files follow.
- It reads the alarm's periods and max(N // 3, 2) before them (N = evaluation periods); when any of them
  holds a datum, it counts the missing periods as breaching only up to N minus the data points found,
  wherever those fall, where AWS fills the missing periods in place. A datum anywhere in that range keeps
  the heartbeat OK, so locally it fires after about (N + max(N // 3, 2)) silent periods: 80 s for this
  minute (AWS: the minute plus at most one period), 32 hours for 24 (AWS: 24 to 25).
- Missing data (`missing`) and INSUFFICIENT_DATA actions behave as on AWS.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mlops_core.config import CONFIG_ENV
from mlopsctl import runs, stack, standing
from mlopsctl.datagen import generate

from .conftest import ROOT, deploy_own_stack, mlops

PROJECT = "stale-e2e"


def staleness_config(folder: Path) -> Path:
    """The repo's mlops.toml as project stale-e2e, with a minute's silence, a sub-second maximum age and on_stale."""
    text = (ROOT / "mlops.toml").read_text()
    text = text.replace('[project]\nname = "mlops"', f'[project]\nname = "{PROJECT}"', 1)
    text = text.replace("[retraining]\n", "[retraining]\non_stale = true\n", 1)
    text = text[: text.index("\n[monitoring]")]
    text += "\n[monitoring]\nmax_silence_hours = 0.0166667\nmax_model_age_days = 0.00001\n"
    path = folder / "mlops.toml"
    path.write_text(text)
    return path


class AlertsInbox:
    """An SQS queue subscribed to the alerts topic: what the people on the topic receive, in order."""

    def __init__(self, pipeline: stack.Pipeline) -> None:
        self.sqs = pipeline.client("sqs")
        self.url = self.sqs.create_queue(QueueName=f"{PROJECT}-alerts-inbox")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        pipeline.client("sns").subscribe(
            TopicArn=pipeline.outputs["AlertsTopic"],
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true"},
        )
        self.alarm_messages: list[dict[str, Any]] = []

    def states_of(self, alarm: str) -> list[str]:
        """The states `alarm` has told the topic about so far, oldest first (reads the queue)."""
        for message in self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get(
            "Messages", []
        ):
            body = message["Body"]
            if body.startswith("{") and "NewStateValue" in body:
                self.alarm_messages.append(json.loads(body))
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return [m["NewStateValue"] for m in self.alarm_messages if m["AlarmName"] == alarm]

    def last_of(self, alarm: str) -> dict[str, Any]:
        return [m for m in self.alarm_messages if m["AlarmName"] == alarm][-1]


def retraining_decisions(pipeline: stack.Pipeline, alarm: str) -> list[dict[str, Any]]:
    """The retraining function's logged decisions on triggers from `alarm`."""
    logs = pipeline.client("logs")
    group = f"/aws/lambda/{pipeline.outputs['RetrainingFunction']}"
    try:
        events = logs.filter_log_events(logGroupName=group)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    lines = [json.loads(e["message"]) for e in events if e["message"].startswith("{")]
    return [
        line
        for line in lines
        if line.get("message") == "retraining decision" and (line.get("trigger") or {}).get("alarm") == alarm
    ]


@pytest.fixture
def stale_pipeline(local_aws, tmp_path, monkeypatch, request) -> tuple[stack.Pipeline, Path]:
    """Project stale-e2e deployed on the session's local AWS; the CLI and `stack.Pipeline` aimed at it."""
    config_file = staleness_config(tmp_path)
    deploy_own_stack(request, config_file, "e2e-staleness")
    monkeypatch.setenv(CONFIG_ENV, str(config_file))
    return stack.Pipeline.connect(ROOT, "localstack"), config_file


def champion_and_one_scored_file(cli: tuple[str, ...], folder: Path) -> datetime:
    """Train a champion and score one clean, unlabeled file through the CLI; when the file was done."""
    assert mlops(*cli, "seed", "--rows", "2000").returncode == 0
    trained = mlops(*cli, "train", "--reason", "e2e: a champion to grow old")
    assert trained.returncode == 0 and "promoted to champion" in trained.stdout, trained.stdout + trained.stderr
    batch = folder / "batch.csv"
    batch.write_bytes(generate(300, seed=5, with_label=False))
    scored = mlops(*cli, "score", str(batch))
    assert scored.returncode == 0 and "scored 300 of 300 rows" in scored.stdout, scored.stdout + scored.stderr
    # LocalStack stamps state changes with the host's local time (marked Z): compare like with like.
    return datetime.now()


def stale_champion_decision(pipeline: stack.Pipeline, alarm: str) -> dict[str, Any]:
    """The champion's age is published; older than the maximum, its alarm asks for retraining. The decision."""
    ages = pipeline.client("cloudwatch").list_metrics(
        Namespace="MLOps", MetricName="ChampionAgeDays", Dimensions=[{"Name": "Pipeline", "Value": PROJECT}]
    )["Metrics"]
    assert ages, "no ChampionAgeDays published for the champion"
    decisions = stack.wait_for(
        "the champion-age alarm's retraining decision",
        lambda: retraining_decisions(pipeline, alarm),
        timeout_s=120,
        interval_s=3,
    )
    # Retraining's own rules still hold: a drift alarm on the scored batch may have started a run first.
    assert decisions[0]["reason"] in ("started", "cooldown", "locked"), decisions[0]
    assert standing.alarm_states(pipeline)[alarm] == "ALARM"
    if decisions[0]["reason"] == "started":  # leave no run behind the session's back
        run = runs.wait_for_run(pipeline, decisions[0]["run_id"], timeout_s=300)
        assert run["trigger"]["source"] == "alarm" and run["trigger"]["alarm"] == alarm
    return decisions[0]


def test_given_a_pipeline_that_falls_silent_then_the_heartbeat_tells_people_and_a_stale_champion_retrains(
    stale_pipeline, tmp_path
):
    pipeline, config_file = stale_pipeline
    heartbeat, champion_age = pipeline.outputs["HeartbeatAlarm"], pipeline.outputs["ChampionAgeDaysAlarm"]
    inbox = AlertsInbox(pipeline)
    # Nothing scored yet: LocalStack judged the heartbeat as it created it.
    assert standing.alarm_states(pipeline)[heartbeat] == "ALARM"

    scored_at = champion_and_one_scored_file(("--config", str(config_file)), tmp_path)

    # The file brings the heartbeat back to OK; a minute without another raises it again, and people hear both.
    stack.wait_for(
        "the heartbeat's OK and then ALARM on the alerts topic",
        lambda: inbox.states_of(heartbeat)[-2:] == ["OK", "ALARM"],
        timeout_s=240,
        interval_s=3,
    )
    alarm = inbox.last_of(heartbeat)
    silent_for = (datetime.fromisoformat(alarm["StateChangeTime"]).replace(tzinfo=None) - scored_at).total_seconds()
    assert silent_for >= 60, f"the heartbeat fired {silent_for:.0f} s after the last file, under its minute"
    assert alarm["AlarmDescription"].startswith("No file was scored for monitoring.max_silence_hours")

    decision = stale_champion_decision(pipeline, champion_age)
    print(  # what LocalStack did, in the test log
        f"heartbeat told {inbox.states_of(heartbeat)}, ALARM {silent_for:.0f} s after the last file; "
        f"champion-age alarm -> retraining decision {decision['reason']!r}"
    )
