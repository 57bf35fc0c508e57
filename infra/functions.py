"""What every function of the stack shares: runtime, the dependency layer, the code asset, logging."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from mlops_core.observability import NAMESPACE

from . import nag
from .bundling import RUNTIME, dependency_layer_code, function_code


def metrics_statement() -> iam.PolicyStatement:
    """PutMetricData into the pipeline's namespace (the action has no resource type, so the namespace scopes it)."""
    return iam.PolicyStatement(
        actions=["cloudwatch:PutMetricData"],
        resources=["*"],
        conditions={"StringEquals": {"cloudwatch:namespace": NAMESPACE}},
    )


class FunctionAssets(Construct):
    """The dependency layer and the code asset, created once and used by every function."""

    def __init__(self, scope: Construct, construct_id: str, *, bundle_for_host: bool, config_file: Path) -> None:
        super().__init__(scope, construct_id)
        self.layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=dependency_layer_code(for_host=bundle_for_host),
            compatible_runtimes=[RUNTIME],
            description="scikit-learn, numpy, scipy, joblib, Powertools (lambdas/requirements.txt)",
        )
        self.code = function_code(config_file)

    def function(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        timeout: Duration,
        memory_size: int,
        environment: dict[str, str],
        removal_policy: RemovalPolicy,
        description: str,
    ) -> tuple[lambda_.Function, iam.Role]:
        """A python3.12 function on the shared code and layer, with its own retained log group, and its role."""
        log_group, role = _log_group_and_role(
            scope, construct_id, removal_policy=removal_policy, description=description
        )
        function = lambda_.Function(
            scope,
            construct_id,
            role=role,
            runtime=RUNTIME,
            handler=handler,
            code=self.code,
            layers=[self.layer],
            timeout=timeout,
            memory_size=memory_size,
            architecture=lambda_.Architecture.X86_64,
            environment={"POWERTOOLS_LOG_LEVEL": "INFO", **environment},
            log_group=log_group,
            description=description,
        )
        _depend_on_policy_only(function, role)
        nag.acknowledge(
            function,
            "L1",
            "python3.12 on purpose: the layer's wheels, the local executor and the training image are built "
            "and measured for 3.12; moving is one constant in infra/bundling.py plus a rebuild",
        )
        return function, role


def _log_group_and_role(
    scope: Construct, construct_id: str, *, removal_policy: RemovalPolicy, description: str
) -> tuple[logs.LogGroup, iam.Role]:
    """A function's retained log group, and its role."""
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=logs.RetentionDays.ONE_MONTH,
        removal_policy=removal_policy,
    )
    # An explicit role, not AWSLambdaBasicExecutionRole: it may write to its own log group only.
    role = iam.Role(
        scope,
        f"{construct_id}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=description,
    )
    log_group.grant_write(role)
    return log_group, role


def _depend_on_policy_only(function: lambda_.Function, role: iam.Role) -> None:
    """CDK makes the function depend on its role and the role's policy; the role is already a GetAtt
    reference, so the DependsOn keeps only the policy (cfn-lint W3005)."""
    cfn_function = cast(lambda_.CfnFunction, function.node.default_child)
    policy = cast(iam.CfnPolicy, role.node.find_child("DefaultPolicy").node.default_child)
    cfn_function.add_override("DependsOn", [Stack.of(function).get_logical_id(policy)])
