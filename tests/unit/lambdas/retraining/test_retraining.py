"""Retraining: alarm parsing, the run lock, the cooldown and both training backends (moto S3/SageMaker)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws
from retraining.backends import LambdaBackend, SageMakerBackend, fit_trigger
from retraining.handler import parse_trigger
from retraining.logic import start_training as _start_training

from mlops_core.config import RetrainingSettings
from mlops_core.environment import TrainingJobEnvironment
from mlops_core.registry.failures import FailureAlerts
from mlops_core.registry.runs import RunLedger
from tests.unit.conftest import LambdaContext, metric_sum

BUCKET = "models-bucket"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SETTINGS = RetrainingSettings(cooldown_seconds=300, lock_ttl_seconds=4200)


def alarm_event(state: str, name: str = "mlops-WorstFeaturePSI") -> dict:
    return {
        "source": "aws.cloudwatch",
        "alarmArn": f"arn:aws:cloudwatch:us-east-1:000000000000:alarm:{name}",
        "accountId": "000000000000",
        "time": "2026-11-22T12:00:00.000+0000",
        "region": "us-east-1",
        "alarmData": {
            "alarmName": name,
            "state": {
                "value": state,
                "reason": "Threshold Crossed: 1 datapoint [0.9] > 0.2",
                "timestamp": "2026-11-22T12:00:00.000+0000",
            },
            "previousState": {"value": "OK", "reason": "", "timestamp": "2026-11-22T11:59:00.000+0000"},
            "configuration": {"metrics": []},
        },
    }


class RecordingBackend:
    """A backend that records the runs it was asked to start (stands in for the Lambda invoke)."""

    name = "fake"

    def __init__(self, fail: bool = False) -> None:
        self.started: list[str] = []
        self.fail = fail

    def start(self, run_id, trigger):
        if self.fail:
            raise RuntimeError("backend unavailable")
        self.started.append(run_id)
        return {"ok": True}


class RecordingAlerts:
    """Keeps each failure it is told (stands in for the metrics and the alerts topic)."""

    def __init__(self) -> None:
        self.told: list[tuple[str, str]] = []

    def tell(self, run_id, error):
        self.told.append((run_id, error))


def start_training(**kwargs):
    """`retraining.logic.start_training`, telling failures to a RecordingAlerts unless the test gives `alerts`."""
    return _start_training(**{"alerts": RecordingAlerts(), **kwargs})


@pytest.fixture
def ledger():
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield RunLedger(s3, BUCKET)


ALARM = {"source": "alarm", "alarm": "mlops-WorstFeaturePSI"}


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_given_a_transition_out_of_alarm_when_parsed_then_it_is_not_a_reason_to_train(state):
    assert parse_trigger(alarm_event(state)) == (None, False)


def test_given_an_alarm_transition_when_parsed_then_the_trigger_names_the_alarm_and_reason():
    trigger, force = parse_trigger(alarm_event("ALARM"))
    assert trigger["source"] == "alarm" and trigger["alarm"] == "mlops-WorstFeaturePSI"
    assert "Threshold Crossed" in trigger["reason"]
    assert force is False


def test_given_a_manual_trigger_when_parsed_then_it_skips_the_cooldown():
    trigger, force = parse_trigger({"source": "manual", "reason": "new data"})
    assert trigger == {"source": "manual", "reason": "new data"} and force is True


def test_given_a_manual_reproduction_when_parsed_then_the_trigger_names_the_run_to_train_again():
    trigger, force = parse_trigger({"source": "manual", "reason": "reproduce run-1", "reproduce": "run-1"})
    assert trigger == {"source": "manual", "reason": "reproduce run-1", "reproduce": "run-1"} and force is True


SCHEDULED_EVENT = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "000000000000",
    "time": "2026-11-22T12:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:000000000000:rule/MlopsStack-RetrainingSchedule"],
    "detail": {},
}


def test_given_a_scheduled_event_when_parsed_then_a_schedule_trigger_that_keeps_the_cooldown():
    trigger, force = parse_trigger(SCHEDULED_EVENT)

    assert trigger == {
        "source": "schedule",
        "rule": "MlopsStack-RetrainingSchedule",
        "reason": "scheduled by rule MlopsStack-RetrainingSchedule",
        "at": "2026-11-22T12:00:00Z",
    }
    assert force is False


def test_given_a_scheduled_event_within_the_cooldown_then_skipped_after_it_a_run_recorded_as_scheduled(ledger):
    backend = RecordingBackend()
    trigger, force = parse_trigger(SCHEDULED_EVENT)
    first = start_training(trigger=ALARM, ledger=ledger, backend=backend, settings=SETTINGS, now=NOW)
    ledger.record(first["run_id"], status="succeeded")
    ledger.release(first["run_id"])

    during = start_training(
        trigger=trigger, ledger=ledger, backend=backend, settings=SETTINGS, now=NOW + timedelta(seconds=60), force=force
    )
    after = start_training(
        trigger=trigger,
        ledger=ledger,
        backend=backend,
        settings=SETTINGS,
        now=NOW + timedelta(seconds=301),
        force=force,
    )

    assert (during["started"], during["reason"]) == (False, "cooldown")
    assert after["started"] and ledger.get(after["run_id"])["trigger"]["source"] == "schedule"


def test_given_an_unknown_event_when_parsed_then_a_clear_error():
    with pytest.raises(ValueError, match="unrecognised event"):
        parse_trigger({"hello": "world"})


def test_given_no_run_when_an_alarm_fires_then_one_run_starts_holding_the_lock(ledger):
    backend = RecordingBackend()
    result = start_training(trigger=ALARM, ledger=ledger, backend=backend, settings=SETTINGS, now=NOW)
    assert result["started"] is True
    assert backend.started == [result["run_id"]]
    assert ledger.current_lock().owner == result["run_id"]
    record = ledger.get(result["run_id"])
    assert record["status"] == "started" and record["trigger"] == ALARM


def test_given_a_running_training_when_another_alarm_fires_then_it_does_not_start_a_second(ledger):
    backend = RecordingBackend()
    first = start_training(trigger=ALARM, ledger=ledger, backend=backend, settings=SETTINGS, now=NOW)
    second = start_training(
        trigger={"source": "manual"},
        ledger=ledger,
        backend=backend,
        settings=SETTINGS,
        now=NOW + timedelta(seconds=1),
        force=True,
    )
    assert second == {"started": False, "reason": "locked", "run_id": first["run_id"]}
    assert len(backend.started) == 1


def test_given_two_alarms_at_the_same_moment_when_both_handled_concurrently_then_exactly_one_run(ledger):
    backend = RecordingBackend()
    results: list[dict] = []
    barrier = threading.Barrier(4)

    def fire() -> None:
        barrier.wait()
        results.append(start_training(trigger=ALARM, ledger=ledger, backend=backend, settings=SETTINGS, now=NOW))

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["started"] for r in results) == 1
    assert len(backend.started) == 1


def test_given_a_finished_alarm_run_when_an_alarm_fires_within_the_cooldown_then_skipped_but_manual_runs(ledger):
    backend = RecordingBackend()
    first = start_training(trigger=ALARM, ledger=ledger, backend=backend, settings=SETTINGS, now=NOW)
    ledger.record(first["run_id"], status="succeeded")
    assert ledger.release(first["run_id"])
    later = NOW + timedelta(seconds=SETTINGS.cooldown_seconds - 1)
    skipped = start_training(trigger=ALARM, ledger=ledger, backend=backend, settings=SETTINGS, now=later)
    assert skipped == {"started": False, "reason": "cooldown", "run_id": first["run_id"]}
    manual = start_training(
        trigger={"source": "manual"}, ledger=ledger, backend=backend, settings=SETTINGS, now=later, force=True
    )
    assert manual["started"] is True


def test_given_the_cooldown_over_when_an_alarm_fires_then_a_run_starts(ledger):
    backend = RecordingBackend()
    first = start_training(trigger=ALARM, ledger=ledger, backend=backend, settings=SETTINGS, now=NOW)
    ledger.record(first["run_id"], status="succeeded")
    ledger.release(first["run_id"])
    after = NOW + timedelta(seconds=SETTINGS.cooldown_seconds + 1)
    assert start_training(trigger=ALARM, ledger=ledger, backend=backend, settings=SETTINGS, now=after)["started"]


def test_given_a_failed_run_when_the_next_alarm_fires_then_it_retrains_despite_the_cooldown(ledger):
    backend = RecordingBackend()
    first = start_training(trigger=ALARM, ledger=ledger, backend=backend, settings=SETTINGS, now=NOW)
    ledger.record(first["run_id"], status="failed")
    ledger.release(first["run_id"])
    again = start_training(
        trigger=ALARM, ledger=ledger, backend=backend, settings=SETTINGS, now=NOW + timedelta(seconds=10)
    )
    assert again["started"] is True


def test_given_a_lock_left_by_a_crashed_run_when_it_expires_then_it_is_taken_over(ledger):
    assert ledger.acquire("run-crashed", ttl_seconds=60, now=NOW)
    assert not ledger.acquire("run-b", ttl_seconds=60, now=NOW + timedelta(seconds=30))
    assert ledger.acquire("run-c", ttl_seconds=60, now=NOW + timedelta(seconds=61))
    assert ledger.current_lock().owner == "run-c"


def test_given_a_lock_when_another_run_releases_it_then_it_stays(ledger):
    assert ledger.acquire("run-a", ttl_seconds=60, now=NOW)
    assert ledger.release("run-b") is False
    assert ledger.current_lock().owner == "run-a"


class Interleaved:
    """The (moto) S3 client, with `before_delete` run once just before the first DeleteObject: another writer
    acting between a reader's read and its delete. Keeps the arguments of each DeleteObject."""

    def __init__(self, s3, before_delete) -> None:
        self.s3, self.before_delete, self.deletes = s3, before_delete, []

    def __getattr__(self, name):
        return getattr(self.s3, name)

    def delete_object(self, **kwargs):
        if self.before_delete is not None:
            self.before_delete()
            self.before_delete = None
        self.deletes.append(kwargs)
        return self.s3.delete_object(**kwargs)


