"""Scoring throughput, memory and start-up, in-process (no AWS): a benchmark, not a test.

Compares the scoring logic (validation + prediction + drift + write, streaming) with
(a) the raw baseline: the same CSV parser + predict_proba + write, no validation or drift, and
(b) a naive peer: pandas.read_csv of the whole file, predict, to_csv.
Each measurement runs in a fresh subprocess so that peak RSS is its own.

    .venv/bin/python bench/bench_scoring.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]
RESULTS = ROOT / "bench" / "results"
CACHE = RESULTS / "cache"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _model_path() -> Path:
    """A model trained like the real one (the default config) on 20k generated rows."""
    import joblib
    import numpy as np

    from mlops_core.config import load_config
    from mlops_core.csvdata import convert_rows
    from mlops_core.drift import build_profile
    from mlops_core.estimate import fit_calibration
    from mlops_core.features import build_pipeline, model_input, schema_dict
    from mlops_core.multivariate import reference_sample
    from mlops_core.tasks import fit_targets
    from mlopsctl.datagen import generate

    path = CACHE / "model-v2.joblib"  # v2: the profile carries the calibration and the reference sample
    if path.exists():
        return path
    config = load_config()
    rows = list(csv.reader(io.StringIO(generate(20_000, seed=1).decode())))
    chunk = convert_rows(
        rows[0],
        rows[1:],
        first_row=1,
        features=config.features,
        label=config.label,
        max_field_chars=1000,
        task=config.task,
    )
    x, fit, holdout = model_input(chunk.columns, config.features), slice(0, 16_000), slice(16_000, None)
    model = build_pipeline(config).fit(x[fit], fit_targets(chunk.label[fit], config.task))
    holdout_scores = model.predict_proba(x[holdout])[:, 1]
    profile = build_profile(chunk.columns, config.features, holdout_scores, config.drift.bins)
    profile["calibration"] = fit_calibration(holdout_scores, chunk.label[holdout] == config.task.positive)
    profile["reference_sample"] = reference_sample(
        chunk.columns, config.features, rows=config.drift.reference_sample_rows, seed=1
    )
    joblib.dump((model, {"schema": schema_dict(config, config.task), "profile": profile}), path)
    del np
    return path


def _data_path(rows: int) -> Path:
    from mlopsctl.datagen import write_file

    path = CACHE / f"batch-{rows}.csv"
    if not path.exists():
        write_file(path, rows, seed=3, covariate_shift=0.3, with_label=False)  # batches to score carry no label
    return path


# ---------------------------------------------------------------------------- the three contenders
def run_ours(data: Path, model_path: Path, out: Path) -> dict:
    """The scoring logic's streaming core, as the Lambda runs it, minus S3."""
    import joblib
    from scoring.score import score_rows

    from mlops_core.config import load_config
    from mlops_core.csvreader import CsvRows
    from mlops_core.drift import DriftAccumulator

    config = load_config()
    model, manifest = joblib.load(model_path)
    started = time.perf_counter()
    with open(data, "rb") as body:
        rows = CsvRows(
            body,
            key=str(data),
            gzipped=False,
            max_bytes=config.scoring.max_file_bytes,
            max_field_chars=config.scoring.max_field_chars,
        )
        header = rows.next_row() or []
        drift = DriftAccumulator(manifest["profile"], sample_rows=config.drift.reference_sample_rows)
        tally = score_rows(
            rows,
            header,
            model=model,
            version="bench",
            schema=manifest["schema"],
            drift=drift,
            out_path=str(out),
            feedback_path=str(out) + ".feedback",
            scoring=config.scoring,
        )
        drift.summary(config.drift)
    return {"seconds": time.perf_counter() - started, "rows": tally.scored}


def run_baseline(data: Path, model_path: Path, out: Path) -> dict:
    """The same parser + predict_proba + write; no validation, no drift."""
    import joblib
    import numpy as np

    from mlops_core.config import load_config
    from mlops_core.features import model_input

    config = load_config()
    model, _ = joblib.load(model_path)
    started = time.perf_counter()
    n = 0
    with open(data, newline="") as f, open(out, "w", newline="") as o:
        reader = csv.reader(f)
        header = next(reader)
        position = {h: i for i, h in enumerate(header)}
        writer = csv.writer(o, lineterminator="\n")
        writer.writerow(["customer_id", "prediction", "score"])
        while batch := list(itertools.islice(reader, config.scoring.chunk_rows)):
            cols = list(zip(*batch, strict=True))
            columns = {
                f.name: (
                    np.asarray(cols[position[f.name]], dtype=np.str_).astype(float)
                    if f.is_numeric
                    else np.asarray(cols[position[f.name]], dtype=object)
                )
                for f in config.features
            }
            scores = model.predict_proba(model_input(columns, config.features))[:, 1]
            writer.writerows(
                zip(cols[0], (scores >= 0.5).astype(int).tolist(), np.char.mod("%.6f", scores).tolist(), strict=True)
            )
            n += len(batch)
    return {"seconds": time.perf_counter() - started, "rows": n}


