"""Shared unit-test fixtures: moto-backed buckets and a trained champion model (trained once)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws
from scoring import models

from mlops_core.config import load_config
from mlops_core.registry.store import Registry
from mlopsctl.datagen import generate
from training.train import train_and_register

DATA = "data-bucket"
MODELS = "models-bucket"
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch):
    """Unit tests never reach AWS or local AWS: fake credentials, no endpoint override."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture(autouse=True)
def _cold_model_cache():
    """Every test starts with scoring's warm-invocation model cache empty (it is module state)."""
    models.forget_models()
    yield
    models.forget_models()


@pytest.fixture(scope="session")
def config():
    return load_config()


@pytest.fixture
def data_versioning() -> str | None:
    """The data bucket's versioning, "Enabled" as the stack has it; a test parametrizes it None to see a bucket
    without versioning (an overwrite then replaces the only copy)."""
    return "Enabled"


@pytest.fixture
def aws(data_versioning):
    """moto S3 with the data bucket and the (versioned) models bucket; yields the S3 client."""
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=DATA)
        if data_versioning:
            s3.put_bucket_versioning(Bucket=DATA, VersioningConfiguration={"Status": data_versioning})
        s3.create_bucket(Bucket=MODELS)
        s3.put_bucket_versioning(Bucket=MODELS, VersioningConfiguration={"Status": "Enabled"})
        yield s3


@pytest.fixture(scope="session")
def trained(config) -> tuple[bytes, dict]:
    """A model trained once per session on 3,000 generated rows: (artifact bytes, manifest)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=DATA)
        s3.create_bucket(Bucket=MODELS)
        s3.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(3000, seed=7))
        result = train_and_register(s3, data_bucket=DATA, models_bucket=MODELS, config=config)
        registry = Registry(s3, MODELS)
        manifest = registry.manifest(result["version"])
        artifact = s3.get_object(Bucket=MODELS, Key=manifest["artifact_key"])["Body"].read()
    return artifact, manifest


@pytest.fixture
def champion(aws, trained) -> str:
    """The session's trained model published and promoted in this test's registry; its version."""
    artifact, manifest = trained
    registry = Registry(aws, MODELS)
    version = registry.publish(artifact, manifest, version=manifest["version"])
    registry.promote(version, expected=None, decision={"kind": "promote", "reasons": ["test fixture"]})
    return version


def metric_sum(cloudwatch, name: str, pipeline: str = "mlops") -> float:
    """The sum of every datum of MLOps metric `name` published for `pipeline` (moto CloudWatch)."""
    datapoints = cloudwatch.get_metric_statistics(
        Namespace="MLOps",
        MetricName=name,
        Dimensions=[{"Name": "Pipeline", "Value": pipeline}],
        StartTime=datetime(2020, 1, 1, tzinfo=UTC),
        EndTime=datetime(2100, 1, 1, tzinfo=UTC),
        Period=86400,
        Statistics=["Sum"],
    )["Datapoints"]
    return sum(d["Sum"] for d in datapoints)


class LambdaContext:
    """The parts of Lambda's context object the handlers' Powertools logger reads."""

    def __init__(self, function_name: str = "function", memory_limit_in_mb: int = 1024) -> None:
        self.function_name, self.memory_limit_in_mb = function_name, memory_limit_in_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.aws_request_id = "request-1"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


def run_training_job(s3, config, *, run_id: str, trigger: dict) -> dict:
    """One run of the training job (the code both backends run) against moto, publishing nothing."""
    from training.job import run_job

    return run_job(
        s3=s3,
        cloudwatch=None,
        sns=None,
        data_bucket=DATA,
        models_bucket=MODELS,
        config=config,
        namespace="MLOps",
        alert_topic_arn=None,
        run_id=run_id,
        trigger=trigger,
    )
