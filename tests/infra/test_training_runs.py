"""How a training run is bounded and how it ends, as deployed: the run's time limit from mlops.toml on both
backends, within the lock's TTL; a run that ends without reporting reaches the training-ended function (the training
Lambda's on-failure destination locally, a rule on the SageMaker jobs' state changes on AWS), whose role may rewrite
run records, delete the lock, publish metrics and alerts, and nothing more."""

from __future__ import annotations

import json
import re

from aws_cdk.assertions import Match, Template

from infra.app import ROOT
from mlops_core.config import LOCK_MARGIN_S, load_config

from .conftest import logical_id, resources, synth
from .test_stack import policy_documents_of_role, statements_touching

IRIS = ROOT / "examples" / "iris" / "mlops.toml"


def synth_with_retraining(tmp_path, target: str, **settings: int) -> Template:
    """The `target` template of the repo's mlops.toml with [retraining] `settings` replaced."""
    text = (ROOT / "mlops.toml").read_text()
    for name, value in settings.items():
        text = re.sub(rf"^#? ?{name} = \d+", f"{name} = {value}", text, count=1, flags=re.MULTILINE)
    config = tmp_path / "mlops.toml"
    config.write_text(text)
    template, _ = synth(target, tmp_path / "cdk", config_file=config)
    return template


def properties(template: Template, kind: str, path: str) -> dict:
    return resources(template, kind)[logical_id(template, kind, path)]["Properties"]


def test_given_a_run_time_limit_in_the_config_when_synthesized_for_aws_then_each_sagemaker_job_stops_at_it(tmp_path):
    # The training image carries the config, so it must lie in the repository: the iris example sets the limit.
    template, _ = synth("aws", tmp_path / "cdk", config_file=IRIS)

    environment = properties(template, "AWS::Lambda::Function", "Training/RetrainingFunction")["Environment"]
    assert load_config(IRIS).retraining.max_runtime_seconds == 1200
    # the retraining function creates each SageMaker job with this MaxRuntimeInSeconds
    assert environment["Variables"]["SAGEMAKER_MAX_RUNTIME_S"] == "1200"


def test_given_a_run_time_limit_in_the_config_when_synthesized_for_localstack_then_the_training_function_stops_at_it(
    tmp_path,
):
    template = synth_with_retraining(tmp_path, "localstack", lock_ttl_seconds=1200, max_runtime_seconds=600)

    assert properties(template, "AWS::Lambda::Function", "Training/JobFunction")["Timeout"] == 600
    invoke_config = next(iter(resources(template, "AWS::Lambda::EventInvokeConfig").values()))["Properties"]
    assert invoke_config["MaximumRetryAttempts"] == 0
    # A throttled invocation is dropped before it could start so late that the run outlives its lock.
    assert invoke_config["MaximumEventAgeInSeconds"] < LOCK_MARGIN_S


def ended_function_arn(template: Template) -> dict:
    return {"Fn::GetAtt": [logical_id(template, "AWS::Lambda::Function", "Training/TrainingEndedFunction"), "Arn"]}


def test_given_the_local_target_then_every_failed_invocation_of_the_training_function_goes_to_the_ended_function(
    synthesized,
):
    target, template, _ = synthesized
    if target == "aws":  # no training function on AWS: the next test's rule
        template.resource_count_is("AWS::Lambda::EventInvokeConfig", 0)
        return
    training = logical_id(template, "AWS::Lambda::Function", "Training/JobFunction")
    (invoke_config,) = resources(template, "AWS::Lambda::EventInvokeConfig").values()
    assert invoke_config["Properties"]["FunctionName"] == {"Ref": training}
    assert invoke_config["Properties"]["DestinationConfig"] == {
        "OnFailure": {"Destination": ended_function_arn(template)}
    }
    job_role = logical_id(template, "AWS::IAM::Role", "Training/JobFunctionRole")
    invokes = [
        s
        for doc in policy_documents_of_role(template, job_role)
        for s in doc["Statement"]
        if s["Action"] == "lambda:InvokeFunction"
    ]
    assert [s["Resource"][0] for s in invokes] == [ended_function_arn(template)]


def test_given_a_target_then_this_stacks_sagemaker_style_jobs_that_failed_or_stopped_go_to_the_ended_function(
    synthesized,
):
    """On AWS the SageMaker jobs; on LocalStack the local container jobs, which end as SageMaker's do (the training
    Lambda's runs end through its on-failure destination instead)."""
    target, template, _ = synthesized
    rules = [
        r["Properties"]
        for r in resources(template, "AWS::Events::Rule").values()
        if r["Properties"].get("EventPattern", {}).get("source") == ["aws.sagemaker"]
    ]
    job_role = logical_id(
        template, "AWS::IAM::Role", "Training/JobRole" if target == "aws" else "Training/ContainerJobRole"
    )
    (rule,) = rules
    assert rule["EventPattern"] == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Training Job State Change"],
        "detail": {"TrainingJobStatus": ["Failed", "Stopped"], "RoleArn": [{"Fn::GetAtt": [job_role, "Arn"]}]},
    }
    assert [t["Arn"] for t in rule["Targets"]] == [ended_function_arn(template)]
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "Principal": "events.amazonaws.com",
            "FunctionName": ended_function_arn(template),
            "SourceArn": Match.any_value(),
        },
    )


def _actions(statement: dict) -> set[str]:
    return set(statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])


def _paths(statement: dict, bucket: str) -> set[str]:
    """The object paths of `bucket` in the statement's resources ("/registry/runs/*")."""
    found = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return {
        part
        for r in found
        if bucket in json.dumps(r) and "Fn::Join" in r
        for part in r["Fn::Join"][1]
        if isinstance(part, str) and part.startswith("/")
    }


def granted(statements: list[dict], bucket: str, action_prefix: str) -> set[str]:
    """The object paths of `bucket` on which the statements allow an action starting with `action_prefix`."""
    return {
        path for s in statements if any(a.startswith(action_prefix) for a in _actions(s)) for path in _paths(s, bucket)
    }


def test_given_the_ended_functions_role_then_it_rewrites_run_records_deletes_the_lock_and_touches_no_data(synthesized):
    _, template, _ = synthesized
    role = logical_id(template, "AWS::IAM::Role", "Training/TrainingEndedFunctionRole")
    models = logical_id(template, "AWS::S3::Bucket", "Storage/Models")
    data = logical_id(template, "AWS::S3::Bucket", "Storage/Data")
    docs = policy_documents_of_role(template, role)

    assert statements_touching(docs, data) == []
    on_models = statements_touching(docs, models)
    assert granted(on_models, models, "s3:GetObject") == {"/registry/runs/*", "/registry/training.lock"}
    assert granted(on_models, models, "s3:PutObject") == {"/registry/runs/*"}
    assert granted(on_models, models, "s3:DeleteObject") == {"/registry/training.lock"}
    others = {a for d in docs for s in d["Statement"] for a in _actions(s)} - {
        a for s in on_models for a in _actions(s)
    }
    assert {a for a in others if not a.startswith(("logs:", "kms:"))} == {"sns:Publish", "cloudwatch:PutMetricData"}
    variables = properties(template, "AWS::Lambda::Function", "Training/TrainingEndedFunction")["Environment"]
    assert variables["Variables"]["MODELS_BUCKET"] == {"Ref": models}
    assert properties(template, "AWS::Lambda::Function", "Training/TrainingEndedFunction")["Handler"] == (
        "training_ended.handler.lambda_handler"
    )