def run_pandas(data: Path, model_path: Path, out: Path) -> dict:
    """The naive peer: read the whole file with pandas, predict, write."""
    import joblib
    import pandas as pd

    from mlops_core.config import load_config

    config = load_config()
    model, _ = joblib.load(model_path)
    started = time.perf_counter()
    frame = pd.read_csv(data)
    scores = model.predict_proba(frame[config.feature_names].to_numpy(dtype=object))[:, 1]
    frame["prediction"] = (scores >= 0.5).astype(int)
    frame["score"] = scores
    frame[["customer_id", "prediction", "score"]].to_csv(out, index=False, float_format="%.6f")
    return {"seconds": time.perf_counter() - started, "rows": len(frame)}


def run_cold_start(model_path: Path) -> dict:
    """Imports of the scoring handler + loading (and checksumming) the model, in a fresh interpreter."""
    import hashlib

    started = time.perf_counter()
    import joblib
    import scoring.handler  # noqa: F401 - the import is what is measured

    imported = time.perf_counter()
    blob = model_path.read_bytes()
    hashlib.sha256(blob).hexdigest()
    joblib.load(io.BytesIO(blob))
    return {
        "imports_s": imported - started,
        "model_load_s": time.perf_counter() - imported,
        "seconds": time.perf_counter() - started,
    }


CONTENDERS = {"ours": run_ours, "baseline": run_baseline, "pandas": run_pandas}


def _child(kind: str, rows: int) -> dict:
    """Run one measurement in a fresh interpreter; return its result with peak RSS."""
    cmd = [sys.executable, __file__, "--child", kind, "--rows", str(rows)]
    env = {
        **os.environ,
        "DATA_BUCKET": "bench",
        "MODELS_BUCKET": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "bench",
    }
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--child")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    if args.child:
        model = _model_path()
        if args.child == "cold_start":
            result = run_cold_start(model)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                result = CONTENDERS[args.child](_data_path(args.rows), model, Path(tmp) / "out.csv")
        print(json.dumps({**result, "peak_rss_mb": round(_peak_rss_mb(), 1)}))
        return

    _model_path()
    small = max(args.rows // 10, 1000)
    _data_path(args.rows), _data_path(small)
    runs = {}
    for kind in CONTENDERS:
        best = min((_child(kind, args.rows) for _ in range(args.repeat)), key=lambda r: r["seconds"])
        runs[kind] = {**best, "rows_per_s": round(best["rows"] / best["seconds"])}
    memory_small = _child("ours", small)["peak_rss_mb"]
    cold = [_child("cold_start", args.rows) for _ in range(3)]
    cold_best = min(cold, key=lambda r: r["seconds"])
    results = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform},
        "rows": args.rows,
        "throughput": runs,
        "ratio_vs_baseline": round(runs["ours"]["rows_per_s"] / runs["baseline"]["rows_per_s"], 3),
        "ratio_vs_pandas": round(runs["ours"]["rows_per_s"] / runs["pandas"]["rows_per_s"], 3),
        "memory_mb": {"ours_small": memory_small, "ours_large": runs["ours"]["peak_rss_mb"], "small_rows": small},
        "cold_start_s": {k: round(v, 3) for k, v in cold_best.items() if k != "peak_rss_mb"},
    }
    results["memory_ratio"] = round(results["memory_mb"]["ours_large"] / memory_small, 3)
    (RESULTS / "scoring.json").write_text(json.dumps(results, indent=2))
    print(markdown(results))


def markdown(r: dict) -> str:
    t = r["throughput"]
    lines = [
        f"| scoring ({r['rows']:,} rows) | seconds | rows/s | peak RSS MB |",
        "|---|---|---|---|",
        *(f"| {k} | {v['seconds']:.2f} | {v['rows_per_s']:,} | {v['peak_rss_mb']} |" for k, v in t.items()),
        "",
        f"- ours / raw baseline: **{r['ratio_vs_baseline']}x** (goal >= 0.9x); ours / pandas: "
        f"**{r['ratio_vs_pandas']}x** (goal >= 1.0x)",
        f"- peak memory: {r['memory_mb']['ours_small']} MB at {r['memory_mb']['small_rows']:,} rows, "
        f"{r['memory_mb']['ours_large']} MB at {r['rows']:,} rows (ratio {r['memory_ratio']}, goal <= 1.2, < 300 MB)",
        f"- cold start: imports {r['cold_start_s']['imports_s']} s + model load {r['cold_start_s']['model_load_s']} s"
        f" = {r['cold_start_s']['seconds']} s (goal < 1.5 s)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
