"""Training time of a model search: the examples/custom-pipeline project (your own pipeline, three candidates,
5-fold cross-validation) trained on the churn data as a training run does it (moto S3 in-process: read,
search, refit, holdout, profile, publish), against the default project's single model on the same file in
the same run. Prints and writes bench/results/search.json: per candidate its points, fits, seconds and
mean ± spread of the metric; the run's read / fit / total seconds and its fits.

    .venv/bin/python bench/bench_search.py [--rows 8000] [--openmp-threads N]

HistGradientBoosting fits with OpenMP threads, one per core by default; when other processes load the cores,
its threads wait on each other (a 0.2 s fit measured 2-5 s on 2 busy cores), so a shared machine should
measure with --openmp-threads 1 (each fit on one core) and say so: the results record the setting and the
load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]
RESULTS = ROOT / "bench" / "results"

from mlops_core.config import load_config  # noqa: E402
from mlopsctl.datagen import generate  # noqa: E402
from training.train import train_and_register  # noqa: E402

EXAMPLE = ROOT / "examples" / "custom-pipeline" / "mlops.toml"
DATA, MODELS = "bench-data", "bench-models"


def train(config_file: Path, body: bytes) -> dict[str, Any]:
    """One training run of the project in `config_file` on `body` (a fresh moto account); its result and seconds."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=DATA)
        s3.create_bucket(Bucket=MODELS)
        s3.put_object(Bucket=DATA, Key="training/base.csv", Body=body)
        started = time.monotonic()
        result = train_and_register(s3, data_bucket=DATA, models_bucket=MODELS, config=load_config(config_file))
    return {**result, "wall_s": round(time.monotonic() - started, 2)}


def _reviews_training() -> bytes:
    """The reviews example's training.csv, as its make_data.py writes it."""
    import importlib.util
    import tempfile

    spec = importlib.util.spec_from_file_location("reviews_make_data", ROOT / "examples" / "reviews" / "make_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with tempfile.TemporaryDirectory() as tmp:
        return module.write(Path(tmp))[0].read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8000, help="labeled churn rows (the demo trains on 8,000)")
    parser.add_argument("--openmp-threads", type=int, default=None, help="OpenMP threads per fit (default: cores)")
    parser.add_argument(
        "--example",
        choices=("custom-pipeline", "reviews"),
        default="custom-pipeline",
        help="reviews: the text example's search on its own training.csv (4,000 reviews), beside the single model",
    )
    args = parser.parse_args()
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    example, body = EXAMPLE, generate(args.rows, seed=7)
    if args.example == "reviews":
        example, body = ROOT / "examples" / "reviews" / "mlops.toml", _reviews_training()
    with threadpool_limits(limits=args.openmp_threads, user_api="openmp"):
        single = train(ROOT / "mlops.toml", generate(args.rows, seed=7))
        searched = train(example, body)
    search = searched["search"]
    result = {
        "example": args.example,
        "rows": body.count(b"\n") - 1,  # the labeled rows of the file (the header is not one)
        "openmp_threads": args.openmp_threads or os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "search": {
            "fits": search["cv_fits"] + 1,  # the cross-validation fits, and the refit of the best
            "cv_seconds": search["seconds"],
            "refit_seconds": search["refit_seconds"],
            "timings": searched["timings"],
            "metric": search["metric"],
            "cv_folds": search["cv_folds"],
            "training_rows": search["rows"],
            "chosen": search["chosen"],
            "holdout": searched["metrics"],
            "leaderboard": [
                {k: e[k] for k in ("rank", "name", "mean", "std", "best", "points", "fits", "seconds")}
                for e in search["leaderboard"]
            ],
        },
        "single": {"estimator": load_config(ROOT / "mlops.toml").model.estimator, "timings": single["timings"]},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "search.json" if args.example == "custom-pipeline" else f"search-{args.example}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
