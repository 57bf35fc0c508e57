"""Training: the job that trains and registers a model, and the retraining function that starts it.

On AWS the job is a SageMaker training job running the image built from training/Dockerfile (no
VPC needed). On LocalStack, which has no SageMaker, ECR or image builds, the same entrypoint
(`training.train.train_and_register`) runs inside a training Lambda. The retraining function picks
the backend from its environment (TRAINING_BACKEND).
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from mlops_core import layout

from . import nag
from .functions import FunctionAssets, metrics_statement
from .storage import Storage

ROOT = Path(__file__).resolve().parent.parent
TRAINING_TIMEOUT = Duration.minutes(15)
TRAINING_MEMORY_MB = 3008
SAGEMAKER_INSTANCE_TYPE = "ml.m5.large"
SAGEMAKER_MAX_RUNTIME_S = 3600


class Training(Construct):
    """The training backend for the target, and the retraining function that alarms invoke."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        storage: Storage,
        assets: FunctionAssets,
        backend: str,
        alerts: sns.ITopic,
        metrics_namespace: str,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        data, models = storage.data_bucket, storage.models_bucket
        job_env = {
            "DATA_BUCKET": data.bucket_name,
            "MODELS_BUCKET": models.bucket_name,
            "METRICS_NAMESPACE": metrics_namespace,
            "ALERT_TOPIC_ARN": alerts.topic_arn,
        }
        retraining_env = {**job_env, "TRAINING_BACKEND": backend, "POWERTOOLS_SERVICE_NAME": "retraining"}
        self.training_function: lambda_.Function | None = None
        self.image: ecr_assets.DockerImageAsset | None = None

        if backend == "lambda":
            self.training_function = assets.function(
                self,
                "JobFunction",
                handler="training_job.handler.lambda_handler",
                timeout=TRAINING_TIMEOUT,
                memory_size=TRAINING_MEMORY_MB,
                environment={**job_env, "POWERTOOLS_SERVICE_NAME": "training"},
                removal_policy=removal_policy,
                description="Runs the training entrypoint (LocalStack stand-in for the SageMaker job)",
            )
            job_role = self.training_function.role
            # A failed run is reported and the next alarm retrains; Lambda's async retries would
            # instead re-run it twice behind the lock's back.
            self.training_function.configure_async_invoke(retry_attempts=0)
            retraining_env["TRAINING_FUNCTION_NAME"] = self.training_function.function_name
        else:
            self.image = ecr_assets.DockerImageAsset(
                self,
                "Image",
                directory=str(ROOT),
                file="training/Dockerfile",
                platform=ecr_assets.Platform.LINUX_AMD64,
            )
            self.job_role = iam.Role(
                self,
                "JobRole",
                assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
                description="Execution role of the SageMaker training jobs",
            )
            self.image.repository.grant_pull(self.job_role)
            self.job_role.add_to_policy(
                iam.PolicyStatement(
                    actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[
                        f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:/aws/sagemaker/TrainingJobs:*"
                    ],
                )
            )
            self.job_role.add_to_policy(
                iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"])  # account-wide API
            )
            job_role = self.job_role
            retraining_env.update(
                TRAINING_IMAGE_URI=self.image.image_uri,
                SAGEMAKER_ROLE_ARN=self.job_role.role_arn,
                SAGEMAKER_INSTANCE_TYPE=SAGEMAKER_INSTANCE_TYPE,
                SAGEMAKER_MAX_RUNTIME_S=str(SAGEMAKER_MAX_RUNTIME_S),
            )

        # The job reads labeled data and the registry, writes new versions, the champion pointer,
        # history, and its run record; it never reads incoming/ or writes predictions.
        data.grant_read(job_role, f"{layout.TRAINING}*")
        data.grant_read(job_role, f"{layout.FEEDBACK}*")
        models.grant_read_write(job_role)
        alerts.grant_publish(job_role)
        job_role.add_to_principal_policy(metrics_statement(metrics_namespace))
        nag.acknowledge_s3_grants(
            job_role,
            [
                (data, f"{layout.TRAINING}*", "reads labeled training data, and not incoming/"),
                (data, f"{layout.FEEDBACK}*", "reads labeled batches that scoring kept for retraining"),
                (models, "*", "the training job owns the registry: new versions, champion pointer, history"),
            ],
            ["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*"],
        )
        nag.acknowledge_metrics(job_role)
        nag.acknowledge(job_role.node.find_child("DefaultPolicy"), "IAM5[Action::kms:GenerateDataKey*]",
                        "grant_publish on the encrypted alerts topic: data keys for that one KMS key")  # fmt: skip

        self.retraining_function = assets.function(
            self,
            "RetrainingFunction",
            handler="retraining.handler.lambda_handler",
            timeout=Duration.minutes(1),
            memory_size=512,
            environment=retraining_env,
            removal_policy=removal_policy,
            description="Starts a training run on drift alarms or by hand: lock, cooldown, backend",
        )
        # The retraining function only touches the registry's bookkeeping, never data.
        models.grant_read_write(self.retraining_function, f"{layout.REGISTRY}*")
        alerts.grant_publish(self.retraining_function)
        self.retraining_function.add_to_role_policy(metrics_statement(metrics_namespace))
        if self.training_function is not None:
            self.training_function.grant_invoke(self.retraining_function)
        else:
            self.retraining_function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob"],
                    resources=[f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:training-job/*"],
                )
            )
            self.job_role.grant_pass_role(self.retraining_function)
            nag.acknowledge(
                self.retraining_function.role.node.find_child("DefaultPolicy"),
                "IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/*]",
                "each run creates a training job named after its run id, unknown in advance; scoped to training jobs",
            )
            nag.acknowledge(
                self.job_role.node.find_child("DefaultPolicy"),
                "IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
                "/aws/sagemaker/TrainingJobs:*]",
                "SageMaker writes one log stream per job into this one log group; streams are named at run time",
            )
        retraining_role = self.retraining_function.role
        nag.acknowledge_s3_grants(
            retraining_role,
            [(models, f"{layout.REGISTRY}*", "the run lock, run records and decision history; no data, no models")],
            ["s3:GetObject*", "s3:GetBucket*", "s3:List*", "s3:DeleteObject*", "s3:Abort*"],
        )
        nag.acknowledge_metrics(retraining_role)
        nag.acknowledge(retraining_role.node.find_child("DefaultPolicy"), "IAM5[Action::kms:GenerateDataKey*]",
                        "grant_publish on the encrypted alerts topic: data keys for that one KMS key")  # fmt: skip
        if self.training_function is not None:
            nag.acknowledge(
                retraining_role.node.find_child("DefaultPolicy"),
                f"IAM5[Resource::{nag.arn_token(self.training_function)}:*]",
                "grant_invoke covers the training function's versions and aliases, and nothing else",
            )
