"""Each role's S3 statements, pinned action by action and key by key, on both targets (issue 22: least
privilege where it matters). A grant that widens, narrows or moves fails here first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk.assertions import Template

from infra.app import ROOT

from .conftest import logical_id, policy_documents_of_role, resources, synth

BUCKETS = {"Storage/Data": "data", "Storage/Models": "models"}


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def _resource_name(resource, buckets: dict[str, str]) -> str:
    """`data`, `models` (the bucket) or `models/<key pattern>` (its objects); anything else as JSON."""
    if isinstance(resource, dict) and "Fn::GetAtt" in resource and resource["Fn::GetAtt"][0] in buckets:
        return buckets[resource["Fn::GetAtt"][0]]
    parts = resource.get("Fn::Join", ["", []])[1] if isinstance(resource, dict) else []
    if len(parts) == 2 and isinstance(parts[0], dict) and parts[0].get("Fn::GetAtt", [None])[0] in buckets:
        return buckets[parts[0]["Fn::GetAtt"][0]] + parts[1]
    return json.dumps(resource, sort_keys=True)


def s3_grants(template: Template, role_path: str) -> set[tuple[str, str]]:
    """Every (S3 action, resource) the role at `role_path` is allowed, a condition appended to its resource."""
    return s3_grants_of(template, logical_id(template, "AWS::IAM::Role", role_path))


def s3_grants_of(template: Template, role: str) -> set[tuple[str, str]]:
    buckets = {logical_id(template, "AWS::S3::Bucket", path): name for path, name in BUCKETS.items()}
    grants = set()
    for document in policy_documents_of_role(template, role):
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow", statement
            condition = f" if {json.dumps(statement['Condition'], sort_keys=True)}" if "Condition" in statement else ""
            for action in _listed(statement["Action"]):
                for resource in _listed(statement["Resource"]) if action.startswith("s3:") else ():
                    grants.add((action, _resource_name(resource, buckets) + condition))
    return grants


def grants(action: str, *names: str) -> set[tuple[str, str]]:
    return {(action, name) for name in names}


SCORING_OUTPUTS = ("data/predictions/*", "data/feedback/*", "data/shadow/*", "data/rejected/*")
SCORING_REPORTS = ("data/reports/receipts/*", "data/reports/drift/*", "data/reports/challenger/*")
SCORING = {
    ("s3:ListBucket", "data"),
    *grants("s3:GetObject", "data/incoming/*", "data/reports/receipts/*", "data/reports/challenger/*"),
    ("s3:GetObjectVersion", "data/incoming/*"),
    *grants("s3:PutObject", *SCORING_OUTPUTS, *SCORING_REPORTS),
    *grants("s3:AbortMultipartUpload", *SCORING_OUTPUTS),
    *grants("s3:DeleteObject", "data/predictions/*", "data/shadow/*"),
    ("s3:ListBucket", "models"),
    *grants("s3:GetObject", "models/models/*", "models/registry/champion.json", "models/registry/challenger.json"),
    # a byte range's pinned version: the champion pointer's earlier versions (scoring.models.load_champion)
    ("s3:GetObjectVersion", "models/registry/champion.json"),
    ("s3:ListBucketVersions", 'models if {"StringEquals": {"s3:prefix": ["registry/champion.json"]}}'),
}
SCORING_CHALLENGER_RULE = grants(
    "s3:PutObject", "models/registry/champion.json", "models/registry/challenger.json", "models/registry/history/*"
)
RETRAINING = {
    ("s3:ListBucket", "models"),
    *grants("s3:GetObject", "models/registry/runs/*", "models/registry/training.lock"),
    *grants("s3:PutObject", "models/registry/runs/*", "models/registry/training.lock"),
    ("s3:DeleteObject", "models/registry/training.lock"),
}
TRAINING = {
    ("s3:ListBucket", "data"),
    *grants("s3:GetObject", "data/training/*", "data/feedback/*", "data/holdout/*"),
    ("s3:ListBucket", "models"),
    *grants(
        "s3:GetObject",
        "models/models/*",
        "models/registry/champion.json",
        "models/registry/runs/*",
        "models/registry/training.lock",
    ),
    *grants(
        "s3:PutObject",
        "models/models/*/model.joblib",
        "models/models/*/manifest.json",
        "models/registry/champion.json",
        "models/registry/history/*",
        "models/registry/runs/*",
    ),
    ("s3:DeleteObject", "models/registry/training.lock"),  # the run lock, released when the run ends
}
TRAINING_CHALLENGER = {
    *grants("s3:GetObject", "models/registry/challenger.json"),
    *grants("s3:PutObject", "models/registry/challenger.json"),
}
TRAINING_MANUAL_APPROVAL = grants("s3:PutObject", "models/registry/pending/*")
SAGEMAKER_OUTPUT = grants("s3:PutObject", "models/sagemaker-output/*")
TRAINING_ENDED = {
    ("s3:ListBucket", "models"),
    *grants("s3:GetObject", "models/registry/runs/*", "models/registry/training.lock"),
    ("s3:PutObject", "models/registry/runs/*"),
    ("s3:DeleteObject", "models/registry/training.lock"),
}
STALENESS = {
    ("s3:ListBucket", "models"),
    *grants("s3:GetObject", "models/registry/champion.json", "models/models/*/manifest.json"),
}


def training_role(target: str) -> str:
    return "Training/JobFunctionRole" if target == "localstack" else "Training/JobRole"


@pytest.fixture(scope="module")
def challenger_and_approval(tmp_path_factory) -> Template:
    """The local target of mlops.toml with the champion/challenger rule on and manual approval."""
    folder: Path = tmp_path_factory.mktemp("challenger-and-approval")
    text = (ROOT / "mlops.toml").read_text()
    config = folder / "mlops.toml"
    config.write_text(text.replace("[promotion]\n", '[promotion]\nchallenger = "shadow"\napproval = "manual"\n', 1))
    template, _ = synth("localstack", folder / "cdk", config_file=config)
    return template


def test_given_the_scoring_role_then_it_reads_incoming_writes_its_outputs_and_only_reads_models(template):
    assert s3_grants(template, "Scoring/FunctionRole") == SCORING


def test_given_the_retraining_role_then_it_touches_only_the_run_lock_and_run_records(template):
    assert s3_grants(template, "Training/RetrainingFunctionRole") == RETRAINING


def test_given_the_training_job_then_it_writes_new_versions_the_champion_history_and_runs_and_deletes_only_the_lock(
    synthesized,
):
    target, template, _ = synthesized
    expected = TRAINING | (SAGEMAKER_OUTPUT if target == "aws" else set())
    assert s3_grants(template, training_role(target)) == expected


def test_given_the_training_ended_function_then_it_rewrites_run_records_and_deletes_only_the_lock(template):
    assert s3_grants(template, "Training/TrainingEndedFunctionRole") == TRAINING_ENDED


def test_given_the_staleness_function_then_it_reads_the_champion_pointer_and_manifests(template):
    assert s3_grants(template, "Staleness/FunctionRole") == STALENESS


def test_given_challenger_mode_and_manual_approval_then_scoring_and_training_may_write_those_keys_too(
    challenger_and_approval,
):
    template = challenger_and_approval
    assert s3_grants(template, "Scoring/FunctionRole") == SCORING | SCORING_CHALLENGER_RULE
    assert s3_grants(template, "Training/JobFunctionRole") == TRAINING | TRAINING_CHALLENGER | TRAINING_MANUAL_APPROVAL


def test_given_every_role_then_its_s3_actions_are_named_one_by_one_and_none_deletes_a_version_or_a_model(
    synthesized,
):
    _, template, _ = synthesized
    for role in resources(template, "AWS::IAM::Role"):
        found = s3_grants_of(template, role)
        assert not [action for action, _ in found if "*" in action], role
        assert not [grant for grant in found if grant[0] == "s3:DeleteObjectVersion"], role
        deletes = {name for action, name in found if action == "s3:DeleteObject" and name.startswith("models")}
        assert deletes <= {"models/registry/training.lock"}, role


def models_bucket_denials(template: Template) -> list[dict]:
    models = logical_id(template, "AWS::S3::Bucket", "Storage/Models")
    (policy,) = [
        p for p in resources(template, "AWS::S3::BucketPolicy").values() if p["Properties"]["Bucket"] == {"Ref": models}
    ]
    return [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]


def test_given_the_models_bucket_then_no_one_writes_under_models_without_if_none_match(synthesized):
    _, template, _ = synthesized
    models = logical_id(template, "AWS::S3::Bucket", "Storage/Models")
    (write_once,) = [s for s in models_bucket_denials(template) if s["Action"] == "s3:PutObject"]
    assert write_once["Principal"] == {"AWS": "*"}
    assert write_once["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [models, "Arn"]}, "/models/*"]]}
    assert write_once["Condition"] == {"Null": {"s3:if-none-match": "true"}}


def test_given_the_models_bucket_then_every_role_of_the_stack_is_denied_purging_versions_and_deleting_models(
    synthesized,
):
    _, template, _ = synthesized
    models = logical_id(template, "AWS::S3::Bucket", "Storage/Models")
    every_role = sorted(resources(template, "AWS::IAM::Role"))
    denied = {json.dumps(_listed(s["Action"])): s for s in models_bucket_denials(template) if "Condition" in s}
    keep_versions = denied[
        json.dumps(
            [
                "s3:DeleteBucketPolicy",
                "s3:DeleteObjectVersion",
                "s3:PutBucketPolicy",
                "s3:PutBucketVersioning",
                "s3:PutLifecycleConfiguration",
            ]
        )
    ]
    assert keep_versions["Resource"] == [
        {"Fn::GetAtt": [models, "Arn"]},
        {"Fn::Join": ["", [{"Fn::GetAtt": [models, "Arn"]}, "/*"]]},
    ]
    keep_models = denied[json.dumps(["s3:DeleteObject"])]
    assert keep_models["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [models, "Arn"]}, "/models/*"]]}
    for statement in (keep_versions, keep_models):
        assert statement["Principal"] == {"AWS": "*"}
        (principals,) = statement["Condition"]["ArnEquals"].values()
        assert sorted(p["Fn::GetAtt"][0] for p in principals) == every_role
        assert list(statement["Condition"]["ArnEquals"]) == ["aws:PrincipalArn"]
