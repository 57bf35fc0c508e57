"""Training: the job that trains and registers a model, the retraining function that starts it, and the
training-ended function that ends a run that could not report its own end.

On AWS the job is a SageMaker training job running the image built from training/Dockerfile (no
VPC needed). On LocalStack, which has no SageMaker, ECR or image builds, the same entrypoint
(`training.train.train_and_register`) runs inside a training Lambda. Both backends are a
`TrainingJob` here; lambdas/retraining/backends.py is the runtime side that starts them. Each sends
its runs' unreported ends to the training-ended function its own way: the training Lambda's
on-failure destination, an EventBridge rule on the SageMaker jobs' state changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct

from mlops_core.config import PromotionSettings
from mlops_core.containers import config_build_args, local_image
from mlops_core.environment import (
    Backend,
    ContainerBackendEnvironment,
    LambdaBackendEnvironment,
    RetrainingEnvironment,
    SageMakerBackendEnvironment,
    TrainingEndedEnvironment,
    TrainingJobEnvironment,
)
from mlops_core.observability import NAMESPACE
from mlops_core.storage import layout

from . import nag
from .access import KeyAccess, grant_keys
from .functions import FunctionAssets, metrics_statement
from .storage import Storage

ROOT = Path(__file__).resolve().parent.parent
LOCAL_JOBS_DIR = ROOT / ".local-aws" / "training-jobs"  # each local container job's /opt/ml, on the host
LAMBDA_MAX_TIMEOUT_S = 900  # Lambda's longest timeout: the training function stops at min(this, the run's limit)
# How long the training function's invocation may wait in Lambda's queue (throttled) before it is dropped: within
# the lock's margin (mlops_core.config.lifecycle.LOCK_MARGIN_S), so a run that starts late still ends under its lock.
TRAINING_EVENT_MAX_AGE = Duration.minutes(5)
TRAINING_MEMORY_MB = 3008
SAGEMAKER_INSTANCE_TYPE = "ml.m5.large"
JOB_KEYS_WHY = {
    f"{layout.TRAINING}*": "reads labeled training data, and not incoming/",
    f"{layout.FEEDBACK}*": "reads labeled batches that scoring kept for retraining",
    f"{layout.HOLDOUT}*": "reads the reference holdout, which only the operator writes",
    f"{layout.MODELS}*": "reads the champion's artifact and manifest, to compare it with the candidate",
    layout.artifact_key("*"): "writes a new version's artifact, named at run time; never a rewrite (bucket policy)",
    layout.manifest_key("*"): "writes a new version's manifest, named at run time; never a rewrite (bucket policy)",
    f"{layout.HISTORY}*": "records the gate's decision, one new object per decision",
    f"{layout.PENDING}*": "holds a candidate for manual approval, one new object per version",
    f"{layout.RUNS}*": "reads and writes run records, one per run id (known only at run time)",
}


class TrainingJob(Protocol):
    """A training backend as the stack sees it.

    The backends build their resources straight into the Training scope, not into a construct of
    their own, so the logical ids (TrainingJobRole..., TrainingJobFunction...) stay what they were.
    """

    @property
    def name(self) -> Backend:
        """The backend's name, as the retraining function reads it (TRAINING_BACKEND)."""
        ...

    @property
    def role(self) -> iam.IRole:
        """The role the job runs as, to which the stack grants data and registry access."""
        ...

    def retraining_environment(self) -> dict[str, str]:
        """The variables the retraining function needs to start this job (the backend's settings record)."""
        ...

    def allow_start(self, retraining_role: iam.IRole) -> None:
        """Let the retraining function's role start the job."""
        ...

    def outputs(self) -> dict[str, str]:
        """The stack outputs that name the job."""
        ...


