"""Load on local AWS: a burst of 200 CSVs of mixed sizes (a few rows to 1M rows) dropped at once, for
several reserved-concurrency settings of the scoring function. Reports files/min and rows/s until
every file is scored (checked with the accounting audit: nothing lost, nothing dead-lettered).

Needs a deployed stack with a champion (`mlops demo`).

    .venv/bin/python bench/bench_load.py [--files 200 --concurrency none,1,2,4]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlopsctl import batches, stack  # noqa: E402
from mlopsctl.datagen import generate, mixed_batch_sizes  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def run_burst(pipeline: stack.Pipeline, files: dict[str, bytes], rows: int) -> dict:
    since = datetime.now(UTC) - timedelta(seconds=2)
    started = time.monotonic()
    batches.drop_files(pipeline, files)
    uploaded = time.monotonic() - started
    result = batches.wait_until_settled(pipeline, since, timeout_s=3600)
    seconds = time.monotonic() - started
    counts = result.counts()
    return {
        "files": len(files),
        "rows": rows,
        "upload_s": round(uploaded, 1),
        "seconds": round(seconds, 1),
        "files_per_min": round(len(files) / seconds * 60),
        "rows_per_s": round(rows / seconds),
        "scored": counts["scored"],
        "dead_lettered": counts["dead_lettered"],
        "lost": counts["lost"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--concurrency", default="none,1,2,4", help="reserved concurrency settings to try")
    args = parser.parse_args()
    pipeline = stack.Pipeline.connect(ROOT, "localstack")
    lambda_client, function = pipeline.client("lambda"), pipeline.outputs["ScoringFunction"]
    sizes = mixed_batch_sizes(args.files)
    bodies = [generate(rows, seed=2000 + i, with_label=False) for i, rows in enumerate(sizes)]
    runs = []
    try:
        for setting in args.concurrency.split(","):
            if setting == "none":
                lambda_client.delete_function_concurrency(FunctionName=function)
            else:
                lambda_client.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=int(setting))
            stamp = int(time.time())
            files = {f"incoming/bench-load/{stamp}-{setting}/batch-{i:03d}.csv": b for i, b in enumerate(bodies)}
            run = {"reserved_concurrency": setting, **run_burst(pipeline, files, sum(sizes))}
            print(json.dumps(run))
            runs.append(run)
    finally:
        lambda_client.delete_function_concurrency(FunctionName=function)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "load.json").write_text(
        json.dumps({"sizes": {"largest": max(sizes), "smallest": min(sizes)}, "runs": runs}, indent=2)
    )


if __name__ == "__main__":
    main()
