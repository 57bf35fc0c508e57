"""Everything that differs between deploying to AWS and to LocalStack, in one place.

The "LocalStack vs AWS" table of docs/localstack-vs-aws.md mirrors this file.

Not a setting, because the template is the same on both: LocalStack's community edition stores IAM
policies and bucket policies but enforces neither, so locally every role may do anything and the models
bucket's denials (infra/storage.py) do not apply. What each role may do is proven by the template tests
(tests/infra/test_permissions.py) and enforced on AWS only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aws_cdk import Duration, RemovalPolicy

from mlops_core.config import ProjectConfig
from mlops_core.environment import Backend

Target = Literal["aws", "localstack"]
RestApiUrl = Literal["execute-api", "localstack-path"]


@dataclass(frozen=True)
class TargetSettings:
    target: Target
    # CloudWatch alarm period: LocalStack evaluates alarms every period, so a short one keeps the
    # local loop quick; on AWS 10 s periods cost more (high-resolution alarms) for no benefit here.
    alarm_period: Duration
    # On AWS, training runs as a SageMaker training job from training/Dockerfile. LocalStack has no
    # SageMaker, ECR or Docker builds here, so the same entrypoint runs in a training Lambda.
    # The backend also decides how a run that ends without reporting (a timeout, out of memory, a stopped job)
    # reaches the training-ended function: on AWS a rule on SageMaker's Training Job State Change events, which
    # LocalStack never emits (no SageMaker), so only unit tests (tests/unit/lambdas/training_ended) send such
    # events; on LocalStack the training Lambda's on-failure destination, which LocalStack 4.13.1 runs as AWS
    # does (its async event manager sends the same invocation record, conditions RetriesExhausted and
    # EventAgeExceeded included).
    training_backend: Literal["sagemaker", "lambda"]
    # LocalStack: runs can also train in the training image itself, in a local container (podman or docker)
    # started as SageMaker starts it (training/local_jobs.py), so the AWS path's image is tried here too;
    # `[training] local_backend = "container"` makes it the default, `mlops train --backend` picks per run.
    # AWS: SageMaker runs the image.
    container_training: bool
    # Wheels for the Lambda layer: the function's platform on AWS, the host's for LocalStack
    # (whose functions run as host processes).
    bundle_for_host: bool
    # The alerts topic is encrypted with a customer-managed KMS key on AWS. LocalStack 4.13.1 on the
    # host fails every kms:CreateKey ("encoding without a string argument"), so there it uses SQS/SNS
    # defaults; nothing secret goes through alerts.
    alerts_kms_key: bool
    # Local stacks are disposable; on AWS the buckets (models, data) survive a stack deletion.
    removal_policy: RemovalPolicy
    # How often the champion's age is published, which is also its alarm's period (one datum per period).
    # Hourly on AWS, where ages are counted in days; every minute on LocalStack, so the local loop shows the
    # age (and a stale champion) within a minute or two.
    staleness_rate: Duration
    # A run releases the training lock with DeleteObject's IfMatch (the ETag it read), so it never deletes a
    # lock another run took over in between. LocalStack 4.13.1 answers NotImplemented to IfMatch on
    # DeleteObject ("only supported for Directory Buckets"), so there a run reads, compares and deletes
    # (mlops_core/registry/runs.py explains the race that leaves).
    s3_conditional_deletes: bool
    # The online endpoint's base URL ([online]): on AWS the stage's https://<api-id>.execute-api.<region>... URL;
    # on LocalStack 4.13.1 path style under its one port (http://127.0.0.1:4566/restapis/<api-id>/prod/_user_request_/),
    # because the <api-id>.execute-api.localhost.localstack.cloud host name does not resolve here.
    rest_api_url: RestApiUrl


TARGETS: dict[str, TargetSettings] = {
    "aws": TargetSettings(
        target="aws",
        alarm_period=Duration.seconds(60),
        training_backend="sagemaker",
        container_training=False,
        bundle_for_host=False,
        alerts_kms_key=True,
        removal_policy=RemovalPolicy.RETAIN,
        staleness_rate=Duration.hours(1),
        s3_conditional_deletes=True,
        rest_api_url="execute-api",
    ),
    "localstack": TargetSettings(
        target="localstack",
        alarm_period=Duration.seconds(10),
        training_backend="lambda",
        container_training=True,
        bundle_for_host=True,
        alerts_kms_key=False,
        removal_policy=RemovalPolicy.DESTROY,
        staleness_rate=Duration.minutes(1),
        s3_conditional_deletes=False,
        rest_api_url="localstack-path",
    ),
}


def target_settings(name: str) -> TargetSettings:
    """The settings for a target named in CDK context (`-c target=aws|localstack`)."""
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}: use one of {', '.join(TARGETS)}") from None


def training_backend(target: TargetSettings, config: ProjectConfig) -> Backend:
    """Where alarms' and schedules' runs train: the target's own backend, or on LocalStack the container when the
    project asks for it (`[training] local_backend`)."""
    if target.container_training and config.training.local_backend == "container":
        return "container"
    return target.training_backend