def test_given_an_expired_lock_taken_over_while_its_old_run_releases_it_then_the_new_holder_keeps_it(ledger):
    assert ledger.acquire("run-old", ttl_seconds=60, now=NOW)
    later = NOW + timedelta(seconds=61)
    s3 = Interleaved(ledger.s3, lambda: ledger.acquire("run-new", ttl_seconds=60, now=later))

    released = RunLedger(s3, BUCKET).release("run-old")

    assert released is False
    assert ledger.current_lock().owner == "run-new"


def test_given_a_store_without_conditional_deletes_when_a_run_releases_then_only_its_own_lock_without_if_match(
    ledger,
):
    assert ledger.acquire("run-a", ttl_seconds=60, now=NOW)
    s3 = Interleaved(ledger.s3, None)
    local = RunLedger(s3, BUCKET, conditional_deletes=False)

    assert local.release("run-b") is False
    assert local.release("run-a") is True

    assert ledger.current_lock() is None
    assert s3.deletes == [{"Bucket": BUCKET, "Key": "registry/training.lock"}]


def test_given_a_backend_that_cannot_start_when_an_alarm_fires_then_lock_released_and_failure_recorded(ledger):
    with pytest.raises(RuntimeError, match="backend unavailable"):
        start_training(trigger=ALARM, ledger=ledger, backend=RecordingBackend(fail=True), settings=SETTINGS, now=NOW)
    assert ledger.current_lock() is None
    (run,) = ledger.recent()
    assert run["status"] == "failed" and "backend unavailable" in run["error"]


