"""The deployed stack on local AWS, driven through the `mlops` CLI as an operator would.

One deploy per session (the `deployed` fixture); `mlops demo` then runs the whole loop once, and
the other tests build on the state it leaves (a champion, an earlier version, scored batches).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from mlops_core.config import load_config
from mlopsctl import batches, stack, standing
from mlopsctl.datagen import generate
from mlopsctl.deploy import deploy

from .conftest import ROOT, mlops

STACK_NAME = load_config().stack_name


def test_given_the_deployed_stack_when_deployed_again_with_a_change_then_the_update_succeeds(deployed, boto_session):
    cfn = boto_session.client("cloudformation")
    assert cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    outputs = deploy(ROOT, target="localstack", label="e2e-2", log=lambda _msg: None)
    stack = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert outputs["BuildLabel"] == "e2e-2"


def test_given_a_fresh_stack_when_the_demo_runs_then_the_whole_loop_closes(demo):
    assert demo.returncode == 0, demo.stdout + demo.stderr
    for step in (
        "first model",
        "clean batch scored",
        "drifted labeled batch scored",
        "alarm mlops-",
        "retraining run-",
        "new model",
        "drifted distribution scored again",
        "drift alarms back to OK",
        "drift report written",
    ):
        assert step in demo.stdout, step
    assert (ROOT / ".local-aws" / "e2e-report" / "index.html").exists()


def test_given_the_demo_when_status_is_asked_then_champion_versions_alarms_queues_and_runs_show(demo):
    result = mlops("status", "--json")
    assert result.returncode == 0, result.stderr
    state = json.loads(result.stdout)
    assert state["champion"]["version"] == state["versions"][-1]["version"]
    assert len(state["versions"]) >= 2
    assert all(value == "OK" for name, value in state["alarms"].items() if "PSI" in name or "Share" in name)
    assert {r["status"] for r in state["runs"]} >= {"succeeded"}
    assert any(d["kind"] == "promote" for d in state["decisions"])
    text = mlops("status")
    assert text.returncode == 0 and "champion: v" in text.stdout and "dead-letter queue: 0" in text.stdout


def test_given_a_good_file_when_scored_through_the_cli_then_predictions_and_metrics_appear(
    demo, tmp_path, boto_session, deployed
):
    path = tmp_path / "customers.csv"
    path.write_bytes(generate(1_000, seed=21, with_label=False))
    result = mlops("score", str(path))
    assert result.returncode == 0, result.stderr
    assert "scored 1,000 of 1,000 rows" in result.stdout and "predictions/customers/" in result.stdout
    metrics = boto_session.client("cloudwatch").list_metrics(Namespace="MLOps", MetricName="FilesScored")["Metrics"]
    assert metrics


def test_given_a_bad_file_when_scored_then_one_line_error_with_a_fix_and_a_report_in_rejected(
    demo, tmp_path, boto_session, deployed
):
    path = tmp_path / "broken.csv"
    path.write_text("customer_id,tenure_months\nC1,3\n")
    result = mlops("score", str(path))
    assert result.returncode == 1
    assert "rejected (missing_columns)" in result.stderr and "hint:" in result.stderr
    assert "Traceback" not in result.stderr
    listed = boto_session.client("s3").list_objects_v2(Bucket=deployed["DataBucket"], Prefix="rejected/broken/")
    assert {Path(o["Key"]).name for o in listed["Contents"]} == {"broken.csv", "report.json"}


def test_given_an_earlier_version_when_rolled_back_then_it_is_champion_and_recorded(demo):
    versions = json.loads(mlops("status", "--json").stdout)["versions"]
    earlier, latest = versions[-2]["version"], versions[-1]["version"]
    result = mlops("rollback", earlier)
    assert result.returncode == 0, result.stderr
    state = json.loads(mlops("status", "--json").stdout)
    assert state["champion"]["version"] == earlier
    assert state["decisions"][0]["kind"] == "rollback" and state["decisions"][0]["version"] == earlier
    assert mlops("rollback", latest).returncode == 0  # and back, for the tests after this one


def test_given_an_unknown_version_when_rolled_back_then_a_clear_error(demo):
    result = mlops("rollback", "v00000000T000000Z-nope")
    assert result.returncode == 1
    assert result.stderr.startswith("error: unknown model version") and "hint: known versions" in result.stderr
    assert "Traceback" not in result.stderr


def test_given_a_missing_file_or_a_missing_stack_then_clear_errors(demo):
    missing = mlops("score", "no/such/file.csv")
    assert missing.returncode == 1 and "no such file" in missing.stderr and "Traceback" not in missing.stderr
    no_stack = mlops("status", "--target", "aws")
    assert no_stack.returncode == 1 and "not deployed to aws" in no_stack.stderr and "hint:" in no_stack.stderr


def test_given_messages_in_the_dead_letter_queue_when_redriven_then_their_files_are_scored(
    demo, boto_session, deployed
):
    s3, sqs = boto_session.client("s3"), boto_session.client("sqs")
    bucket = deployed["DataBucket"]
    key = "incoming/redriven.csv"
    # The file arrives while notifications are off (as if its message had been dead-lettered).
    body = generate(200, seed=31, with_label=False)
    config = s3.get_bucket_notification_configuration(Bucket=bucket)
    config.pop("ResponseMetadata")
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    try:
        etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
    finally:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)
    event = {
        "Records": [
            {
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": key, "size": len(body), "eTag": etag}},
            }
        ]
    }
    sqs.send_message(QueueUrl=deployed["DeadLetterQueueUrl"], MessageBody=json.dumps(event))
    result = mlops("redrive")
    assert result.returncode == 0 and "moved 1 message" in result.stdout
    pipeline = stack.Pipeline.connect(ROOT, "localstack")
    receipt = batches.wait_for_outcome(pipeline, key, etag, timeout_s=120)
    assert receipt["outcome"] == "scored" and receipt["scored"] == 200
    assert standing.queue_depths(pipeline)["dlq"] == 0


def _re_paired(body: bytes, first: str, second: str) -> bytes:
    """The batch with `second` re-paired to rise with `first`: each column keeps exactly its values (same
    marginals, same per-feature PSI), only their joint distribution changes."""
    header, *rows = list(csv.reader(io.StringIO(body.decode())))
    i, j = header.index(first), header.index(second)
    order = sorted(range(len(rows)), key=lambda r: float(rows[r][i]))
    values = sorted((row[j] for row in rows), key=float)
    for rank, r in enumerate(order):
        rows[r][j] = values[rank]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    return out.getvalue().encode()


def test_given_a_joint_change_with_unchanged_marginals_when_scored_then_the_multivariate_alarm_fires_naming_both(
    demo, tmp_path, deployed
):
    # The champion's reference is the demo's drifted distribution (covariate shift 1.0): draw from the same.
    body = generate(3_000, seed=41, with_label=False, covariate_shift=1.0)
    path = tmp_path / "re-paired.csv"
    path.write_bytes(_re_paired(body, "monthly_charges", "data_usage_gb"))
    result = mlops("score", str(path))
    assert result.returncode == 0, result.stderr
    assert "joint distribution changed" in result.stdout, result.stdout
    named = result.stdout.split("joint distribution changed", 1)[1]
    assert "monthly_charges" in named and "data_usage_gb" in named, result.stdout
    pipeline = stack.Pipeline.connect(ROOT, "localstack")
    alarm = deployed["MultivariateDriftScoreAlarm"]
    stack.wait_for(f"alarm {alarm}", lambda: standing.alarm_states(pipeline).get(alarm) == "ALARM", timeout_s=120)
