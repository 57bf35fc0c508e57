"""Template assertions on both targets (localstack and aws): the security and wiring guarantees."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from aws_cdk.assertions import Match, Template

from infra.app import ROOT

from .conftest import logical_id, policy_documents_of_role, resources, synth


def statements_touching(docs: list[dict], bucket_id: str) -> list[dict]:
    return [s for d in docs for s in d["Statement"] if bucket_id in json.dumps(s["Resource"])]


def test_given_the_app_when_synthesized_then_every_bucket_is_encrypted_private_and_ssl_only(template):
    buckets = resources(template, "AWS::S3::Bucket")
    assert len(buckets) == 3  # data, models, access logs
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
    policies = resources(template, "AWS::S3::BucketPolicy")
    ssl_denials = [
        s
        for p in policies.values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(ssl_denials) == 3


def test_given_the_models_bucket_then_it_is_versioned_and_data_prefixes_expire(template):
    models = logical_id(template, "AWS::S3::Bucket", "Storage/Models")
    assert resources(template, "AWS::S3::Bucket")[models]["Properties"]["VersioningConfiguration"] == {
        "Status": "Enabled"
    }
    data = resources(template, "AWS::S3::Bucket")[logical_id(template, "AWS::S3::Bucket", "Storage/Data")]
    rules = {r.get("Prefix"): r for r in data["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert {"predictions/", "rejected/", "incoming/", "reports/"} <= set(rules)
    assert data["Properties"]["LoggingConfiguration"]["LogFilePrefix"] == "data/"


def test_given_the_data_bucket_then_versioned_replaced_versions_expire_after_30_days_but_training_inputs_stay(
    template,
):
    data = resources(template, "AWS::S3::Bucket")[logical_id(template, "AWS::S3::Bucket", "Storage/Data")]
    assert data["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = data["Properties"]["LifecycleConfiguration"]["Rules"]
    noncurrent = {r["Prefix"]: r for r in rules if "NoncurrentVersionExpiration" in r}
    assert set(noncurrent) == {"incoming/", "predictions/", "rejected/", "reports/", "shadow/"}  # online/: [online]
    for rule in noncurrent.values():
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30} and rule["ExpiredObjectDeleteMarker"]
        assert rule["Status"] == "Enabled"
    # What a model was trained from stays, every version: no rule expires anything under these.
    unscoped = [r for r in rules if "Prefix" not in r]
    assert not [r for r in unscoped if "NoncurrentVersionExpiration" in r or "ExpirationInDays" in r]
    inputs = ("training/", "feedback/", "holdout/")
    assert not [r["Id"] for r in rules if "Prefix" in r for p in inputs if p.startswith(r["Prefix"])]


def test_given_the_data_bucket_then_incoming_csv_and_csv_gz_in_either_case_notify_the_scoring_queue(template):
    data = resources(template, "AWS::S3::Bucket")[logical_id(template, "AWS::S3::Bucket", "Storage/Data")]
    queue_id = logical_id(template, "AWS::SQS::Queue", "Scoring/Incoming")
    configs = data["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    filters = sorted(tuple(sorted((r["Name"], r["Value"]) for r in c["Filter"]["S3Key"]["Rules"])) for c in configs)
    # S3's suffix filters are case-sensitive: .CSV (Windows, older exports) needs its own.
    assert filters == [
        (("prefix", "incoming/"), ("suffix", suffix)) for suffix in sorted((".csv", ".CSV", ".csv.gz", ".CSV.GZ"))
    ]
    for c in configs:
        assert c["Event"] == "s3:ObjectCreated:*"
        assert c["Queue"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    # The queue policy that lets S3 send must exist before the bucket's notification is validated.
    policy_id = logical_id(template, "AWS::SQS::QueuePolicy", "Storage/IncomingQueuePolicy")
    assert policy_id in data["DependsOn"]


def test_given_the_queues_then_encrypted_with_dlq_and_visibility_at_least_6x_function_timeout(template, config):
    queues = resources(template, "AWS::SQS::Queue")
    dlq = queues[logical_id(template, "AWS::SQS::Queue", "Scoring/DeadLetters")]["Properties"]
    incoming = queues[logical_id(template, "AWS::SQS::Queue", "Scoring/Incoming")]["Properties"]
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert all(q["Properties"]["SqsManagedSseEnabled"] for q in queues.values())
    assert incoming["RedrivePolicy"]["maxReceiveCount"] == config.max_receive_count
    scoring = resources(template, "AWS::Lambda::Function")[
        logical_id(template, "AWS::Lambda::Function", "Scoring/Function")
    ]
    assert incoming["VisibilityTimeout"] >= 6 * scoring["Properties"]["Timeout"]
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping", {"FunctionResponseTypes": ["ReportBatchItemFailures"]}
    )


def test_given_the_functions_then_python312_on_the_shared_layer_with_retained_logs(template):
    functions = resources(template, "AWS::Lambda::Function")
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12"
        assert len(props["Layers"]) == 1
        assert "LoggingConfig" in props
    assert all(g["Properties"]["RetentionInDays"] == 30 for g in resources(template, "AWS::Logs::LogGroup").values())


def test_given_the_alarms_then_thresholds_come_from_config_and_actions_retrain_and_notify(synthesized, config):
    target, template, _ = synthesized
    retraining = logical_id(template, "AWS::Lambda::Function", "Training/RetrainingFunction")
    topic = logical_id(template, "AWS::SNS::Topic", "Alerts/Topic")
    # The drift alarms are the parts of the one drift verdict (mlops_core/monitoring/verdict.py): the share of drifted
    # features, and the prediction and multivariate drift scores (PSI or AUC over its threshold, > 1 is drift).
    expected = {
        "DriftedFeatureShare": (config.drift.drifted_share_threshold, "GreaterThanOrEqualToThreshold"),
        "PredictionDriftScore": (1.0, "GreaterThanThreshold"),
        "MultivariateDriftScore": (1.0, "GreaterThanThreshold"),
        "ModelAccuracy": (config.drift.accuracy_floor, "LessThanThreshold"),
    }
    all_alarms = resources(template, "AWS::CloudWatch::Alarm").values()
    alarms = {a["Properties"]["MetricName"]: a["Properties"] for a in all_alarms if "MetricName" in a["Properties"]}
    for metric, (threshold, comparison) in expected.items():
        alarm = alarms[metric]
        assert alarm["Threshold"] == threshold
        assert alarm["ComparisonOperator"] == comparison
        assert alarm["Period"] == (10 if target == "localstack" else 60)
        assert alarm["Dimensions"] == [{"Name": "Pipeline", "Value": config.name}]
        actions = json.dumps(alarm["AlarmActions"])
        assert retraining in actions and topic in actions
        assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == config.drift.alarm_datapoints
    assert "ApproximateNumberOfMessagesVisible" in alarms  # the DLQ alarm, for people
    estimate = alarms["EstimatedAccuracy"]  # the label-free estimate asks people for labels; it does not retrain
    assert estimate["Threshold"] == config.drift.estimated_accuracy_floor
    assert retraining not in json.dumps(estimate["AlarmActions"]) and topic in json.dumps(estimate["AlarmActions"])
    quality = alarms["QualityDriftedFeatures"]  # a blanked column is fixed upstream: people are told, nothing retrains
    assert (quality["Threshold"], quality["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert retraining not in json.dumps(quality["AlarmActions"]) and topic in json.dumps(quality["AlarmActions"])


def test_given_the_aws_target_then_the_alerts_topic_is_encrypted_with_a_key_cloudwatch_may_use(synthesized):
    target, template, _ = synthesized
    if target == "localstack":  # LocalStack on the host cannot create KMS keys (infra/targets.py)
        template.resource_count_is("AWS::KMS::Key", 0)
        return
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_given_no_challenger_then_the_scoring_role_cannot_write_models_or_move_the_champion(template):
    role = logical_id(template, "AWS::IAM::Role", "Scoring/FunctionRole")
    models = logical_id(template, "AWS::S3::Bucket", "Storage/Models")
    statements = statements_touching(policy_documents_of_role(template, role), models)
    assert statements, "scoring must read models"
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        assert not any(a.startswith(("s3:Put", "s3:Delete", "s3:Abort")) for a in actions), s


def scoring_paths_on_models(template: Template, *, writes: bool) -> set[str]:
    """The object paths on the models bucket that the scoring role may read (or, `writes`, put)."""
    role = logical_id(template, "AWS::IAM::Role", "Scoring/FunctionRole")
    models = logical_id(template, "AWS::S3::Bucket", "Storage/Models")
    statements = statements_touching(policy_documents_of_role(template, role), models)
    if writes:
        statements = [s for s in statements if any(a.startswith("s3:Put") for a in _actions(s))]
    return {
        part
        for s in statements
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
        if models in json.dumps(r) and "Fn::Join" in r
        for part in r["Fn::Join"][1]
        if isinstance(part, str) and part.startswith("/")
    }


def _actions(statement: dict) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def test_given_the_scoring_role_then_on_the_models_bucket_it_reads_only_artifacts_and_the_pointers(template):
    paths = scoring_paths_on_models(template, writes=False)
    assert paths == {"/models/*", "/registry/champion.json", "/registry/challenger.json"}  # not runs or the lock


def test_given_challenger_mode_then_scoring_may_move_the_pointers_and_record_decisions_but_never_write_a_model(
    tmp_path,
):
    config = tmp_path / "mlops.toml"
    text = (ROOT / "mlops.toml").read_text()
    config.write_text(text.replace("[promotion]\n", '[promotion]\nchallenger = "shadow"\n', 1))

    template, _ = synth("localstack", tmp_path / "cdk", config_file=config)

    written = scoring_paths_on_models(template, writes=True)
    assert written == {"/registry/champion.json", "/registry/challenger.json", "/registry/history/*"}


def test_given_the_functions_then_their_environments_hold_no_secrets(synthesized):
    _, template, _ = synthesized
    secretish = ("SECRET", "PASSWORD", "TOKEN", "ACCESS_KEY", "PRIVATE")
    for function_id, function in resources(template, "AWS::Lambda::Function").items():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        for name, value in variables.items():
            assert not any(word in name.upper() for word in secretish), (function_id, name)
            text = json.dumps(value)
            assert "AKIA" not in text and "-----BEGIN" not in text, (function_id, name)


def test_given_the_retraining_role_then_it_cannot_touch_the_data_bucket(template):
    role = logical_id(template, "AWS::IAM::Role", "Training/RetrainingFunctionRole")
    data = logical_id(template, "AWS::S3::Bucket", "Storage/Data")
    docs = policy_documents_of_role(template, role)
    assert docs
    assert statements_touching(docs, data) == []


def test_given_the_training_job_then_it_reads_only_labeled_prefixes_of_the_data_bucket(synthesized):
    target, template, _ = synthesized
    role_path = "Training/JobFunctionRole" if target == "localstack" else "Training/JobRole"
    role = logical_id(template, "AWS::IAM::Role", role_path)
    data = logical_id(template, "AWS::S3::Bucket", "Storage/Data")
    statements = statements_touching(policy_documents_of_role(template, role), data)
    resources_ = json.dumps([s["Resource"] for s in statements])
    assert "/training/*" in resources_ and "/feedback/*" in resources_
    assert "/incoming/" not in resources_


def test_given_a_target_then_the_training_backend_matches_it(synthesized):
    target, template, _ = synthesized
    functions = {v["Properties"]["Handler"] for v in resources(template, "AWS::Lambda::Function").values()}
    retraining = resources(template, "AWS::Lambda::Function")[
        logical_id(template, "AWS::Lambda::Function", "Training/RetrainingFunction")
    ]["Properties"]["Environment"]["Variables"]
    if target == "localstack":
        assert "training_job.handler.lambda_handler" in functions
        assert retraining["TRAINING_BACKEND"] == "lambda"
    else:
        assert "training_job.handler.lambda_handler" not in functions
        assert retraining["TRAINING_BACKEND"] == "sagemaker"
        assert "TRAINING_IMAGE_URI" in retraining and "SAGEMAKER_ROLE_ARN" in retraining
        template.has_resource_properties(
            "AWS::IAM::Role",
            {
                "AssumeRolePolicyDocument": Match.object_like(
                    {"Statement": [Match.object_like({"Principal": {"Service": "sagemaker.amazonaws.com"}})]}
                )
            },
        )


def environment_of(template: Template, path: str) -> dict:
    """The environment variables of the one function whose construct path contains `path`."""
    function = resources(template, "AWS::Lambda::Function")[logical_id(template, "AWS::Lambda::Function", path)]
    return function["Properties"]["Environment"]["Variables"]


def test_given_a_target_then_each_function_that_releases_the_lock_knows_whether_s3_deletes_conditionally(
    synthesized,
):
    target, template, _ = synthesized
    releasing = [
        "Training/RetrainingFunction",
        "Training/TrainingEndedFunction",
        *(["Training/JobFunction"] if target == "localstack" else []),
    ]
    # LocalStack 4.13.1 answers NotImplemented to DeleteObject with IfMatch (infra/targets.py).
    expected = "true" if target == "aws" else "false"
    assert {path: environment_of(template, path)["S3_CONDITIONAL_DELETES"] for path in releasing} == dict.fromkeys(
        releasing, expected
    )


def test_given_the_stack_then_outputs_name_everything_the_cli_needs(synthesized):
    target, template, _ = synthesized
    outputs = set(template.find_outputs("*"))
    wanted = {
        "DataBucket",
        "ModelsBucket",
        "ScoringQueueUrl",
        "DeadLetterQueueUrl",
        "ScoringFunction",
        "RetrainingFunction",
        "TrainingEndedFunction",
        "AlertsTopic",
        "DriftedFeatureShareAlarm",
        "PredictionDriftScoreAlarm",
        "MultivariateDriftScoreAlarm",
        "EstimatedAccuracyAlarm",
        "ModelAccuracyAlarm",
        "DeadLettersAlarm",
        "TrainingFailuresAlarm",
        "Dashboard",
        "MetricsNamespace",
    }
    assert wanted <= outputs
    assert ("TrainingFunction" in outputs) == (target == "localstack")
    assert ("TrainingImageUri" in outputs) == (target == "aws")


def test_given_the_stack_then_cdk_nag_reports_no_unacknowledged_finding_and_every_ack_has_a_reason(synthesized):
    _, _, assembly = synthesized
    report = json.loads((assembly / "validation-report.json").read_text())
    (nag,) = [r for r in report["pluginReports"] if r["pluginName"] == "AwsSolutions"]
    assert nag["conclusion"] == "success"
    assert nag["violations"] == []
    assert all(len(s["reason"]) > 20 for s in nag["suppressedViolations"])


def test_given_the_template_then_cfn_lint_finds_no_error_or_warning(synthesized):
    _, _, assembly = synthesized
    template = next(Path(assembly).glob("*.template.json"))
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), "--format", "parseable", str(template)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