def training_failures(cloudwatch) -> float:
    """The sum of TrainingFailures published for pipeline mlops (moto CloudWatch)."""
    return metric_sum(cloudwatch, "TrainingFailures")


@pytest.fixture
def told(ledger):
    """FailureAlerts on moto CloudWatch and an SNS topic whose messages land in an SQS inbox; (alerts, read)."""
    cloudwatch, sns, sqs = (boto3.client(name, region_name="us-east-1") for name in ("cloudwatch", "sns", "sqs"))
    topic = sns.create_topic(Name="alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn, Attributes={"RawMessageDelivery": "true"})

    def read() -> tuple[float, list[str]]:
        """The sum of TrainingFailures published for pipeline mlops, and the alert messages."""
        messages = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10).get("Messages", [])
        return training_failures(cloudwatch), [m["Body"] for m in messages]

    return FailureAlerts(cloudwatch, sns, topic, "mlops"), read


def test_given_a_backend_that_cannot_start_when_an_alarm_fires_then_training_failures_published_and_people_told(
    ledger, told
):
    alerts, read = told
    with pytest.raises(RuntimeError, match="backend unavailable"):
        start_training(
            trigger=ALARM, ledger=ledger, backend=RecordingBackend(fail=True), settings=SETTINGS, alerts=alerts, now=NOW
        )

    (run,) = ledger.recent()
    failures, messages = read()
    assert failures == 1
    assert len(messages) == 1 and run["run_id"] in messages[0] and "backend unavailable" in messages[0]


def test_given_the_sagemaker_backend_when_started_then_a_training_job_named_after_the_run_exists():
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        backend = SageMakerBackend(
            sagemaker,
            image_uri="000000000000.dkr.ecr.us-east-1.amazonaws.com/training:latest",
            role_arn="arn:aws:iam::000000000000:role/sagemaker-training",
            instance_type="ml.m5.large",
            max_runtime_s=3600,
            output_path="s3://models-bucket/sagemaker-output/",
            job=TrainingJobEnvironment(data_bucket="data-bucket", models_bucket="models-bucket"),
        )
        handle = backend.start("run-20261122T120000Z-abc123", ALARM)
        job = sagemaker.describe_training_job(TrainingJobName="run-20261122T120000Z-abc123")
    assert handle["training_job_arn"].endswith("run-20261122T120000Z-abc123")
    assert job["AlgorithmSpecification"]["TrainingImage"].endswith("training:latest")
    assert job["RoleArn"].endswith("role/sagemaker-training")
    assert job["OutputDataConfig"]["S3OutputPath"] == "s3://models-bucket/sagemaker-output/"
    assert job["StoppingCondition"]["MaxRuntimeInSeconds"] == 3600