class LambdaTrainingJob:
    """LocalStack: the training entrypoint in a Lambda function, invoked asynchronously."""

    name: Literal["lambda"] = "lambda"

    def __init__(
        self,
        scope: Construct,
        *,
        environment: TrainingJobEnvironment,
        assets: FunctionAssets,
        max_runtime_s: int,
        ended: lambda_.IFunction,
        removal_policy: RemovalPolicy,
    ) -> None:
        self.function, self.role = assets.function(
            scope,
            "JobFunction",
            handler="training_job.handler.lambda_handler",
            timeout=Duration.seconds(min(max_runtime_s, LAMBDA_MAX_TIMEOUT_S)),
            memory_size=TRAINING_MEMORY_MB,
            environment={**environment.as_environment(), "POWERTOOLS_SERVICE_NAME": "training"},
            removal_policy=removal_policy,
            description="Runs the training entrypoint (LocalStack stand-in for the SageMaker job)",
        )
        # A failed run is reported and the next alarm retrains; Lambda's async retries would
        # instead re-run it twice behind the lock's back. Every failed invocation goes to `ended`, which
        # ends the runs that could not report (a timeout, out of memory, an invocation dropped for its age).
        self.function.configure_async_invoke(
            retry_attempts=0,
            max_event_age=TRAINING_EVENT_MAX_AGE,
            on_failure=destinations.LambdaDestination(ended),
        )
        nag.acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            f"IAM5[Resource::{nag.arn_token(ended)}:*]",
            "the on-failure destination's grant_invoke covers the training-ended function's versions and aliases",
        )

    def retraining_environment(self) -> dict[str, str]:
        """The training function's name."""
        return LambdaBackendEnvironment(training_function_name=self.function.function_name).as_environment()

    def allow_start(self, retraining_role: iam.IRole) -> None:
        """lambda:InvokeFunction on the training function (and its versions and aliases)."""
        self.function.grant_invoke(retraining_role)
        nag.acknowledge(
            retraining_role.node.find_child("DefaultPolicy"),
            f"IAM5[Resource::{nag.arn_token(self.function)}:*]",
            "grant_invoke covers the training function's versions and aliases, and nothing else",
        )

    def outputs(self) -> dict[str, str]:
        """TrainingFunction: the training function's name."""
        return {"TrainingFunction": self.function.function_name}


