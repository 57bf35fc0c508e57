"""Scoring throughput, memory and start-up, in-process (no AWS): a benchmark, not a test.

Compares the scoring logic (validation + prediction + drift + write, streaming; its blocks parsed by pandas'
C parser on the fast path, by the csv module where a block must be read row by row) with
(a) the raw baseline: the csv module (the precise path's parser, not the fast path's) + predict_proba + write,
    no validation or drift, and
(b) a naive peer: pandas.read_csv of the whole file, predict, to_csv: what a user would write.
Each measurement runs in a fresh subprocess so that peak RSS is its own. The cold start runs in a clean
interpreter (`python -S`) on the AWS bundle, with nothing imported before its clock.

Besides the binary default project ("churn"), the multiclass and regression examples (examples/iris,
examples/diabetes) can be measured against the same naive pandas peer: each example's configured
pipeline is trained on its training.csv the way training does, and scores a batch of rows resampled
(seeded) from the example's whole data set, written in the example's column layout.

churn-blanks is the default project with `missing = "impute"` on three features and a tenth of their cells
blank (seeded) in the training rows and the batch; besides ours and pandas on it, ours on churn's clean
batch (the same rows) is measured in the same run, with the default project and with the imputing model.

    .venv/bin/python bench/bench_scoring.py [--rows 1000000] [--repeat 2] [--examples churn,iris,diabetes]
        [--openmp-threads N]
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import dirty

if TYPE_CHECKING:
    from mlops_core.config import ProjectConfig
    from mlops_core.config.task import Task
    from mlops_core.data.convert import Chunk

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]
RESULTS = ROOT / "bench" / "results"
CACHE = RESULTS / "cache"
CLEAN = ("churn", "iris", "diabetes", "reviews")  # churn: the default project (mlops.toml)
# <example>-dirty: blanks, quoted ids and bad rows in the example's batch (bench/dirty.py)
EXAMPLES = (*CLEAN, "churn-blanks", *(f"{name}{dirty.SUFFIX}" for name in CLEAN))
# churn-blanks: the default project with missing = "impute" on these features, a tenth of their cells blank
# (seeded) in the training rows and in the batch, which otherwise holds the same rows as churn's batch.
BLANK_FEATURES = ("monthly_charges", "data_usage_gb", "payment_method")
BLANK_SHARE = 0.1


def _peak_rss_mb() -> float:
    """This process's peak RSS since its exec (VmHWM). Not getrusage's ru_maxrss: Linux carries that over
    exec from the forked parent's pages, so a child of a large parent reported the parent's size."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def _model_path() -> Path:
    """A model trained like the real one (the default config) on 20k generated rows."""
    import joblib
    import numpy as np
    from bench_estimate import read_csv  # the CSV converted as training converts it

    from mlops_core.config import load_config
    from mlops_core.config.task import fit_targets
    from mlops_core.modeling.pipeline import build_pipeline, model_input, schema_dict
    from mlops_core.monitoring.drift import build_profile
    from mlops_core.monitoring.multivariate import reference_sample
    from mlops_core.monitoring.performance_estimate import fit_calibration
    from mlopsctl.datagen import generate

    path = CACHE / "model-v2.joblib"  # v2: the profile carries the calibration and the reference sample
    if path.exists():
        return path
    config = load_config()
    chunk = read_csv(generate(20_000, seed=1).decode(), config)
    x, fit, holdout = model_input(chunk.columns, config.features), slice(0, 16_000), slice(16_000, None)
    model = build_pipeline(config).fit(x.iloc[fit], fit_targets(chunk.label[fit], config.task))
    holdout_scores = model.predict_proba(x.iloc[holdout])[:, 1]
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


