"""End-to-end on local AWS: latency from putting a 10k-row CSV under incoming/ to its predictions; a
warm invocation of the scoring function; and the alarm-to-new-champion time of the last retraining
an alarm started (from the run records).

Needs a deployed stack with a champion (`mlops demo`, or `mlops deploy && mlops seed && mlops train`).
Files are put one after another; each latency runs from the PUT to the scoring receipt.

    .venv/bin/python bench/bench_e2e.py [--files 10 --rows 10000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlopsctl import batches, stack  # noqa: E402
from mlopsctl.datagen import generate  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def warm_invocations(pipeline: stack.Pipeline, upload: dict, size: int, n: int = 20) -> list[float]:
    """Round trips of invoking the warm scoring function with an already-scored file's event (the
    idempotency path: champion pointer, object head and receipt read, no scoring)."""
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": pipeline.data_bucket},
            "object": {"key": upload["key"], "size": size, "eTag": upload["etag"]},
        },
    }
    event = {
        "Records": [
            {
                "messageId": "bench",
                "receiptHandle": "bench",
                "body": json.dumps({"Records": [record]}),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench",
                "awsRegion": "us-east-1",
            }
        ]
    }
    client, function = pipeline.client("lambda"), pipeline.outputs["ScoringFunction"]
    timings = []
    for _ in range(n):
        started = time.monotonic()
        response = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
        timings.append(time.monotonic() - started)
        assert json.loads(response["Payload"].read()) == {"batchItemFailures": []}
    return timings


def alarm_to_champion(pipeline: stack.Pipeline) -> float | None:
    """Seconds from the alarm to the promotion, for the newest alarm-started run that promoted a model."""
    for run in pipeline.ledger().recent(limit=50):
        if run.get("trigger", {}).get("source") == "alarm" and run.get("promoted"):
            alarm = datetime.strptime(run["trigger"]["at"], "%Y-%m-%dT%H:%M:%S.%f%z")
            return round((datetime.fromisoformat(run["finished_at"]) - alarm).total_seconds(), 1)
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    pipeline = stack.Pipeline.connect(ROOT, "localstack")
    latencies = []
    stamp = int(time.time())
    for i in range(args.files):
        body = generate(args.rows, seed=1000 + i, with_label=False)
        started = time.monotonic()
        upload = batches.upload_for_scoring(pipeline, body, f"bench/{stamp}-{i}.csv")
        receipt = batches.wait_for_outcome(pipeline, upload["key"], upload["etag"], timeout_s=300, interval_s=0.05)
        latencies.append(time.monotonic() - started)
        assert receipt["outcome"] == "scored", receipt
    warm = warm_invocations(pipeline, upload, len(body))
    ordered = sorted(latencies)
    result = {
        "files": args.files,
        "rows_per_file": args.rows,
        "latency_s": {
            "median": round(statistics.median(ordered), 3),
            "p95": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 3),
            "min": round(ordered[0], 3),
            "max": round(ordered[-1], 3),
        },
        "warm_invoke_s": {"median": round(statistics.median(warm), 3), "max": round(max(warm), 3)},
        "alarm_to_champion_s": alarm_to_champion(pipeline),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "e2e.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
