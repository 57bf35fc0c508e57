"""The training-ended function: a run that ended without reporting (the training function timed out or ran out of
memory, a SageMaker job stopped at its time limit or failed) ends `failed`, its lock released, `TrainingFailures`
published and people told; a run that reported its own end is left alone (moto S3, CloudWatch, SNS -> SQS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from training_ended import handler
from training_ended.handler import parse_ending
from training_ended.logic import end_unreported_run

from mlops_core.registry.runs import RunLedger
from tests.unit.conftest import MODELS, REGION
from tests.unit.lambdas.retraining.test_retraining import training_failures
from tests.unit.lambdas.scoring.test_scoring import LambdaContext

RUN = "run-20261122T120000Z-abc123"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:training:$LATEST"


def destination_record(condition: str = "RetriesExhausted", response: dict | None = None, run_id: str = RUN) -> dict:
    """What Lambda sends an asynchronous invocation's on-failure destination."""
    record = {
        "version": "1.0",
        "timestamp": "2026-11-22T12:15:02.000Z",
        "requestContext": {
            "requestId": "e4b46cbf-b738-4a8b-8880-a18cdf61200e",
            "functionArn": FUNCTION_ARN,
            "condition": condition,
            "approximateInvokeCount": 1,
        },
        "requestPayload": {"run_id": run_id, "trigger": {"source": "alarm"}},
    }
    if response is not None:
        record["responseContext"] = {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
        record["responsePayload"] = response
    return record


TIMED_OUT = {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 900.00 seconds"}
OUT_OF_MEMORY = {"errorType": "Runtime.OutOfMemory", "errorMessage": "Runtime exited with error: signal: killed"}


def sagemaker_event(status: str, secondary: str, **detail: object) -> dict:
    """A SageMaker Training Job State Change event (its detail is DescribeTrainingJob's answer)."""
    return {
        "version": "0",
        "id": "844e2571-85d4-695f-b930-0153b71dcb42",
        "detail-type": "SageMaker Training Job State Change",
        "source": "aws.sagemaker",
        "account": "000000000000",
        "time": "2026-11-22T13:00:05Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:sagemaker:us-east-1:000000000000:training-job/{RUN}"],
        "detail": {
            "TrainingJobName": RUN,
            "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:000000000000:training-job/{RUN}",
            "TrainingJobStatus": status,
            "SecondaryStatus": secondary,
            "RoleArn": "arn:aws:iam::000000000000:role/training-job",
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            **detail,
        },
    }


class RecordingAlerts:
    """Keeps each failure it is told (stands in for the metrics and the alerts topic)."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str]] = []

    def tell(self, run_id, error):
        self.told.append((run_id, error))


@pytest.fixture
def ledger(aws):
    return RunLedger(aws, MODELS)


def started(ledger: RunLedger, run_id: str = RUN, *, ttl_seconds: int = 4200) -> None:
    """A run as the retraining function leaves it: holding the lock, its record saying started."""
    assert ledger.acquire(run_id, ttl_seconds=ttl_seconds, now=NOW)
    ledger.record(run_id, status="started", started_at=NOW.isoformat(), trigger={"source": "alarm"}, backend="x")


def end(ledger: RunLedger, event: dict, alerts: RecordingAlerts, now: datetime = NOW) -> dict:
    ending = parse_ending(event)
    assert ending is not None
    return end_unreported_run(ending=ending, ledger=ledger, alerts=alerts, now=now)


# ---------------------------------------------------------------------------- what the events say
@pytest.mark.parametrize(
    ("event", "says"),
    [
        (destination_record(response=TIMED_OUT), "Sandbox.Timedout: Task timed out after 900.00 seconds"),
        (destination_record(response=OUT_OF_MEMORY), "Runtime.OutOfMemory: Runtime exited with error: signal: killed"),
        (destination_record("EventAgeExceeded"), "never ran it: the invocation waited in Lambda's queue"),
        (sagemaker_event("Stopped", "MaxRuntimeExceeded"), "stopped at its time limit, 3600 s"),
        (sagemaker_event("Stopped", "Stopped"), "the SageMaker job was stopped (StopTrainingJob)"),
        (sagemaker_event("Failed", "Failed", FailureReason="AlgorithmError: exit 137"), "failed: AlgorithmError"),
    ],
)
def test_given_an_event_of_a_run_that_failed_or_stopped_when_parsed_then_the_run_and_why(event, says):
    ending = parse_ending(event)
    assert ending is not None and ending.run_id == RUN and says in ending.reason


@pytest.mark.parametrize(
    "event",
    [
        sagemaker_event("Completed", "Completed"),
        sagemaker_event("InProgress", "Training"),
        destination_record(response=TIMED_OUT, run_id=""),  # the training function invoked by hand
    ],
)
def test_given_an_event_of_no_failed_run_when_parsed_then_nothing_to_end(event):
    assert parse_ending(event) is None


def test_given_an_unknown_event_when_parsed_then_a_clear_error():
    with pytest.raises(ValueError, match="unrecognised event"):
        parse_ending({"source": "aws.cloudwatch"})


# ---------------------------------------------------------------------------- ending the run
@pytest.mark.parametrize(
    "event",
    [destination_record(response=TIMED_OUT), destination_record(response=OUT_OF_MEMORY)],
    ids=["timeout", "out-of-memory"],
)
def test_given_a_started_run_when_the_training_function_died_then_failed_lock_released_and_told(ledger, event):
    started(ledger)
    alerts = RecordingAlerts()

    result = end(ledger, event, alerts, now=NOW + timedelta(minutes=15))

    run = ledger.get(RUN)
    assert (run["status"], run["ended_by"]) == ("failed", "lambda")
    assert run["error"].startswith("ended without reporting: the training function failed (RetriesExhausted)")
    assert run["finished_at"] == (NOW + timedelta(minutes=15)).isoformat()
    assert ledger.current_lock() is None and result["lock_released"] is True
    assert alerts.told == [(RUN, run["error"])]


def test_given_a_sagemaker_job_stopped_at_its_time_limit_then_failed_lock_released_and_told(ledger):
    started(ledger)
    alerts = RecordingAlerts()

    end(ledger, sagemaker_event("Stopped", "MaxRuntimeExceeded"), alerts)

    run = ledger.get(RUN)
    assert run["status"] == "failed" and "time limit, 3600 s" in run["error"] and run["ended_by"] == "sagemaker"
    assert ledger.current_lock() is None
    assert [run_id for run_id, _ in alerts.told] == [RUN]


def test_given_a_run_that_reported_its_own_failure_when_its_invocation_fails_then_nothing_more_is_told(ledger):
    started(ledger)
    ledger.record(RUN, status="failed", error="TrainingDataError: too few rows")
    ledger.release(RUN)
    alerts = RecordingAlerts()

    result = end(
        ledger, destination_record(response={"errorType": "TrainingDataError", "errorMessage": "rows"}), alerts
    )

    assert result == {"failed": False, "reason": "already-ended", "run_id": RUN}
    assert ledger.get(RUN)["error"] == "TrainingDataError: too few rows"
    assert alerts.told == []


def test_given_the_same_end_delivered_twice_then_the_run_is_ended_and_told_once(ledger):
    started(ledger)
    alerts = RecordingAlerts()

    first = end(ledger, sagemaker_event("Stopped", "MaxRuntimeExceeded"), alerts)
    second = end(ledger, sagemaker_event("Stopped", "MaxRuntimeExceeded"), alerts)

    assert (first["failed"], second["reason"]) == (True, "already-ended")
    assert len(alerts.told) == 1


def test_given_a_run_whose_lock_expired_and_was_taken_over_when_it_ends_then_the_new_run_keeps_the_lock(ledger):
    started(ledger, ttl_seconds=60)
    assert ledger.acquire("run-next", ttl_seconds=4200, now=NOW + timedelta(seconds=61))
    alerts = RecordingAlerts()

    result = end(ledger, destination_record(response=TIMED_OUT), alerts)

    assert ledger.get(RUN)["status"] == "failed" and len(alerts.told) == 1
    assert result["lock_released"] is False and ledger.current_lock().owner == "run-next"


def test_given_a_run_this_bucket_never_started_when_its_job_fails_then_it_is_left_alone(ledger):
    alerts = RecordingAlerts()
    result = end(ledger, sagemaker_event("Failed", "Failed", FailureReason="another project's job"), alerts)
    assert result["reason"] == "unknown-run" and ledger.get(RUN) is None and alerts.told == []


# ---------------------------------------------------------------------------- the function, as deployed
def test_given_the_function_when_a_started_runs_training_function_timed_out_then_training_failures_and_a_message(
    aws, monkeypatch
):
    cloudwatch, sns, sqs = (boto3.client(name, region_name=REGION) for name in ("cloudwatch", "sns", "sqs"))
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"})
    for name, value in {"MODELS_BUCKET": MODELS, "ALERT_TOPIC_ARN": topic, "S3_CONDITIONAL_DELETES": "true"}.items():
        monkeypatch.setenv(name, value)
    ledger = RunLedger(aws, MODELS)
    started(ledger)
    handler.environment.cache_clear()
    try:
        result = handler.lambda_handler(destination_record(response=TIMED_OUT), LambdaContext())
    finally:
        handler.environment.cache_clear()

    assert result["failed"] is True and ledger.get(RUN)["status"] == "failed" and ledger.current_lock() is None
    assert training_failures(cloudwatch) == 1
    (message,) = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    assert f"Training run {RUN} failed" in message["Body"] and "Task timed out after 900.00 seconds" in message["Body"]
