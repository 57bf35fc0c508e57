"""End-to-end on local AWS: the demo's loop timed (a drifted file's PUT -> its drift alarm -> the new champion),
the latency from putting a 10k-row CSV under incoming/ to its predictions, and warm invocations of the scoring
function that really score a file.

Runs `mlops demo` itself, so it needs a stack without a champion (`mlops down` first: local AWS state is
disposable). The file-to-alarm time runs from the drifted file's PUT (right after the clean batch's step) to
the poll that saw the alarm in ALARM (polled every second); alarm-to-champion from that poll to the promotion.
Latency files are put one after another; each runs from the PUT to the scoring receipt. For the warm
invocations the queue's event source mapping is disabled, each file is put and the function invoked with
its event directly (the round trip is a real scoring of the file), and the mapping enabled again: the
queued events then find their receipts and do nothing.

    .venv/bin/python bench/bench_e2e.py [--files 10 --rows 10000 --warm 10]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlopsctl import batches, stack  # noqa: E402
from mlopsctl.datagen import generate  # noqa: E402
from mlopsctl.demo import run_demo  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def _event(pipeline: stack.Pipeline, upload: dict, size: int) -> dict:
    """The SQS event the queue would deliver for the S3 notification of `upload`."""
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": pipeline.data_bucket},
            "object": {"key": upload["key"], "size": size, "eTag": upload["etag"]},
        },
    }
    message = {
        "messageId": upload["etag"],
        "receiptHandle": "bench",
        "body": json.dumps({"Records": [record]}),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench",
        "awsRegion": "us-east-1",
    }
    return {"Records": [message]}


@contextlib.contextmanager
def queue_paused(pipeline: stack.Pipeline) -> Iterator[None]:
    """The scoring function's queue mapping disabled for the duration, then enabled again."""
    client, function = pipeline.client("lambda"), pipeline.outputs["ScoringFunction"]
    (mapping,) = client.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    stack.wait_for(
        "the queue's mapping to be disabled",
        lambda: client.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Disabled",
        timeout_s=60,
    )
    try:
        yield
    finally:
        client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)


def warm_scoring(pipeline: stack.Pipeline, *, files: int, rows: int) -> list[float]:
    """Round trips of the warm scoring function invoked directly on new files, each really scored."""
    client, function = pipeline.client("lambda"), pipeline.outputs["ScoringFunction"]
    stamp, timings = int(time.time()), []
    with queue_paused(pipeline):
        for i in range(-1, files):  # the first invocation may start a new instance: not counted
            body = generate(rows, seed=2000 + i, with_label=False)
            upload = batches.upload_for_scoring(pipeline, body, f"bench/warm-{stamp}-{i}.csv")
            started = time.monotonic()
            response = client.invoke(FunctionName=function, Payload=json.dumps(_event(pipeline, upload, len(body))))
            elapsed = time.monotonic() - started
            assert json.loads(response["Payload"].read()) == {"batchItemFailures": []}
            receipt = batches.wait_for_outcome(pipeline, upload["key"], upload["etag"], timeout_s=5)
            assert receipt["outcome"] == "scored", receipt  # scored by this invocation, not found done
            if i >= 0:
                timings.append(elapsed)
    return timings


def demo_times(timeline: list[tuple[float, str]]) -> dict:
    """From the demo's timeline: the drifted file's PUT -> its alarm seen, and that -> the new champion."""

    def step(prefix: str) -> float:
        return next(seconds for seconds, text in timeline if text.startswith(prefix))

    put = step("clean batch scored")  # the drifted file is put right after this step
    alarm, promoted = step("alarm "), step("new model ")
    return {"file_to_alarm_s": round(alarm - put, 1), "alarm_to_champion_s": round(promoted - alarm, 1)}


def latencies(pipeline: stack.Pipeline, *, files: int, rows: int) -> list[float]:
    """PUT -> scoring receipt of `files` files of `rows` rows, one after another, through the queue."""
    out, stamp = [], int(time.time())
    for i in range(files):
        body = generate(rows, seed=1000 + i, with_label=False)
        started = time.monotonic()
        upload = batches.upload_for_scoring(pipeline, body, f"bench/{stamp}-{i}.csv")
        receipt = batches.wait_for_outcome(pipeline, upload["key"], upload["etag"], timeout_s=300, interval_s=0.05)
        out.append(time.monotonic() - started)
        assert receipt["outcome"] == "scored", receipt
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--warm", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        demo = run_demo(ROOT, echo=print, progress=lambda _what: lambda _s: None, report_dir=Path(tmp))
    pipeline = stack.Pipeline.connect(ROOT, "localstack")
    ordered = sorted(latencies(pipeline, files=args.files, rows=args.rows))
    warm = warm_scoring(pipeline, files=args.warm, rows=args.rows)
    result = {
        "files": args.files,
        "rows_per_file": args.rows,
        "latency_s": {
            "median": round(statistics.median(ordered), 3),
            "p95": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 3),
            "min": round(ordered[0], 3),
            "max": round(ordered[-1], 3),
        },
        "warm_scoring_s": {"median": round(statistics.median(warm), 3), "max": round(max(warm), 3), "files": len(warm)},
        **demo_times(demo["timeline"]),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "e2e.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
