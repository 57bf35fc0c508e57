"""End-to-end latency on local AWS: put a 10k-row CSV under incoming/ -> its predictions exist.

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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlopsctl import ops  # noqa: E402
from mlopsctl.datagen import generate  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    pipeline = ops.Pipeline.connect(ROOT, "localstack")
    latencies = []
    stamp = int(time.time())
    for i in range(args.files):
        body = generate(args.rows, seed=1000 + i, with_label=False)
        started = time.monotonic()
        upload = ops.upload_for_scoring(pipeline, body, f"bench/{stamp}-{i}.csv")
        receipt = ops.wait_for_outcome(pipeline, upload["key"], upload["etag"], timeout_s=300)
        latencies.append(time.monotonic() - started)
        assert receipt["outcome"] == "scored", receipt
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
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "e2e.json").write_text(json.dumps(result, indent=2))
    lat = result["latency_s"]
    print(f"| {args.rows:,}-row file -> predictions on local AWS | median {lat['median']} s | p95 {lat['p95']} s |"
          f" min {lat['min']} s | max {lat['max']} s |")  # fmt: skip


if __name__ == "__main__":
    main()