class SageMakerTrainingJob:
    """AWS: a SageMaker training job per run, on the image built from training/Dockerfile."""

    name: Literal["sagemaker"] = "sagemaker"

    def __init__(
        self,
        scope: Construct,
        *,
        config_file: Path,
        max_runtime_s: int,
        ended: lambda_.IFunction,
        models_bucket: s3.IBucket,
    ) -> None:
        self.max_runtime_s = max_runtime_s
        self.image = ecr_assets.DockerImageAsset(
            scope,
            "Image",
            directory=str(ROOT),
            file="training/Dockerfile",
            platform=ecr_assets.Platform.LINUX_AMD64,
            build_args=image_config_args(config_file),
        )
        self.role = iam.Role(
            scope,
            "JobRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Execution role of the SageMaker training jobs",
        )
        self.image.repository.grant_pull(self.role)
        output = f"{layout.SAGEMAKER_OUTPUT}*"
        why = {output: "SageMaker uploads each job's own output here (model.tar.gz, output.tar.gz); nothing reads it"}
        grant_keys(self.role, models_bucket, KeyAccess(write=(output,)), why=why)
        log_group = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:/aws/sagemaker/TrainingJobs"
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[f"{log_group}:*"],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])  # account-wide API
        )
        nag.acknowledge(
            self.role.node.find_child("DefaultPolicy"),
            "IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
            "/aws/sagemaker/TrainingJobs:*]",
            "SageMaker writes one log stream per job into this one log group; streams are named at run time",
        )
        self.ended_rule = sagemaker_ended_rule(scope, "JobEnded", job_role=self.role, ended=ended)

    def retraining_environment(self) -> dict[str, str]:
        """The image, the role the jobs run as, and each job's instance type and time limit."""
        return SageMakerBackendEnvironment(
            image_uri=self.image.image_uri,
            role_arn=self.role.role_arn,
            instance_type=SAGEMAKER_INSTANCE_TYPE,
            max_runtime_s=self.max_runtime_s,
        ).as_environment()

    def allow_start(self, retraining_role: iam.IRole) -> None:
        """CreateTrainingJob and DescribeTrainingJob, and passing the job's role to SageMaker."""
        retraining_role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob"],
                resources=[f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:training-job/*"],
            )
        )
        self.role.grant_pass_role(retraining_role)
        nag.acknowledge(
            retraining_role.node.find_child("DefaultPolicy"),
            "IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/*]",
            "each run creates a training job named after its run id, unknown in advance; scoped to training jobs",
        )

    def outputs(self) -> dict[str, str]:
        """TrainingImageUri: the training image."""
        return {"TrainingImageUri": self.image.image_uri}


class ContainerTrainingJob:
    """LocalStack: the training image in a local container, started and ended as SageMaker does
    (training/local_jobs.py), by the retraining function's own process on the host."""

    name: Literal["container"] = "container"

    def __init__(self, scope: Construct, *, project: str, max_runtime_s: int, ended: lambda_.IFunction) -> None:
        self.image = local_image(project)
        self.max_runtime_s = max_runtime_s
        # Nothing assumes it locally (the container gets the starter's credentials): it is what the jobs are
        # created with, as on AWS, so the ended rule matches this stack's jobs by it and grants are pinned.
        self.role = iam.Role(
            scope,
            "ContainerJobRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Role the local container training jobs are created with (LocalStack)",
        )
        self.ended_rule = sagemaker_ended_rule(scope, "ContainerJobEnded", job_role=self.role, ended=ended)

    def retraining_environment(self) -> dict[str, str]:
        """The local image, the role, the time limit, and where each job's /opt/ml folder goes."""
        return {
            **SageMakerBackendEnvironment(
                image_uri=self.image,
                role_arn=self.role.role_arn,
                instance_type=SAGEMAKER_INSTANCE_TYPE,
                max_runtime_s=self.max_runtime_s,
            ).as_environment(),
            **ContainerBackendEnvironment(jobs_dir=str(LOCAL_JOBS_DIR)).as_environment(),
        }

    def allow_start(self, retraining_role: iam.IRole) -> None:
        """Passing the job's role, and putting each job's state change on the default event bus."""
        self.role.grant_pass_role(retraining_role)
        bus = f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:event-bus/default"
        retraining_role.add_to_principal_policy(iam.PolicyStatement(actions=["events:PutEvents"], resources=[bus]))

    def outputs(self) -> dict[str, str]:
        """ContainerTrainingImage: the local image the container runs train in (`make image` builds it)."""
        return {"ContainerTrainingImage": self.image}


def sagemaker_ended_rule(
    scope: Construct, construct_id: str, *, job_role: iam.IRole, ended: lambda_.IFunction
) -> events.Rule:
    """An EventBridge rule that sends this stack's SageMaker jobs that failed or stopped (at their time limit
    too) to the training-ended function. Every job of the stack runs as `job_role`, and no other job does."""
    return events.Rule(
        scope,
        construct_id,
        event_pattern=events.EventPattern(
            source=["aws.sagemaker"],
            detail_type=["SageMaker Training Job State Change"],
            detail={"TrainingJobStatus": ["Failed", "Stopped"], "RoleArn": [job_role.role_arn]},
        ),
        # EventBridge's default retries (up to 24 hours): ending a run twice ends it once.
        targets=[events_targets.LambdaFunction(ended)],
        description="Ends the training runs whose SageMaker job failed or stopped",
    )


def image_config_args(config_file: Path) -> dict[str, str]:
    """The training image's build argument that names the project's config file (see training/Dockerfile); the
    build context is the repository, so the config must lie inside it."""
    return config_build_args(config_file, context=ROOT)


class Training(Construct):
    """The target's training jobs and the retraining function that alarms invoke, in one scope."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        backend: Backend,
        container: bool,
        conditional_deletes: bool,
        max_runtime_s: int,
        config_file: Path,
        project: str,
        storage: Storage,
        assets: FunctionAssets,
        alerts: sns.ITopic,
        removal_policy: RemovalPolicy,
        promotion: PromotionSettings,
        schedule: str | None = None,
    ) -> None:
        """`backend` is where alarms' and schedules' runs train; `container` adds the local container job (LocalStack)
        beside the target's own. `promotion` decides which registry keys the jobs write: the challenger pointer
        (challenger mode) and pending records (manual approval) only when the config asks for them."""
        super().__init__(scope, construct_id)
        job_environment = TrainingJobEnvironment(
            data_bucket=storage.data_bucket.bucket_name,
            models_bucket=storage.models_bucket.bucket_name,
            namespace=NAMESPACE,
            alert_topic_arn=alerts.topic_arn,
            conditional_deletes=conditional_deletes,
        )
        self.ended_function, ended_role = training_ended_function(
            self,
            job_environment=job_environment,
            storage=storage,
            assets=assets,
            alerts=alerts,
            removal_policy=removal_policy,
        )
        own: TrainingJob = (
            SageMakerTrainingJob(
                self,
                config_file=config_file,
                max_runtime_s=max_runtime_s,
                ended=self.ended_function,
                models_bucket=storage.models_bucket,
            )
            if backend == "sagemaker"
            else LambdaTrainingJob(
                self,
                environment=job_environment,
                assets=assets,
                max_runtime_s=max_runtime_s,
                ended=self.ended_function,
                removal_policy=removal_policy,
            )
        )
        jobs: list[TrainingJob] = [own]
        if container:
            jobs.append(
                ContainerTrainingJob(self, project=project, max_runtime_s=max_runtime_s, ended=self.ended_function)
            )
        self.jobs = sorted(jobs, key=lambda job: job.name != backend)  # the default first
        if self.jobs[0].name != backend:
            raise ValueError(f"training backend {backend!r} is not available on this target")
        for job in self.jobs:
            grant_job_access(job.role, storage=storage, alerts=alerts, promotion=promotion)
        self.retraining_function, retraining_role = retraining_function(
            self,
            jobs=self.jobs,
            job_environment=job_environment,
            storage=storage,
            assets=assets,
            alerts=alerts,
            removal_policy=removal_policy,
        )
        self.roles = (*(job.role for job in self.jobs), retraining_role, ended_role)  # every role this construct made
        if schedule is not None:
            retraining_schedule(self, expression=schedule, function=self.retraining_function)

    def outputs(self) -> dict[str, str]:
        """The stack outputs that name every training job."""
        return {name: value for job in self.jobs for name, value in job.outputs().items()}


def retraining_schedule(scope: Construct, *, expression: str, function: lambda_.IFunction) -> events.Rule:
    """An EventBridge rule that starts the retraining function on `retraining.schedule` (checked when the
    config loads), through the same lock, cooldown and gate as an alarm."""
    return events.Rule(
        scope,
        "RetrainingSchedule",
        schedule=events.Schedule.expression(expression),
        # No retries: a start that fails is recorded as a failed run, and the next schedule or alarm retrains.
        targets=[events_targets.LambdaFunction(function, retry_attempts=0)],
        description=f"Starts retraining on {expression}",
    )


def grant_job_access(role: iam.IRole, *, storage: Storage, alerts: sns.ITopic, promotion: PromotionSettings) -> None:
    """What a training job may do, whatever runs it.

    It reads labeled data, the reference holdout and the registry; writes a new version, the champion
    pointer (and in challenger mode the challenger's), the history, pending records (manual approval) and
    its run record; it deletes only the run lock, to release it. It never reads incoming/ or writes
    predictions.
    """
    data = KeyAccess(read=(f"{layout.TRAINING}*", f"{layout.FEEDBACK}*", f"{layout.HOLDOUT}*"))
    grant_keys(role, storage.data_bucket, data, why=JOB_KEYS_WHY)
    grant_keys(role, storage.models_bucket, job_registry_keys(promotion), why=JOB_KEYS_WHY)
    alerts.grant_publish(role)
    role.add_to_principal_policy(metrics_statement())
    nag.acknowledge_metrics(role)
    nag.acknowledge_alert_publishing(role)


def job_registry_keys(promotion: PromotionSettings) -> KeyAccess:
    """The models bucket's keys a training run reads, writes and deletes (training/job.py, the registry's gate)."""
    pointers = (layout.CHAMPION_KEY, *((layout.CHALLENGER_KEY,) if promotion.challenger != "off" else ()))
    pending = (f"{layout.PENDING}*",) if promotion.approval == "manual" else ()
    return KeyAccess(
        read=(f"{layout.MODELS}*", *pointers, layout.LOCK_KEY, f"{layout.RUNS}*"),
        write=(
            layout.artifact_key("*"),
            layout.manifest_key("*"),
            *pointers,
            f"{layout.HISTORY}*",
            *pending,
            f"{layout.RUNS}*",
        ),
        delete=(layout.LOCK_KEY,),
    )


def retraining_function(
    scope: Construct,
    *,
    jobs: list[TrainingJob],
    job_environment: TrainingJobEnvironment,
    storage: Storage,
    assets: FunctionAssets,
    alerts: sns.ITopic,
    removal_policy: RemovalPolicy,
) -> tuple[lambda_.Function, iam.Role]:
    """The function alarms (and `mlops train`) invoke: lock, cooldown, then start a run on one of `jobs` (the
    first unless a manual run names another); and its role."""
    models = storage.models_bucket
    retraining = RetrainingEnvironment(
        models_bucket=models.bucket_name,
        backend=jobs[0].name,
        backends=tuple(job.name for job in jobs) if len(jobs) > 1 else None,
        conditional_deletes=job_environment.conditional_deletes,
    )
    environment = {
        **retraining.as_environment(),
        **job_environment.as_environment(),  # what a SageMaker job is created with
        **{name: value for job in jobs for name, value in job.retraining_environment().items()},
        "POWERTOOLS_SERVICE_NAME": "retraining",
    }
    function, role = assets.function(
        scope,
        "RetrainingFunction",
        handler="retraining.handler.lambda_handler",
        timeout=Duration.minutes(1),
        memory_size=512,
        environment=environment,
        removal_policy=removal_policy,
        description="Starts a training run on drift alarms or by hand: lock, cooldown, backend",
    )
    # The run lock and the run records (mlops_core/registry/runs.py); no data, no model, no pointer.
    runs = f"{layout.RUNS}*"
    bookkeeping = KeyAccess(read=(runs, layout.LOCK_KEY), write=(runs, layout.LOCK_KEY), delete=(layout.LOCK_KEY,))
    grant_keys(role, models, bookkeeping, why=JOB_KEYS_WHY)
    alerts.grant_publish(role)
    role.add_to_policy(metrics_statement())
    for job in jobs:
        job.allow_start(role)
    nag.acknowledge_metrics(role)
    nag.acknowledge_alert_publishing(role)
    return function, role


def training_ended_function(
    scope: Construct,
    *,
    job_environment: TrainingJobEnvironment,
    storage: Storage,
    assets: FunctionAssets,
    alerts: sns.ITopic,
    removal_policy: RemovalPolicy,
) -> tuple[lambda_.Function, iam.Role]:
    """The function that ends a run that could not report (lambdas/training_ended): its record, its lock, its
    failure told. It reads and rewrites run records and deletes the lock; nothing else of the registry. And
    its role."""
    models = storage.models_bucket
    environment = TrainingEndedEnvironment(
        models_bucket=models.bucket_name,
        namespace=job_environment.namespace,
        alert_topic_arn=alerts.topic_arn,
        conditional_deletes=job_environment.conditional_deletes,
    )
    function, role = assets.function(
        scope,
        "TrainingEndedFunction",
        handler="training_ended.handler.lambda_handler",
        timeout=Duration.seconds(30),
        memory_size=256,
        environment={**environment.as_environment(), "POWERTOOLS_SERVICE_NAME": "training-ended"},
        removal_policy=removal_policy,
        description="Ends a training run that could not report (timeout, out of memory, stopped job): failed, "
        "lock released, TrainingFailures, alert",
    )
    runs = f"{layout.RUNS}*"
    # A conditional delete (IfMatch) of the lock needs s3:GetObject on it too.
    ending = KeyAccess(read=(runs, layout.LOCK_KEY), write=(runs,), delete=(layout.LOCK_KEY,))
    grant_keys(role, models, ending, why={runs: "ends a run by rewriting its record; no other record, no data"})
    alerts.grant_publish(role)
    role.add_to_policy(metrics_statement())
    nag.acknowledge_metrics(role)
    nag.acknowledge_alert_publishing(role)
    return function, role