def _config(example: str) -> ProjectConfig:
    """The example's project config: the default mlops.toml for churn, examples/<name>/mlops.toml otherwise;
    churn-blanks: the default one with `missing = "impute"` on BLANK_FEATURES."""
    import dataclasses

    from mlops_core.config import load_config

    if example.endswith(dirty.SUFFIX):
        return dirty.dirty_config(_config(dirty.base(example)), example)
    if example == "churn-blanks":
        config = load_config()
        features = [
            dataclasses.replace(f, missing="impute") if f.name in BLANK_FEATURES else f for f in config.features
        ]
        return dataclasses.replace(config, features=tuple(features))
    return load_config() if example == "churn" else load_config(ROOT / "examples" / example / "mlops.toml")


def _blanked(data: bytes, *, seed: int) -> bytes:
    """A generated churn CSV with each cell of BLANK_FEATURES blank with probability BLANK_SHARE (seeded)."""
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)  # every cell kept as written
    rng = np.random.default_rng(seed)
    for name in BLANK_FEATURES:
        frame.loc[rng.random(len(frame)) < BLANK_SHARE, name] = ""
    return frame.to_csv(index=False, lineterminator="\n").encode()


def _make_data(example: str) -> ModuleType:
    """The example's make_data.py, imported from its file."""
    spec = importlib.util.spec_from_file_location(f"{example}_make_data", ROOT / "examples" / example / "make_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _example_model_path(example: str) -> Path:
    """The example's configured pipeline trained on its training.csv, with the manifest training writes."""
    if example == "churn":
        return _model_path()
    import joblib
    from bench_estimate import read_csv

    from mlops_core.modeling.pipeline import schema_dict
    from mlopsctl.datagen import generate

    path = CACHE / f"model-{example}-v2.joblib"  # v2: the search's winner where the example searches
    if path.exists():
        return path
    config = _config(example)
    if example == "churn-blanks":  # 20k generated rows, as churn's model, with the batch's share of blanks
        chunk = read_csv(_blanked(generate(20_000, seed=1), seed=2).decode(), config)
    elif example.endswith(dirty.SUFFIX):  # the clean example's training rows, its imputed features blanked
        chunk = read_csv(
            dirty.blanked(_training_rows(dirty.base(example)), dirty.BLANKS[dirty.base(example)], seed=2).decode(),
            config,
        )
    else:
        chunk = read_csv(_training_rows(example).decode(), config)
    assert chunk.label is not None and not chunk.errors, chunk.errors[:3]
    task = config.task.with_classes(set(chunk.label.tolist()) if config.task.is_classification else ())
    model, profile = _fit_with_profile(chunk, config, task)
    joblib.dump((model, {"schema": schema_dict(config, task), "profile": profile}), path)
    return path


def _training_rows(example: str) -> bytes:
    """The rows the example's model is trained on: 20k generated ones for churn, else its training.csv."""
    if example == "churn":
        from mlopsctl.datagen import generate

        return generate(20_000, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        return _make_data(example).write(Path(tmp))[0].read_bytes()


def _fit_with_profile(chunk: Chunk, config: ProjectConfig, task: Task) -> tuple[Any, dict]:
    """Fit on a seeded share of the rows; the drift profile as training builds it (holdout predictions)."""
    import numpy as np

    from mlops_core.config.task import fit_targets
    from mlops_core.modeling.pipeline import model_input
    from mlops_core.modeling.predictions import Predictor
    from mlops_core.monitoring.drift import build_profile
    from mlops_core.monitoring.multivariate import reference_sample
    from training.search import FitPlan

    assert chunk.label is not None
    x = model_input(chunk.columns, config.features)
    order = np.random.default_rng(config.model.seed).permutation(len(chunk))
    n_holdout = max(1, int(len(order) * config.model.holdout_share))
    holdout, fit = np.sort(order[:n_holdout]), np.sort(order[n_holdout:])
    # What training would fit: the configured pipeline, or the winner of the model search (training/search.py).
    model = FitPlan.of(config).fit(config, x.iloc[fit], fit_targets(chunk.label[fit], task), task).model
    drift_values = Predictor(model, task).predict(x.iloc[holdout]).drift_values
    profile = build_profile(chunk.columns, config.features, drift_values, config.drift.bins, task=task)
    sample = reference_sample(
        chunk.columns, config.features, rows=config.drift.reference_sample_rows, seed=config.model.seed
    )
    if sample is not None:
        profile["reference_sample"] = sample
    return model, profile


def _example_data_path(example: str, rows: int) -> Path:
    """An unlabeled batch of `rows` rows resampled (seeded) from the example's whole data set, written by
    the example's make_data.py (id column first, its number format)."""
    if example == "churn":
        return _data_path(rows)
    import numpy as np
    from sklearn.datasets import load_diabetes, load_iris

    path = CACHE / f"batch-{example}-{rows}.csv"
    if example.endswith(dirty.SUFFIX) and not path.exists():
        dirty.write_dirty(_example_data_path(dirty.base(example), rows), path, _config(example), seed=5)
    if example == "churn-blanks" and not path.exists():  # churn's batch (same seed and shift), then blanked
        from mlopsctl.datagen import generate

        path.with_suffix(".partial").write_bytes(
            _blanked(generate(rows, seed=3, covariate_shift=0.3, with_label=False), seed=4)
        )
        path.with_suffix(".partial").rename(path)
    if example == "reviews" and not path.exists():  # generated reviews, unlabeled, like the example's batch
        partial = path.with_suffix(".partial")
        _make_data(example).write_csv(partial, rows, seed=3, labeled=False)
        partial.rename(path)
    if not path.exists():
        values = load_iris().data if example == "iris" else load_diabetes(scaled=False).data
        chosen = np.random.default_rng(3).choice(len(values), rows)
        partial = path.with_suffix(".partial")
        _make_data(example)._write(partial, [f"B{k:07d}" for k in range(rows)], values[chosen], None)
        partial.rename(path)
    return path


# ---------------------------------------------------------------------------- the three contenders
def run_ours(data: Path, model_path: Path, out: Path, example: str) -> dict:
    """The scoring logic's streaming core, as the Lambda runs it (the example's config and manifest), minus S3."""
    import joblib
    from scoring.score import score_rows

    from mlops_core.data.blocks import CsvBlocks
    from mlops_core.monitoring.drift import DriftAccumulator

    config = _config(example)
    model, manifest = joblib.load(model_path)
    started = time.perf_counter()
    with open(data, "rb") as body:
        rows = CsvBlocks(
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
        streamed = time.perf_counter()
        drift.summary(config.drift)
    ended = time.perf_counter()
    # The end-of-batch drift verdict (its multivariate check: ~40 small model fits) is a fixed cost per
    # batch; reported apart so that the per-row path can be compared too.
    times = {"seconds": ended - started, "stream_s": streamed - started, "verdict_s": ended - streamed}
    return {**times, "rows": tally.scored, "bad_rows": tally.bad, "error_kinds": dict(tally.error_kinds)}


def run_baseline(data: Path, model_path: Path, out: Path, example: str) -> dict:
    """The csv module (the precise path's parser) + predict_proba + write; no validation, no drift (churn only)."""
    import joblib
    import numpy as np

    from mlops_core.modeling.pipeline import model_input

    config = _config(example)
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


def run_pandas(data: Path, model_path: Path, out: Path, example: str) -> dict:
    """The naive peer: read the whole file with pandas, predict from the feature columns, write (binary).
    Numeric blanks reach the pipeline's imputer as NaN; a categorical blank is given the pipeline's missing
    category, which is what the fitted encoder knows (left NaN, the row would be scored as an unknown)."""
    import joblib
    import pandas as pd

    from mlops_core.config import MISSING_CATEGORY

    config = _config(example)
    model, _ = joblib.load(model_path)
    started = time.perf_counter()
    if example.endswith(dirty.SUFFIX):
        frame = dirty.naive_frame(data, config)
    else:
        frame = pd.read_csv(data, dtype={f.name: str for f in config.features if not f.is_numeric})
        for f in config.features:  # read_csv makes a blank NaN; the pipeline's missing category is the empty text
            if f.is_categorical and f.imputes:
                frame[f.name] = frame[f.name].fillna(MISSING_CATEGORY)
    scores = model.predict_proba(frame[config.feature_names])[:, 1]
    frame["prediction"] = model.classes_[(scores >= 0.5).astype(int)]
    frame["score"] = scores
    frame[[frame.columns[0], "prediction", "score"]].to_csv(out, index=False, float_format="%.6f")
    return {"seconds": time.perf_counter() - started, "rows": len(frame)}


def run_pandas_multiclass(data: Path, model_path: Path, out: Path, example: str) -> dict:
    """The naive peer, multiclass: read_csv, predict_proba; the class with the highest probability, that
    probability as the score and one probability column per class (as ours writes them); to_csv."""
    import joblib
    import pandas as pd

    config = _config(example)
    model, _ = joblib.load(model_path)
    started = time.perf_counter()
    frame = dirty.naive_frame(data, config) if example.endswith(dirty.SUFFIX) else pd.read_csv(data)
    proba = model.predict_proba(frame[config.feature_names])
    result = pd.DataFrame({frame.columns[0]: frame[frame.columns[0]]})
    result["prediction"] = model.classes_[proba.argmax(axis=1)]
    result["score"] = proba.max(axis=1)
    for j, name in enumerate(model.classes_):
        result[f"proba_{name}"] = proba[:, j]
    result.to_csv(out, index=False, float_format="%.6f")
    return {"seconds": time.perf_counter() - started, "rows": len(frame)}


def run_pandas_regression(data: Path, model_path: Path, out: Path, example: str) -> dict:
    """The naive peer, regression: read_csv, predict, to_csv. Categorical columns are read as text (the
    model's categories are text: read as numbers, "1" and "2" would be unknown categories)."""
    import joblib
    import pandas as pd

    config = _config(example)
    model, _ = joblib.load(model_path)
    started = time.perf_counter()
    if example.endswith(dirty.SUFFIX):
        frame = dirty.naive_frame(data, config)
    else:
        frame = pd.read_csv(data, dtype={f.name: str for f in config.features if not f.is_numeric})
    frame["prediction"] = model.predict(frame[config.feature_names])
    frame[[frame.columns[0], "prediction"]].to_csv(out, index=False, float_format="%.9g")
    return {"seconds": time.perf_counter() - started, "rows": len(frame)}


# Run by `python -S -P -c` with nothing imported before the clock: sys.path is Lambda's (the code asset, the
# layer as bundled for AWS, then the runtime's boto3), set from argv by the few stdlib lines before it.
COLD_START = """
import sys, time
code, layer, runtime, model = sys.argv[1:5]
sys.path[:0] = [code, layer, runtime]
started = time.perf_counter()
import scoring.handler
imported = time.perf_counter()
import hashlib, io, joblib
blob = open(model, "rb").read()
hashlib.sha256(blob).hexdigest()
joblib.load(io.BytesIO(blob))
loaded = time.perf_counter()
import json
print(json.dumps({"imports_s": imported - started, "model_load_s": loaded - imported, "seconds": loaded - started}))
"""
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "urllib3", "jmespath", "dateutil", "six")  # Lambda's own


def cold_starts(model_path: Path, runs: int) -> list[dict]:
    """`runs` cold starts of the scoring function, each in a clean interpreter on the AWS bundle (built here
    with pip, as `cdk deploy` builds it): the handler's imports, then the model's load and checksum (the
    scikit-learn modules its pickle names are imported by that load)."""
    import importlib.util

    from infra.app import synthesize

    with tempfile.TemporaryDirectory() as tmp:
        _, assembly = synthesize("aws", Path(tmp) / "cdk.out", bundle=True)
        (layer,) = [p / "python" for p in assembly.glob("asset.*") if (p / "python" / "sklearn").is_dir()]
        (code,) = [p for p in assembly.glob("asset.*") if (p / "scoring" / "handler.py").is_file()]
        runtime = Path(tmp) / "runtime"
        runtime.mkdir()
        for name in RUNTIME_PACKAGES:
            spec = importlib.util.find_spec(name)
            assert spec is not None and spec.origin is not None, name
            source = Path(spec.origin)  # a package's __init__.py, or a module's file (six)
            (runtime / (name if source.name == "__init__.py" else source.name)).symlink_to(
                source.parent if source.name == "__init__.py" else source
            )
        command = [sys.executable, "-S", "-P", "-c", COLD_START, str(code), str(layer), str(runtime), str(model_path)]
        # No bytecode written: Lambda's file system is read-only; the bundle carries what was compiled.
        env = {**_FUNCTION_ENV, "PYTHONDONTWRITEBYTECODE": "1", "PATH": os.environ.get("PATH", "")}
        runs_out = [subprocess.run(command, check=True, capture_output=True, text=True, env=env) for _ in range(runs)]
        return [json.loads(r.stdout) for r in runs_out]


def run_profile(data: Path, model_path: Path, out: Path, example: str) -> dict:
    """Ours under cProfile: the five functions with the most time of their own (seconds), and the total."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    result = profiler.runcall(run_ours, data, model_path, out, example)
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]  # pstats keeps its table untyped
    own = sorted(((v[2], k[2] if k[0] == "~" else f"{Path(k[0]).name}:{k[2]}") for k, v in stats.items()), reverse=True)
    return {**result, "top": [[name, round(seconds, 3)] for seconds, name in own[:5]]}


CONTENDERS = {"ours": run_ours, "baseline": run_baseline, "pandas": run_pandas}
PANDAS_PEERS = {"binary": run_pandas, "multiclass": run_pandas_multiclass, "regression": run_pandas_regression}


_FUNCTION_ENV = {  # what the scoring function's environment check needs at its cold start
    "DATA_BUCKET": "bench",
    "MODELS_BUCKET": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "bench",
}


def _child(kind: str, rows: int, example: str = "churn") -> dict:
    """Run one measurement in a fresh interpreter; return its result with peak RSS."""
    cmd = [sys.executable, __file__, "--child", kind, "--rows", str(rows), "--examples", example]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, **_FUNCTION_ENV}).stdout
    return json.loads(out.strip().splitlines()[-1])


def _run_child(kind: str, rows: int, example: str) -> None:
    """In the child: run one contender (or the cold start) and print its result as JSON."""
    model = _example_model_path(example)
    if kind == "profile":
        with tempfile.TemporaryDirectory() as tmp:
            result = run_profile(_example_data_path(example, rows), model, Path(tmp) / "out.csv", example)
    elif kind == "ours_clean_input":  # churn-blanks' config and model on churn's batch (the same rows, no blank)
        with tempfile.TemporaryDirectory() as tmp:
            result = run_ours(_data_path(rows), model, Path(tmp) / "out.csv", example)
    else:
        contender = PANDAS_PEERS[_config(example).task.kind] if kind == "pandas" else CONTENDERS[kind]
        with tempfile.TemporaryDirectory() as tmp:
            result = contender(_example_data_path(example, rows), model, Path(tmp) / "out.csv", example)
    print(json.dumps({**result, "peak_rss_mb": round(_peak_rss_mb(), 1)}))


def _best(kind: str, rows: int, repeat: int, example: str, data: Path) -> dict:
    """The fastest of `repeat` runs, one fresh process after another, with rows/s and MB/s."""
    return _rates(min((_child(kind, rows, example) for _ in range(repeat)), key=lambda r: r["seconds"]), data)


def _rates(best: dict, data: Path) -> dict:
    """A run's result with rows/s and MB/s (the input file's size over the seconds)."""
    megabytes = data.stat().st_size / 1e6
    return {
        **best,
        "rows_per_s": round(best["rows"] / best["seconds"]),
        "mb_per_s": round(megabytes / best["seconds"], 2),
    }


def _taking_turns(contenders: dict[str, tuple[str, str, Path]], rows: int, repeat: int) -> dict:
    """The fastest of `repeat` runs of each (kind, example, data) contender, the contenders taking turns so
    that a shared machine's changing load falls on all of them alike; every run's seconds are kept."""
    runs: dict[str, list[dict]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, (kind, example, _data) in contenders.items():
            runs[name].append(_child(kind, rows, example))
    return {
        name: {
            **_rates(min(results, key=lambda r: r["seconds"]), contenders[name][2]),
            "runs_s": [round(r["seconds"], 2) for r in results],
        }
        for name, results in runs.items()
    }


def measure_churn(rows: int, repeat: int) -> dict:
    """The default project: ours, the raw baseline and pandas; memory at two sizes; the cold start."""
    _model_path()
    small = max(rows // 10, 1000)
    data, _ = _data_path(rows), _data_path(small)
    runs = {kind: _best(kind, rows, repeat, "churn", data) for kind in CONTENDERS}
    memory_small = _child("ours", small)["peak_rss_mb"]
    cold = cold_starts(_model_path(), runs=5)
    cold_best = min(cold, key=lambda r: r["seconds"])
    profile = _child("profile", rows)
    results = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform},
        "rows": rows,
        "throughput": runs,
        "ratio_vs_baseline": round(runs["ours"]["rows_per_s"] / runs["baseline"]["rows_per_s"], 3),
        "ratio_vs_pandas": round(runs["ours"]["rows_per_s"] / runs["pandas"]["rows_per_s"], 3),
        "memory_mb": {"ours_small": memory_small, "ours_large": runs["ours"]["peak_rss_mb"], "small_rows": small},
        "cold_start_s": {k: round(v, 3) for k, v in cold_best.items()},
        "cold_start_runs_s": [round(r["seconds"], 3) for r in cold],
        "profile": {"seconds": round(profile["seconds"], 2), "top": profile["top"]},
    }
    results["memory_ratio"] = round(results["memory_mb"]["ours_large"] / memory_small, 3)
    return results


def _example_entry(example: str, rows: int, data: Path, runs: dict) -> dict:
    """One example's row of results: ours and the naive pandas peer on the same file, same run."""
    return {
        "task": _config(example).task.kind,
        "rows": rows,
        "file_mb": round(data.stat().st_size / 1e6, 1),
        "date": datetime.now(UTC).date().isoformat(),
        "command": " ".join(["bench/bench_scoring.py", *sys.argv[1:]]),
        "throughput": {kind: runs[kind] for kind in ("ours", "pandas")},
        "ratio_vs_pandas": round(runs["ours"]["rows_per_s"] / runs["pandas"]["rows_per_s"], 3),
        "stream_ratio_vs_pandas": round(runs["pandas"]["seconds"] / runs["ours"]["stream_s"], 3),
    }


def measure_example(example: str, rows: int, repeat: int) -> dict:
    """Ours and the naive pandas peer for a non-default example (the raw baseline is binary-only)."""
    _example_model_path(example)
    data = _example_data_path(example, rows)
    runs = {kind: _best(kind, rows, repeat, example, data) for kind in ("ours", "pandas")}
    entry = _example_entry(example, rows, data, runs)
    if example.endswith(dirty.SUFFIX):  # every bad row reported, no other: the report is exact
        expected, ours = dirty.bad_rows(data), runs["ours"]["bad_rows"]
        entry["reports"] = {"bad_rows_expected": expected, "bad_rows_ours": ours, "exact": expected == ours}
        entry["reports"]["pandas_rows_scored"] = runs["pandas"]["rows"]
    if example == "reviews":  # text: does memory stay bounded as the file grows (a vectorizer per chunk)?
        small = max(rows // 10, 1000)
        _example_data_path(example, small)
        memory_small = _child("ours", small, example)["peak_rss_mb"]
        entry["memory_mb"] = {
            "ours_small": memory_small,
            "ours_large": runs["ours"]["peak_rss_mb"],
            "small_rows": small,
        }
        entry["memory_ratio"] = round(runs["ours"]["peak_rss_mb"] / memory_small, 3)
    return entry


def measure_blanks(rows: int, repeat: int) -> dict:
    """churn-blanks: ours and the naive pandas peer on the batch with blanks; in the same run, taking turns,
    ours on churn's clean batch (the same rows, none blank) with the default project and with churn-blanks'
    imputing model; then ours under cProfile on the batch with blanks."""
    _example_model_path("churn-blanks")
    _model_path()
    data, clean = _example_data_path("churn-blanks", rows), _data_path(rows)
    load = os.getloadavg()  # a shared machine: the 1, 5 and 15-minute load averages before and after
    contenders = {
        "ours": ("ours", "churn-blanks", data),
        "pandas": ("pandas", "churn-blanks", data),
        "clean_ours": ("ours", "churn", clean),
        "clean_ours_imputing_model": ("ours_clean_input", "churn-blanks", clean),
    }
    runs = _taking_turns(contenders, rows, repeat)
    entry = _example_entry("churn-blanks", rows, data, runs)
    entry["clean"] = {"ours": runs["clean_ours"], "ours_imputing_model": runs["clean_ours_imputing_model"]}
    for name, run in entry["clean"].items():
        entry[f"ratio_vs_clean_{name}"] = round(runs["ours"]["rows_per_s"] / run["rows_per_s"], 3)
    entry["stream_ratio_vs_clean_ours"] = round(runs["clean_ours"]["stream_s"] / runs["ours"]["stream_s"], 3)
    profile = _child("profile", rows, "churn-blanks")
    entry["profile"] = {"seconds": round(profile["seconds"], 2), "top": profile["top"]}
    entry["blanks"] = {"features": list(BLANK_FEATURES), "share": BLANK_SHARE}
    entry["openmp_threads"] = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
    entry["load_average"] = {"before": [round(x, 2) for x in load], "after": [round(x, 2) for x in os.getloadavg()]}
    return entry


def _examples(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if unknown := sorted(set(names) - set(EXAMPLES)):
        raise SystemExit(f"unknown example(s) {', '.join(unknown)}; choose from {', '.join(EXAMPLES)}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--examples", default="churn", help=f"comma-separated, of {', '.join(EXAMPLES)}")
    parser.add_argument("--openmp-threads", type=int, help="OpenMP threads per process (default: cores)")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.openmp_threads:  # the children inherit it; on a busy machine, OpenMP threads wait for cores
        os.environ["OMP_NUM_THREADS"] = str(args.openmp_threads)
    examples = _examples(args.examples)
    CACHE.mkdir(parents=True, exist_ok=True)
    if args.child:
        _run_child(args.child, args.rows, examples[0])
        return
    path = RESULTS / "scoring.json"
    results = json.loads(path.read_text()) if path.exists() else {}  # other examples' rows are kept
    measured = results.setdefault("examples", {})
    for example in examples:  # one at a time: every process has the machine's cores to itself
        if example == "churn":
            results.update(measure_churn(args.rows, args.repeat))
            data = _data_path(args.rows)
            measured["churn"] = _example_entry("churn", args.rows, data, results["throughput"])
        elif example == "churn-blanks":
            measured[example] = measure_blanks(args.rows, args.repeat)
        else:
            measured[example] = measure_example(example, args.rows, args.repeat)
        path.write_text(json.dumps(results, indent=2))
    print(markdown(results))


def markdown(r: dict) -> str:
    """The default project's lines (when measured) and one line per example."""
    lines = _churn_markdown(r) if "throughput" in r else []
    examples = r.get("examples", {})
    if examples:
        lines += [
            "",
            "| example (task), rows, file | ours s (rows, verdict) | ours rows/s | ours MB/s | ours peak RSS MB "
            "| pandas s | pandas rows/s | pandas MB/s | pandas peak RSS MB | ours / pandas (rows only) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, e in examples.items():
            o, p = e["throughput"]["ours"], e["throughput"]["pandas"]
            lines.append(
                f"| {name} ({e['task']}), {e['rows']:,}, {e['file_mb']} MB "
                f"| {o['seconds']:.2f} ({o['stream_s']:.2f} + {o['verdict_s']:.2f}) | {o['rows_per_s']:,} "
                f"| {o['mb_per_s']} | {o['peak_rss_mb']} "
                f"| {p['seconds']:.2f} | {p['rows_per_s']:,} | {p['mb_per_s']} | {p['peak_rss_mb']} "
                f"| {e['ratio_vs_pandas']}x ({e['stream_ratio_vs_pandas']}x) |"
            )
    if blanks := examples.get("churn-blanks"):
        lines += ["", _blanks_markdown(blanks)]
    return "\n".join(lines)


def _blanks_markdown(e: dict) -> str:
    """churn-blanks against ours on clean data (the same rows, same run), and where its time goes."""
    o, clean, load = e["throughput"]["ours"], e["clean"], e["load_average"]
    return (
        f"- churn-blanks ({e['blanks']['share']:.0%} of {', '.join(e['blanks']['features'])} blank): ours "
        f"{o['rows_per_s']:,} rows/s; ours on churn's clean batch (the same rows), same run: "
        f"{clean['ours']['rows_per_s']:,} rows/s with the default project, "
        f"{clean['ours_imputing_model']['rows_per_s']:,} with the imputing model; blanks / clean: "
        f"**{e['ratio_vs_clean_ours']}x** (goal >= 0.9x), the rows alone {e['stream_ratio_vs_clean_ours']}x; "
        f"ours / pandas **{e['ratio_vs_pandas']}x** (goal > 1x); {e['openmp_threads']} OpenMP thread(s); "
        f"load average {load['before'][0]} before, {load['after'][0]} after; "
        f"profile ({e['profile']['seconds']} s): " + ", ".join(f"{n} {sec} s" for n, sec in e["profile"]["top"])
    )


def _churn_markdown(r: dict) -> list[str]:
    t = r["throughput"]
    return [
        f"| scoring ({r['rows']:,} rows) | seconds | rows/s | peak RSS MB |",
        "|---|---|---|---|",
        *(f"| {k} | {v['seconds']:.2f} | {v['rows_per_s']:,} | {v['peak_rss_mb']} |" for k, v in t.items()),
        "",
        f"- ours / raw baseline: **{r['ratio_vs_baseline']}x** (goal >= 0.9x); ours / pandas: "
        f"**{r['ratio_vs_pandas']}x** (goal >= 1.2x)",
        f"- peak memory: {r['memory_mb']['ours_small']} MB at {r['memory_mb']['small_rows']:,} rows, "
        f"{r['memory_mb']['ours_large']} MB at {r['rows']:,} rows (ratio {r['memory_ratio']}, goal <= 1.2, < 300 MB)",
        f"- cold start (clean interpreter, AWS bundle): handler imports {r['cold_start_s']['imports_s']} s "
        f"(goal < 1.0 s)"
        f" + model load {r['cold_start_s']['model_load_s']} s = {r['cold_start_s']['seconds']} s",
        f"- profile of ours (cProfile, {r['profile']['seconds']} s under it): "
        + ", ".join(f"{name} {seconds} s" for name, seconds in r["profile"]["top"]),
    ]


if __name__ == "__main__":
    main()
