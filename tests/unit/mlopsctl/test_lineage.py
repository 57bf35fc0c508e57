"""`mlops lineage` (mlopsctl/lineage.py, lineage_text.py) against moto S3: two versions trained by the training
job and batches scored by the scoring function's logic, an old manifest, a registered version, and `--file`."""

from __future__ import annotations

import json

import boto3
import pytest
from scoring.logic import Clients, ScoringContext, score_job
from scoring.messages import Job
from typer.testing import CliRunner

from mlops_core.environment import ScoringEnvironment
from mlops_core.registry.runs import RunLedger, utcnow
from mlops_core.registry.store import Registry
from mlopsctl import cli
from mlopsctl import lineage as chains
from mlopsctl.commands import common
from mlopsctl.datagen import generate
from mlopsctl.lineage_text import file_lines, model_lines
from mlopsctl.stack import OpsError, Pipeline
from tests.unit.conftest import DATA, MODELS, REGION, run_training_job
from tests.unit.mlopsctl.test_leaderboard import SEARCH

ARN = "arn:aws:sts::123456789012:user/alice"


@pytest.fixture(autouse=True)
def _no_metrics(monkeypatch):
    monkeypatch.setattr("training.job.put_metrics", lambda *args, **kwargs: None)


@pytest.fixture
def pipeline(aws, monkeypatch) -> Pipeline:
    """The stack as the CLI reads it, on moto; `mlops` commands connect to it."""
    deployed = Pipeline({"DataBucket": DATA, "ModelsBucket": MODELS}, boto3.Session(region_name=REGION), None)
    monkeypatch.setattr(common, "connect", lambda target: deployed)
    return deployed


def train(aws, config, run_id: str, trigger: dict) -> str:
    """One run of the training job (the code both backends run); the version it registered."""
    result = run_training_job(aws, config, run_id=run_id, trigger=trigger)
    return result["version"]


def score(aws, config, key: str, body: bytes) -> dict:
    """The file put under incoming/ and scored by the scoring function's logic; its outcome's detail."""
    sqs = boto3.client("sqs", region_name=REGION)
    clients = Clients(aws, boto3.client("cloudwatch", region_name=REGION), sqs)
    context = ScoringContext(
        ScoringEnvironment(DATA, MODELS, sqs.create_queue(QueueName="q")["QueueUrl"], "MLOps"), config
    )
    put = aws.put_object(Bucket=DATA, Key=key, Body=body)
    job = Job(key, put["ETag"].strip('"'), len(body), object_version=put.get("VersionId"))
    return {"status": (outcome := score_job(job, clients=clients, context=context)).status, **outcome.detail}


@pytest.fixture
def two_versions(aws, config, pipeline) -> tuple[str, str]:
    """v1 trained by hand scores a clean and a drifted batch; an alarm then trains v2, which replaces v1 and
    scores one more batch, like the first clean one. v2's drift reference is its newest file, the drifted batch's
    feedback, so that batch reads as drifted. (The feedback is written last: S3 times are in whole seconds, and
    a file put after it in the same second would be as new, making the verdict depend on the clock.)"""
    aws.put_object(Bucket=DATA, Key="training/base.csv", Body=generate(1500, seed=1))
    aws.put_object(Bucket=DATA, Key="holdout/reference.csv", Body=generate(400, seed=9))
    first = train(aws, config, "run-1", {"source": "manual", "reason": "first model"})
    aws.put_object(Bucket=DATA, Key="training/more.csv", Body=generate(1500, seed=2))
    score(aws, config, "incoming/clean.csv", generate(300, seed=3))
    score(aws, config, "incoming/drifted.csv", generate(600, seed=4, covariate_shift=2.0))
    alarm = {
        "source": "alarm",
        "alarm": "mlops-DriftedFeatureShare",
        "reason": "Threshold Crossed",
        "at": utcnow().isoformat(),
    }
    second = train(aws, config, "run-2", alarm)
    assert Registry(aws, MODELS).champion().version == second
    score(aws, config, "incoming/after.csv", generate(300, seed=5))
    return first, second


def test_given_two_versions_when_the_first_is_traced_then_its_chain_ends_replaced_by_the_second(two_versions):
    first, second = two_versions

    result = CliRunner().invoke(cli.app, ["lineage", first])

    assert result.exit_code == 0, result.output
    print(result.stdout)  # the report quotes it
    lines = result.stdout.splitlines()
    assert lines[0] == f"lineage of {first}" and lines[1] == "data:"
    assert lines[2].startswith("  training: training/base.csv (version ") and ": 1,500 rows used, 0 skipped" in lines[2]
    assert any(line.startswith("  holdout: holdout/reference.csv (version ") for line in lines)
    assert "  run-1: manual: first model" in lines and any(" on direct, started " in line for line in lines)
    assert any(line.startswith("  config SHA-256 ") and "not recorded" not in line for line in lines)
    assert any(line.startswith("  ") and " promote: " in line for line in lines)
    assert "batches scored: 2 (drift 1, no drift 1)" in lines
    assert lines[-1].startswith(f"replaced by: {second} (promote at ")


