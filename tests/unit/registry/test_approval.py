"""Manual approval in a training run (mlops_core.registry.approval, training.train's gate, training.job): a candidate
that passes the gate is held, pending, with its evidence; nothing changes in scoring; people are told."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from mlops_core.registry.approval import PendingRecords, pending_alert
from mlops_core.registry.runs import RunLedger
from mlops_core.registry.store import Registry
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS, REGION
from training.job import run_job
from training.train import train_and_register


def manual(config, **promotion):
    settings = dataclasses.replace(config.promotion, approval="manual", **promotion)
    return dataclasses.replace(config, promotion=settings)


@pytest.fixture
def alerts(aws):
    """The alerts topic with a queue subscribed to it (what people would receive), and the SNS client."""
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)

    def received() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in messages]

    return {"sns": sns, "topic": topic, "received": received}


def run(s3, config, *, sns, topic, run_id="run-1"):
    return run_job(
        s3=s3,
        cloudwatch=boto3.client("cloudwatch", region_name=REGION),
        sns=sns,
        data_bucket=DATA,
        models_bucket=MODELS,
        config=config,
        namespace="MLOps",
        alert_topic_arn=topic,
        run_id=run_id,
    )


def test_given_manual_approval_when_a_first_model_passes_the_gate_then_it_is_pending_and_there_is_no_champion(
    aws, config
):
    aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(2000, seed=11))

    result = train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=manual(config), run_id="run-1")

    registry, version = Registry(aws, MODELS), result["version"]
    assert not result["promoted"] and registry.champion() is None
    held = PendingRecords(aws, MODELS).get(version)
    assert held.state == "pending" and held.record["run_id"] == "run-1"
    assert (held.record["champion"], held.record["champion_etag"]) == (None, None)
    assert held.record["decision"]["candidate_metrics"] == result["metrics"]
    assert held.expires_at - datetime.fromisoformat(held.record["decided_at"]) == timedelta(days=7)
    latest = registry.history(limit=1)[0]
    assert latest["kind"] == "pending" and latest["expires_at"] == held.record["expires_at"]
    assert f"`mlops approve {version}`" in latest["reasons"][-1]


def test_given_manual_approval_and_a_champion_when_the_job_holds_a_candidate_then_the_run_says_pending_and_sns_tells(
    aws, champion, alerts, config
):
    aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(3000, seed=7))  # the champion's data
    champion_etag = Registry(aws, MODELS).champion().etag

    result = run(aws, manual(config, pending_ttl_days=2), sns=alerts["sns"], topic=alerts["topic"])

    version = result["version"]
    assert Registry(aws, MODELS).champion().etag == champion_etag  # scoring still uses the same champion
    held = PendingRecords(aws, MODELS).get(version)
    assert (held.record["champion"], held.record["champion_etag"]) == (champion, champion_etag)
    assert held.record["decision"]["champion_metrics"]["roc_auc"] == pytest.approx(result["metrics"]["roc_auc"])
    record = RunLedger(aws, MODELS).get("run-1")
    assert record["status"] == "succeeded" and record["pending"] and not record["promoted"]
    assert record["decision"]["kind"] == "pending"
    (message,) = alerts["received"]()
    assert message["Subject"] == f"mlops: model {version} awaits approval"
    text = message["Message"]
    assert f"scoring keeps using the champion {champion} until it is approved" in text
    assert f"roc_auc {result['metrics']['roc_auc']:.4f} (champion " in text
    assert f"mlops approve {version} --note TEXT" in text and f"mlops reject {version} --reason TEXT" in text
    assert "(promotion.pending_ttl_days = 2)" in text


def test_given_manual_approval_when_a_candidate_fails_the_gate_then_it_is_rejected_and_not_held(aws, config):
    aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(2000, seed=12))

    result = train_and_register(aws, data_bucket=DATA, models_bucket=MODELS, config=manual(config, floor=0.99))

    assert not result["promoted"] and result["pending"] is None
    assert PendingRecords(aws, MODELS).all() == []
    assert Registry(aws, MODELS).history(limit=1)[0]["kind"] == "reject"


class DownSns:
    def publish(self, **_message) -> None:
        raise ClientError({"Error": {"Code": "InternalError", "Message": "SNS is down"}}, "Publish")


def test_given_sns_fails_when_a_candidate_is_held_then_the_run_succeeds_and_records_the_failed_alert(aws, config):
    aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(2000, seed=13))

    result = run(aws, manual(config), sns=DownSns(), topic="arn:aws:sns:us-east-1:123456789012:alerts")

    record = RunLedger(aws, MODELS).get("run-1")
    assert record["status"] == "succeeded" and record["pending"]
    assert "SNS is down" in record["pending_alert_error"]
    assert PendingRecords(aws, MODELS).get(result["version"]).state == "pending"


def test_given_another_project_and_no_champion_then_the_alert_says_so_and_names_its_config(config):
    other = dataclasses.replace(config, name="churn-eu")
    record = {
        "version": "v1",
        "champion": None,
        "expires_at": "2026-12-01T00:00:00+00:00",
        "decision": {"candidate_metrics": {"roc_auc": 0.81, "rows": 400}, "champion_metrics": None, "reasons": []},
    }

    subject, message = pending_alert(record, other)

    assert subject == "churn-eu: model v1 awaits approval"
    assert "there is no champion: nothing is scored until it is approved" in message
    assert "  roc_auc 0.8100\n" in message and "rows" not in message
    assert "mlops --config <churn-eu's config file> approve v1" in message
