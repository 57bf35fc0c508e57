"""The local container training job (LocalStack): beside the training Lambda on every local stack, the default when
`[training] local_backend = "container"`, with its role, its ended rule and the retraining function's grants."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from infra.app import ROOT
from infra.training import LOCAL_JOBS_DIR
from mlops_core.containers import local_image
from mlops_core.environment import ContainerBackendEnvironment, RetrainingEnvironment, SageMakerBackendEnvironment

from .conftest import logical_id, policy_documents_of_role, resources, synth
from .test_contracts import environment


@pytest.fixture(scope="module")
def container_default(tmp_path_factory) -> Template:
    """mlops.toml with `local_backend = "container"`, synthesised for LocalStack."""
    text = (ROOT / "mlops.toml").read_text().replace("[training]\n", '[training]\nlocal_backend = "container"\n', 1)
    config = tmp_path_factory.mktemp("container") / "mlops.toml"
    config.write_text(text)
    template, _ = synth("localstack", tmp_path_factory.mktemp("out"), config_file=config)
    return template


def _retraining(template: Template) -> RetrainingEnvironment:
    return RetrainingEnvironment.from_environment(environment(template, "Training/RetrainingFunction"))


def test_given_the_localstack_target_then_runs_train_in_the_lambda_and_a_manual_run_may_name_the_container(
    synthesized, config
):
    target, template, _ = synthesized
    retraining = _retraining(template)
    if target == "aws":
        assert retraining.available == ("sagemaker",)
        assert not any("ContainerJob" in key for key in template.to_json()["Resources"])
        return
    assert retraining.available == ("lambda", "container")
    variables = environment(template, "Training/RetrainingFunction")
    job = SageMakerBackendEnvironment.from_environment(variables)
    assert job.image_uri == local_image(config.name) and job.instance_type == "ml.m5.large"
    assert ContainerBackendEnvironment.from_environment(variables).jobs_dir == str(LOCAL_JOBS_DIR)
    outputs = template.to_json()["Outputs"]
    assert outputs["ContainerTrainingImage"]["Value"] == local_image(config.name) and "TrainingFunction" in outputs


def test_given_local_backend_container_then_it_is_the_default_and_the_lambda_stays_for_manual_runs(container_default):
    retraining = _retraining(container_default)
    assert (retraining.backend, retraining.available) == ("container", ("container", "lambda"))
    handlers = {f["Properties"]["Handler"] for f in resources(container_default, "AWS::Lambda::Function").values()}
    assert "training_job.handler.lambda_handler" in handlers


def test_given_the_container_job_then_its_ended_rule_sends_its_failed_or_stopped_jobs_to_the_training_ended_function(
    container_default,
):
    role = logical_id(container_default, "AWS::IAM::Role", "Training/ContainerJobRole")
    [rule] = [r for key, r in resources(container_default, "AWS::Events::Rule").items() if "ContainerJobEnded" in key]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.sagemaker"]
    assert pattern["detail"] == {"TrainingJobStatus": ["Failed", "Stopped"], "RoleArn": [{"Fn::GetAtt": [role, "Arn"]}]}
    ended = logical_id(container_default, "AWS::Lambda::Function", "Training/TrainingEndedFunction")
    assert rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [ended, "Arn"]}


def test_given_the_container_job_then_the_retraining_role_may_pass_its_role_and_put_only_default_bus_events(
    container_default,
):
    role = logical_id(container_default, "AWS::IAM::Role", "Training/RetrainingFunction")
    statements = [s for doc in policy_documents_of_role(container_default, role) for s in doc["Statement"]]
    events = [s for s in statements if "events:PutEvents" in json.dumps(s["Action"])]
    assert len(events) == 1 and "event-bus/default" in json.dumps(events[0]["Resource"])
    job_role = logical_id(container_default, "AWS::IAM::Role", "Training/ContainerJobRole")
    passes = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert [s["Resource"] for s in passes] == [{"Fn::GetAtt": [job_role, "Arn"]}]


def test_given_the_container_job_then_its_role_gets_the_training_jobs_data_and_registry_grants(container_default):
    from .test_permissions import s3_grants

    container = s3_grants(container_default, "Training/ContainerJobRole")
    assert container and container == s3_grants(container_default, "Training/JobFunction")


def test_the_jobs_folder_is_ignored_by_git():
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert any(Path(".local-aws").as_posix() in line for line in ignored)
    assert LOCAL_JOBS_DIR.is_relative_to(ROOT / ".local-aws")