def test_given_an_alarm_triggered_version_then_json_names_the_drifted_batch_before_it_and_champion_now(two_versions):
    _, second = two_versions

    result = CliRunner().invoke(cli.app, ["lineage", second, "--json"])

    assert result.exit_code == 0, result.output
    chain = json.loads(result.stdout)
    assert chain["run"]["trigger"] == "alarm mlops-DriftedFeatureShare: Threshold Crossed"
    assert chain["run"]["drift_batch"]["key"] == "incoming/drifted.csv"
    assert {f["source"] for f in chain["data"]["files"]} == {"training", "feedback", "holdout"}
    assert all(f["version_id"] != chains.NOT_RECORDED for f in chain["data"]["files"])
    assert [d["kind"] for d in chain["decisions"]] == ["promote"]
    assert chain["batches"] == {"read": 3, "bound_hit": False, "count": 1, "verdicts": {"drift": 1}}
    assert chain["replaced_by"] == {"state": "champion now"}


def test_given_more_receipts_than_the_bound_then_it_says_the_bound_was_hit(two_versions, pipeline):
    first, _ = two_versions
    chain = chains.lineage(pipeline, first, max_batches=2)
    assert chain["batches"]["bound_hit"] and chain["batches"]["read"] == 2
    assert (
        "only the 2 newest receipts read (--max-batches)"
        in CliRunner().invoke(cli.app, ["lineage", first, "--max-batches", "2"]).stdout
    )


def test_given_a_scored_and_a_rejected_file_when_traced_then_each_says_its_model_outputs_and_verdict(
    two_versions, aws, config
):
    first, _ = two_versions
    rejected = score(aws, config, "incoming/broken.csv", b"a,b\n1,2\n")
    assert rejected["status"] == "rejected"

    scored = CliRunner().invoke(cli.app, ["lineage", "--file", "incoming/clean.csv"])
    broken = CliRunner().invoke(cli.app, ["lineage", "--file", "incoming/broken.csv", "--json"])

    assert scored.exit_code == 0 and broken.exit_code == 0, scored.output + broken.output
    lines = scored.stdout.splitlines()
    assert lines[0] == "lineage of incoming/clean.csv" and f": scored by {first}: 300 of 300 rows" in lines[1]
    assert " (object version " in lines[1]
    assert any(line.startswith("    predictions: predictions/clean/") for line in lines)
    assert any(line.startswith("    drift_report: reports/drift/clean/") for line in lines)
    assert lines[-1].startswith("    no drift")
    (scoring,) = json.loads(broken.stdout)["scorings"]
    assert scoring["outcome"] == "rejected" and scoring["model_version"] is None
    assert scoring["outputs"]["report"].startswith("rejected/broken/")


def test_given_a_file_written_twice_then_each_object_version_is_listed_oldest_first(
    two_versions, aws, config, pipeline
):
    score(aws, config, "incoming/clean.csv", generate(250, seed=6))
    found = chains.file_lineage(pipeline, "clean.csv")  # the incoming/ prefix is implied
    assert [s["rows"] for s in found["scorings"]] == [300, 250]
    assert all(s["object_version"] for s in found["scorings"])


def test_given_an_old_manifest_without_versions_config_or_code_then_it_still_reads_saying_not_recorded(
    aws, trained, pipeline
):
    artifact, manifest = trained
    old = {k: v for k, v in manifest.items() if k not in ("config", "code", "search")}
    old["data"] = [{"key": "training/base.csv", "rows": 2400, "skipped_rows": 0}]  # no version id, SHA-256, source
    old["run_id"] = "run-old"
    RunLedger(aws, MODELS).record("run-old", status="succeeded", trigger={"source": "manual"}, backend="lambda")
    version = Registry(aws, MODELS).publish(artifact, old)

    result = CliRunner().invoke(cli.app, ["lineage", version])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert (
        "  training: training/base.csv (version not recorded, SHA-256 not recorded): 2,400 rows used, 0 skipped"
        in lines
    )
    assert "  config SHA-256 not recorded, code SHA-256 not recorded" in lines
    assert "time not recorded" in result.stdout and "decisions:\n  none recorded" in result.stdout
    assert lines[-1] == "replaced by: none, never champion"