class FakeLambda:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def invoke(self, **kwargs):
        self.calls.append(kwargs)
        return {"StatusCode": 202}


def test_given_the_lambda_backend_when_started_then_the_training_function_is_invoked_asynchronously():
    fake = FakeLambda()
    handle = LambdaBackend(fake, "training-fn").start("run-x", ALARM)
    (call,) = fake.calls
    assert call["FunctionName"] == "training-fn" and call["InvocationType"] == "Event"
    assert json.loads(call["Payload"]) == {"run_id": "run-x", "trigger": ALARM}
    assert handle["status_code"] == 202


def test_given_a_long_alarm_reason_when_fitted_for_sagemaker_then_the_trigger_stays_valid_json_within_the_limit():
    trigger = {**ALARM, "reason": 'Threshold "crossed": ' + "é" * 900}
    fitted = fit_trigger(trigger, 512)
    assert len(json.dumps(fitted)) <= 512
    assert fitted["alarm"] == ALARM["alarm"] and fitted["reason"].endswith("...")
    assert fit_trigger(ALARM, 512) == ALARM


class RecordingSageMaker:
    """Keeps CreateTrainingJob's arguments (moto does not return a job's Environment)."""

    def __init__(self) -> None:
        self.created: list[dict] = []

    def create_training_job(self, **kwargs):
        self.created.append(kwargs)
        return {"TrainingJobArn": f"arn:aws:sagemaker:us-east-1:000000000000:training-job/{kwargs['TrainingJobName']}"}


def test_given_the_sagemaker_backend_when_started_then_the_job_environment_carries_the_run_and_its_trigger():
    client = RecordingSageMaker()
    job = TrainingJobEnvironment(data_bucket="data-bucket", models_bucket="models-bucket", alert_topic_arn="arn:t")
    SageMakerBackend(
        client,
        image_uri="img",
        role_arn="arn:r",
        instance_type="ml.m5.large",
        max_runtime_s=60,
        output_path="s3://models-bucket/out/",
        job=job,
    ).start("run-1", ALARM)
    started_with = TrainingJobEnvironment.from_environment(client.created[0]["Environment"])
    assert started_with == TrainingJobEnvironment("data-bucket", "models-bucket", "MLOps", "arn:t", "run-1", ALARM)


def _stack_environment(backend: str, backends: str | None) -> dict[str, str]:
    return {
        "MODELS_BUCKET": BUCKET,
        "DATA_BUCKET": "data",
        "TRAINING_BACKEND": backend,
        **({"TRAINING_BACKENDS": backends} if backends else {}),
        "TRAINING_FUNCTION_NAME": "training-fn",
        "TRAINING_IMAGE_URI": "localhost/serverless-mlops-training-churn:latest",
        "SAGEMAKER_ROLE_ARN": "arn:aws:iam::000000000000:role/job",
        "LOCAL_TRAINING_JOBS_DIR": "/tmp/jobs",
    }


@pytest.mark.parametrize(("default", "other"), [("lambda", "container"), ("container", "lambda")])
def test_given_a_local_stack_with_two_backends_then_runs_go_to_the_default_unless_a_manual_run_names_the_other(
    monkeypatch, default, other
):
    from retraining.backends import backends_from_environment, pick_backend

    from mlops_core.environment import RetrainingEnvironment
    from training.local_jobs import LocalTrainingJobs

    environ = _stack_environment(default, f"{other},{default}")  # the order written does not decide the default
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    backends = backends_from_environment(RetrainingEnvironment.from_environment(environ), lambda service: service)
    assert list(backends) == [default, other]
    assert pick_backend(backends).name == default
    assert pick_backend(backends, other).name == other
    container = backends["container"]
    assert isinstance(container, SageMakerBackend) and isinstance(container.sagemaker_client, LocalTrainingJobs)
    assert container.image_uri == "localhost/serverless-mlops-training-churn:latest"
    assert str(container.sagemaker_client.jobs_dir) == "/tmp/jobs"


def test_given_a_manual_run_naming_a_backend_the_stack_lacks_then_refused_naming_those_it_has_and_no_run_recorded(
    monkeypatch, ledger
):
    from retraining import handler

    backends = {"sagemaker": RecordingBackend()}
    monkeypatch.setattr(handler, "environment", lambda: (SETTINGS, ledger, backends, None))
    with pytest.raises(ValueError, match="unknown training backend 'container': this stack has sagemaker"):
        handler.lambda_handler({"source": "manual", "backend": "container"}, LambdaContext())
    assert ledger.current_lock() is None and backends["sagemaker"].started == []
