"""Multivariate drift (the domain classifier) on a synthetic correlation flip: a benchmark, not a test.

Six features shaped like the project's (four numeric, two categorical). In the reference x1 and x2
are standard normal with correlation +0.9; in a drifted batch the correlation is reversed (-0.9, and
a weaker -0.3 against +0.3), every marginal unchanged; a clean batch comes from the reference
distribution. Training rows go through `reference_sample` (2,000 rows), batch rows stream through
`BatchSample` in chunks, as in scoring. Per batch sample size: the detection rate, the false alarm
rate on clean batches, the median seconds per `domain_classifier_drift` call, how often the two
flipped features are the top two named, and, for contrast, how often per-feature PSI flags the flip.

    .venv/bin/python bench/bench_multivariate.py [--seeds 20]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
RESULTS = ROOT / "bench" / "results"

from mlops_core.config import DriftSettings, Feature  # noqa: E402
from mlops_core.monitoring import multivariate  # noqa: E402
from mlops_core.monitoring.drift import DriftAccumulator, build_profile  # noqa: E402
from mlops_core.monitoring.multivariate import BatchSample, domain_classifier_drift, reference_sample  # noqa: E402

CONTRACT = Feature("contract", "categorical", ("month-to-month", "one-year", "two-year"))
PAYMENT = Feature("payment", "categorical", ("card", "bank-transfer", "electronic-check", "mailed-check"))
FEATURES = [Feature("x1", "numeric"), Feature("x2", "numeric"), Feature("noise_a", "numeric")]
FEATURES += [Feature("noise_b", "numeric"), CONTRACT, PAYMENT]
TRAINING_ROWS = 20_000
BATCH_ROWS = 20_000
CHUNK_ROWS = 5_000
REFERENCE_ROWS = 2_000
SAMPLE_SIZES = (200, 500, 1000, 2000)
FALSE_ALARM_RATE = 0.05
PSI = DriftSettings(
    bins=10,
    min_rows=200,
    psi_threshold=0.2,
    drifted_share_threshold=0.3,
    prediction_psi_threshold=0.2,
    accuracy_floor=0.7,
)


def generate(rng: np.random.Generator, rows: int, correlation: float) -> dict[str, np.ndarray]:
    x1 = rng.normal(size=rows)
    x2 = correlation * x1 + np.sqrt(1 - correlation**2) * rng.normal(size=rows)
    return {
        "x1": x1,
        "x2": x2,
        "noise_a": rng.normal(size=rows),
        "noise_b": rng.exponential(size=rows),
        "contract": rng.choice(np.array(CONTRACT.categories, dtype=object), size=rows, p=[0.5, 0.3, 0.2]),
        "payment": rng.choice(np.array(PAYMENT.categories, dtype=object), size=rows),
    }


def psi_flags(training: dict[str, np.ndarray], batch: dict[str, np.ndarray]) -> bool:
    """Whether per-feature PSI (the existing drift check, without the prediction part) flags the batch."""
    profile = build_profile(training, FEATURES, np.zeros(TRAINING_ROWS), PSI.bins)
    accumulator = DriftAccumulator(profile)
    accumulator.update(batch, np.zeros(BATCH_ROWS))
    return bool(accumulator.summary(PSI).drifted_features)


@contextlib.contextmanager
def permutations_always() -> Iterator[None]:
    """The check as it was before it skipped the permutations of an AUC below the analytic floor or above the
    ceiling: for the time with and without the skips, in the same run (the verdicts are the same)."""
    classify = multivariate._classify

    def always(*args: Any, floor: float, ceiling: float) -> Any:
        return classify(*args, floor=float("-inf"), ceiling=float("inf"))

    multivariate._classify = always  # type: ignore[assignment]
    try:
        yield
    finally:
        multivariate._classify = classify


def one_run(seed: int, size: int, reference_correlation: float, batch_correlation: float) -> dict[str, Any]:
    """One training set and one batch: the domain classifier's verdict, its seconds, per-feature PSI's verdict."""
    rng = np.random.default_rng(seed)
    training = generate(rng, TRAINING_ROWS, reference_correlation)
    reference = reference_sample(training, FEATURES, rows=REFERENCE_ROWS, seed=seed)
    assert reference is not None
    batch = generate(rng, BATCH_ROWS, batch_correlation)
    sample = BatchSample(FEATURES, size=size, seed=seed)
    for start in range(0, BATCH_ROWS, CHUNK_ROWS):
        sample.update({name: values[start : start + CHUNK_ROWS] for name, values in batch.items()})
    started = time.perf_counter()
    result = domain_classifier_drift(
        reference, sample.columns(), FEATURES, false_alarm_rate=FALSE_ALARM_RATE, seed=seed
    )
    seconds = time.perf_counter() - started
    top_two = {name for name, _ in result["features"][:2]}
    return {
        "drifted": result["drifted"],
        "named": top_two == {"x1", "x2"},
        "seconds": seconds,
        "psi": psi_flags(training, batch),
    }


def measure(size: int, seeds: int) -> dict[str, Any]:
    strong = [one_run(seed, size, 0.9, -0.9) for seed in range(seeds)]
    weak = [one_run(seed, size, 0.3, -0.3) for seed in range(seeds)]
    clean = [one_run(10_000 + seed, size, 0.9, 0.9) for seed in range(seeds)]
    with permutations_always():
        strong_permuted = [one_run(seed, size, 0.9, -0.9) for seed in range(seeds)]
        weak_permuted = [one_run(seed, size, 0.3, -0.3) for seed in range(seeds)]
        clean_permuted = [one_run(10_000 + seed, size, 0.9, 0.9) for seed in range(seeds)]
    for skipping, permuting in ((strong, strong_permuted), (weak, weak_permuted), (clean, clean_permuted)):
        assert [r["drifted"] for r in skipping] == [r["drifted"] for r in permuting]
    detected = [run for run in strong if run["drifted"]]
    return {
        "batch_sample_rows": size,
        "detection_rate": sum(r["drifted"] for r in strong) / seeds,
        "detection_rate_weak": sum(r["drifted"] for r in weak) / seeds,
        "false_alarm_rate": sum(r["drifted"] for r in clean) / seeds,
        "named_rate": sum(r["named"] for r in detected) / len(detected) if detected else None,
        "median_seconds": round(statistics.median(r["seconds"] for r in strong + weak + clean), 3),
        "psi_flag_rate": sum(r["psi"] for r in strong) / seeds,
        "median_seconds_clean": round(statistics.median(r["seconds"] for r in clean), 3),
        "median_seconds_clean_permuted": round(statistics.median(r["seconds"] for r in clean_permuted), 3),
        "median_seconds_strong": round(statistics.median(r["seconds"] for r in strong), 3),
        "median_seconds_strong_permuted": round(statistics.median(r["seconds"] for r in strong_permuted), 3),
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Correlation flip, {results['seeds']} seeds per cell, reference sample {REFERENCE_ROWS:,} rows, "
        f"6 features, false_alarm_rate {FALSE_ALARM_RATE}; load average {results['load_average']} on "
        f"{results['cores']} cores.",
        "",
        "| batch sample rows | detected (+0.9 -> -0.9) | detected (+0.3 -> -0.3) | false alarms (clean) "
        "| x1, x2 named top two | median s / call | per-feature PSI flags the flip "
        "| clean batch: median s / call (with permutations always) "
        "| +0.9 -> -0.9 batch: median s / call (with permutations always) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        named = "-" if row["named_rate"] is None else f"{row['named_rate']:.0%}"
        lines.append(
            f"| {row['batch_sample_rows']:,} | {row['detection_rate']:.0%} | {row['detection_rate_weak']:.0%} "
            f"| {row['false_alarm_rate']:.0%} | {named} | {row['median_seconds']} | {row['psi_flag_rate']:.0%} "
            f"| {row['median_seconds_clean']} ({row['median_seconds_clean_permuted']}) "
            f"| {row['median_seconds_strong']} ({row['median_seconds_strong_permuted']}) |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    rows = [measure(size, args.seeds) for size in SAMPLE_SIZES]
    results = {
        "seeds": args.seeds,
        "cores": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "multivariate.json").write_text(json.dumps(results, indent=2))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