def test_given_a_registered_version_then_it_says_who_registered_it_and_its_reference_file(aws, trained, pipeline):
    artifact, manifest = trained
    reference = {"file": "holdout.csv", "sha256": "ab" * 32, "rows": 1000, "labeled": True}
    origin = {"kind": "registered", "file": "churn.joblib", "registered_by": {"arn": ARN}, "reference": reference}
    entry = {"key": "holdout.csv", "sha256": "ab" * 32, "rows": 1000, "skipped_rows": 0}
    registered = {**manifest, "run_id": None, "data": [entry], "origin": origin, "search": None}
    registry = Registry(aws, MODELS)
    version = registry.publish(artifact, registered)
    registry.record_decision({"kind": "register", "version": version, "by": {"arn": ARN}, "reasons": ["registered"]})
    registry.rollback(version, reason="serve the notebook's model")

    result = CliRunner().invoke(cli.app, ["lineage", version])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert f"  registered model churn.joblib (by {ARN}), not trained here" in lines
    assert "  reference file holdout.csv: 1,000 rows" in lines
    assert any(line.startswith(f"  registered by {ARN} at ") for line in lines)
    assert "  reference: holdout.csv (version not recorded, SHA-256 abababababab): 1,000 rows used, 0 skipped" in lines
    kinds = [d["kind"] for d in chains.lineage(pipeline, version)["decisions"]]
    assert kinds == ["register", "rollback"] and lines[-1] == "replaced by: none, champion now"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["v20990101T000000Z-000000"], "error: no model version v20990101T000000Z-000000"),
        (["--file", "incoming/never.csv"], "error: no receipt for incoming/never.csv"),
        ([], "error: give a VERSION or --file KEY"),
    ],
)
def test_given_an_unknown_version_or_file_then_one_line_error_and_a_hint_exit_1(
    pipeline, args, message, monkeypatch, capsys
):
    monkeypatch.setattr("sys.argv", ["mlops", "lineage", *args])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err.splitlines()[0].startswith(message) and "hint: " in err.splitlines()[1]


def test_unknown_version_raises_an_ops_error_with_a_hint(pipeline):
    with pytest.raises(OpsError, match="no model version v-nope") as raised:
        chains.lineage(pipeline, "v-nope")
    assert "mlops status" in raised.value.hint


def test_given_the_champion_moved_without_a_decision_then_what_replaced_it_is_unknown():
    changes = [{"kind": "promote", "version": "v1", "at": "2026-12-01T00:00:00"}]
    assert chains.replaced_by("v1", changes, "v9") == {"state": "unknown", "champion": "v9"}
    assert chains.replaced_by("v2", changes, "v1") == {"state": "never champion"}


def test_given_a_rolled_back_version_then_what_replaced_it_is_the_one_after_its_last_time_as_champion():
    changes = [
        {"kind": "promote", "version": "v1", "at": "1"},
        {"kind": "rollback", "version": "v1", "at": "3"},
        {"kind": "approve", "version": "v3", "at": "4"},
    ]
    assert chains.replaced_by("v1", changes, "v3") == {"state": "replaced", "by": "v3", "kind": "approve", "at": "4"}


def test_given_a_searched_version_then_the_model_shows_the_leaderboard_of_its_run():
    manifest = {"estimator": "LogisticRegression", "metrics": {"roc_auc": 0.81}, "search": SEARCH, "code": {}}
    lines = model_lines(chains.model_link(manifest), "run-7", "v7")
    assert lines[0] == "  LogisticRegression: roc_auc=0.8100"
    assert lines[1] == "  config SHA-256 not recorded, code SHA-256 not recorded"
    assert lines[2].startswith("  model search of run run-7 (v7): grid, 5-fold") and lines[3].endswith("<- chosen")


def test_given_a_file_split_into_byte_ranges_and_one_superseded_then_each_receipt_says_what_became_of_it():
    key = "incoming/big.csv"
    receipts = [
        {"key": key, "etag": "e1", "claimed_at": "1", "outcome": "fanned_out", "parts": 2, "model_version": "v1"},
        {"key": key, "etag": "e1", "claimed_at": "2", "outcome": "scored", "part": 1, "parts": 2, "rows": 5}
        | {
            "scored": 5,
            "model_version": "v1",
            "outputs": {"predictions": "predictions/big/e1-v1.part-0002-of-0002.csv"},
        },
        {"key": key, "etag": "e2", "claimed_at": "3", "outcome": "superseded", "current_etag": "e3"},
        {"key": "incoming/big.csv.gz", "etag": "e9", "claimed_at": "4", "outcome": "scored"},  # another key, same name
    ]
    lines = file_lines({"key": key, "scorings": chains.file_link(key, receipts)})
    assert lines[1] == "  ETag e1 at 1: fanned_out (split into 2 byte ranges, each with a receipt of its own)"
    assert lines[2] == "  ETag e1 part 2 of 2 at 2: scored by v1: 5 of 5 rows"
    assert lines[3] == "    predictions: predictions/big/e1-v1.part-0002-of-0002.csv"
    assert lines[4] == "  ETag e2 at 3: superseded (overwritten before it was read; the key's ETag is now e3)"
    assert len(lines) == 5


def test_given_a_trigger_time_without_a_zone_then_it_is_read_as_utc():
    receipts = [
        {"key": "incoming/a.csv", "etag": "e", "claimed_at": "2026-12-06T21:00:00+00:00", "drift": {"verdict": True}}
    ]
    assert chains.drift_cause(receipts, chains.parse_time("2026-12-06T22:00:00"))["key"] == "incoming/a.csv"
    assert chains.drift_cause(receipts, chains.parse_time("2026-12-06T20:00:00.000+0000")) is None
