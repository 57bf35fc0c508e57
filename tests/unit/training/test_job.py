"""A training run as operators see it (training.job.run_job): records, lock, metrics, alerts."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from training_job import handler

import training.__main__ as container
from mlops_core.environment import EnvironmentVariableError
from mlops_core.registry.runs import RunLedger
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS, REGION, metric_sum
from tests.unit.lambdas.scoring.test_scoring import LambdaContext
from tests.unit.training.test_search import LINEAR, SHALLOW, searching
from training.data import TrainingDataError
from training.job import run_job


@pytest.fixture
def services(aws):
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    return {
        "s3": aws,
        "cloudwatch": boto3.client("cloudwatch", region_name=REGION),
        "sns": sns,
        "topic": topic,
        "sqs": sqs,
        "inbox": inbox,
    }


def _run(services, config, run_id):
    return run_job(
        s3=services["s3"],
        cloudwatch=services["cloudwatch"],
        sns=services["sns"],
        data_bucket=DATA,
        models_bucket=MODELS,
        config=config,
        namespace="MLOps",
        alert_topic_arn=services["topic"],
        run_id=run_id,
    )


def test_given_a_run_that_fails_then_recorded_lock_released_champion_untouched_and_people_told(
    services, config, champion
):
    ledger = RunLedger(services["s3"], MODELS)
    assert ledger.acquire("run-broken", ttl_seconds=600, now=datetime.now(UTC))
    services["s3"].put_object(Bucket=DATA, Key="training/tiny.csv", Body=generate(20, seed=1))
    with pytest.raises(TrainingDataError):
        _run(services, config, "run-broken")
    run = ledger.get("run-broken")
    assert run["status"] == "failed" and "at least 500" in run["error"]
    assert ledger.current_lock() is None  # the next alarm can retrain
    from mlops_core.registry.store import Registry

    assert Registry(services["s3"], MODELS).champion().version == champion
    assert metric_sum(services["cloudwatch"], "TrainingFailures") == 1
    messages = services["sqs"].receive_message(QueueUrl=services["inbox"]).get("Messages", [])
    assert messages and "run-broken failed" in messages[0]["Body"]


def test_given_a_run_that_succeeds_then_recorded_with_version_and_metrics_published(services, config):
    ledger = RunLedger(services["s3"], MODELS)
    assert ledger.acquire("run-good", ttl_seconds=600, now=datetime.now(UTC))
    services["s3"].put_object(Bucket=DATA, Key="training/base.csv", Body=generate(2000, seed=2))
    result = _run(services, config, "run-good")
    run = ledger.get("run-good")
    assert run["status"] == "succeeded" and run["version"] == result["version"] and run["promoted"] is True
    assert ledger.current_lock() is None
    assert metric_sum(services["cloudwatch"], "ModelPromotions") == 1
    assert metric_sum(services["cloudwatch"], "TrainingFailures") == 0
    assert metric_sum(services["cloudwatch"], "TrainingRuns") == 1
    stamp = result["version"][1:16]  # v20261122T231500Z-ab12cd -> 20261122T231500
    assert metric_sum(services["cloudwatch"], "ChampionVersion") == float(stamp.replace("T", ""))
    assert [f["key"] for f in run["files"]] == ["training/base.csv"] and run["files"][0]["rows"] == 2000


def test_given_no_data_bucket_variable_when_the_container_runs_then_it_exits_non_zero_naming_it(
    monkeypatch, capsys, tmp_path
):
    monkeypatch.delenv("DATA_BUCKET", raising=False)
    monkeypatch.setenv("MODELS_BUCKET", MODELS)
    monkeypatch.setattr(container, "SAGEMAKER_FAILURE_FILE", tmp_path / "failure")
    assert container.main([]) != 0
    assert "DATA_BUCKET" in capsys.readouterr().err
    assert "EnvironmentVariableError" in (tmp_path / "failure").read_text()


def test_given_no_opt_ml_output_when_the_job_fails_then_it_still_exits_1_saying_why(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("DATA_BUCKET", raising=False)
    monkeypatch.setenv("MODELS_BUCKET", MODELS)
    monkeypatch.setattr(container, "SAGEMAKER_FAILURE_FILE", tmp_path / "missing" / "failure")
    assert container.main([]) == 1
    assert "DATA_BUCKET" in capsys.readouterr().err


def test_given_no_data_bucket_variable_when_the_training_lambda_starts_then_its_cold_start_fails_naming_it(
    monkeypatch,
):
    monkeypatch.delenv("DATA_BUCKET", raising=False)
    monkeypatch.setenv("MODELS_BUCKET", MODELS)
    handler.environment.cache_clear()
    with pytest.raises(EnvironmentVariableError, match="DATA_BUCKET"):
        handler.lambda_handler({"run_id": "run-1"}, LambdaContext())
    handler.environment.cache_clear()


def test_given_a_model_search_when_the_run_succeeds_then_its_record_keeps_the_leaderboard(services):
    services["s3"].put_object(Bucket=DATA, Key="training/base.csv", Body=generate(2000, seed=11))
    result = _run(services, searching(LINEAR, SHALLOW), "run-search")
    record = RunLedger(services["s3"], MODELS).get("run-search")
    assert record["status"] == "succeeded" and record["search"] == result["search"]
    assert [e["rank"] for e in record["search"]["leaderboard"]] == [1, 2]
    assert record["search"]["chosen"] == record["search"]["leaderboard"][0]["name"]
