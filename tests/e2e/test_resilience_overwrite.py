"""A file written again under the same key while the deployed stack cannot score yet (no champion): both
contents end scored, or accounted for. Nothing may be lost.

Scoring retries a file while there is no champion, so its event is handled long after the upload; the key
is overwritten in between. With a versioned data bucket each event names its object version and both are
scored; without versioning the first content is gone, and its event ends in a "superseded" receipt with
an alert, counted by `mlops audit`. Runs after test_resilience.py (the `demo` fixture leaves a champion);
the champion pointer is put back, whatever happens.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from mlops_core.storage import layout
from mlopsctl import batches, stack, standing
from mlopsctl.datagen import generate

from .conftest import mlops, subscribe_probe

pytestmark = pytest.mark.resilience
KEY = "incoming/overwrite/overwritten-while-no-champion.csv"


@pytest.fixture
def no_champion(pipeline: stack.Pipeline) -> Iterator[Callable[[], None]]:
    """The champion pointer set aside (scoring retries every file meanwhile); yields the function that puts
    it back, which also runs when the test ends."""
    s3, bucket = pipeline.s3, pipeline.models_bucket
    body = s3.get_object(Bucket=bucket, Key=layout.CHAMPION_KEY)["Body"].read()
    s3.delete_object(Bucket=bucket, Key=layout.CHAMPION_KEY)

    def restore() -> None:
        s3.put_object(Bucket=bucket, Key=layout.CHAMPION_KEY, Body=body, ContentType="application/json")

    try:
        yield restore
    finally:
        restore()


def wait_until_dead_lettered(pipeline: stack.Pipeline, count: int) -> None:
    stack.wait_for(
        f"{count} message(s) in the dead-letter queue",
        lambda: standing.queue_depths(pipeline)["dlq"] >= count,
        timeout_s=180,
        interval_s=2,
    )


def test_given_a_file_overwritten_while_there_is_no_champion_then_both_contents_are_scored_or_accounted_for(
    pipeline, fast_redelivery, no_champion
):
    s3, bucket = pipeline.s3, pipeline.data_bucket
    versioned = s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
    probe = subscribe_probe(pipeline, "overwrite-alerts-probe")
    assert standing.queue_depths(pipeline)["dlq"] == 0  # `mlops redrive` below moves every message there
    since = datetime.now(UTC) - timedelta(seconds=2)

    first = batches.upload_for_scoring(
        pipeline, generate(300, seed=71, with_label=False), KEY.removeprefix("incoming/")
    )
    wait_until_dead_lettered(pipeline, 1)  # tried while there was no champion, and given up on
    second = batches.upload_for_scoring(
        pipeline, generate(500, seed=72, with_label=False), KEY.removeprefix("incoming/")
    )
    wait_until_dead_lettered(pipeline, 2)
    no_champion()
    redriven = mlops("redrive")
    assert redriven.returncode == 0, redriven.stderr

    receipts = [batches.wait_for_outcome(pipeline, KEY, u["etag"], timeout_s=180) for u in (first, second)]

    assert (receipts[1]["outcome"], receipts[1]["scored"]) == ("scored", 500)
    if versioned:
        assert (receipts[0]["outcome"], receipts[0]["scored"]) == ("scored", 300)
        assert receipts[0]["object_version"] != receipts[1]["object_version"]
    else:
        assert (receipts[0]["outcome"], receipts[0]["current_etag"]) == ("superseded", second["etag"])
        alerts = pipeline.client("sqs").receive_message(QueueUrl=probe, WaitTimeSeconds=10).get("Messages", [])
        assert any(first["etag"] in m["Body"] and "overwritten" in m["Body"] for m in alerts), alerts
    for upload, receipt in zip((first, second), receipts, strict=True):
        if receipt["outcome"] == "scored":  # each content under its own ETag, with its own rows
            predictions = receipt["outputs"]["predictions"]
            assert upload["etag"] in predictions
            body = s3.get_object(Bucket=bucket, Key=predictions)["Body"].read().decode()
            assert len(body.splitlines()) == receipt["scored"] + 1
    result = batches.audit(pipeline, since)
    states = {f.etag: f.state for f in result.files if f.key == KEY}
    assert states == {first["etag"]: receipts[0]["outcome"], second["etag"]: "scored"}, json.dumps(result.to_dict())
    assert result.balanced and standing.queue_depths(pipeline)["dlq"] == 0
