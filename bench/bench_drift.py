"""Drift thresholds that know the batch size, measured: false alarms on clean batches and the smallest
shift detected, for the fixed PSI threshold and the adaptive rule, at 200 to 1,000,000 rows.

Batches are drawn from the reference distribution itself (six N(0, 1) features; the reference profile
is built from 8,000 rows, the size of the demo's training set), so every flag on a clean batch is a
false alarm. A batch of n rows is its bin counts, drawn as Multinomial(n, true bin probabilities), which
is exact for i.i.d. rows and makes a million-row batch as cheap as a small one.

    .venv/bin/python bench/bench_drift.py   -> bench/results/drift.json and a markdown table
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import norm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mlops_core.config import Feature, load_config  # noqa: E402
from mlops_core.monitoring import build_profile, psi  # noqa: E402
from mlops_core.monitoring.verdict import Signal, judge, psi_threshold_for  # noqa: E402

SIZES = (200, 1_000, 10_000, 100_000, 1_000_000)
FEATURES = 6
REFERENCE_ROWS = 8_000
BATCHES = 400
SHIFTS = np.round(np.geomspace(0.01, 2.0, 40), 4)


def reference(rng: np.random.Generator, bins: int) -> dict:
    features = [Feature(f"x{i}", "numeric") for i in range(FEATURES)]
    columns = {f.name: rng.normal(size=REFERENCE_ROWS) for f in features}
    return build_profile(columns, features, rng.random(REFERENCE_ROWS), bins)


def bin_probabilities(edges: list[float], shift: float) -> np.ndarray:
    """P(bin) for N(shift, 1), bins as in mlops_core.monitoring.drift (edges[i-1] < x <= edges[i])."""
    cdf = norm.cdf(np.asarray(edges), loc=shift)
    return np.diff(np.concatenate([[0.0], cdf, [1.0]]))


def flags(profile: dict, settings, rows: int, shift: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per batch: was feature x0 (shifted by `shift`) flagged, and was the batch's verdict drift."""
    specs = list(profile["features"].values())
    probabilities = [bin_probabilities(s["edges"], shift if i == 0 else 0.0) for i, s in enumerate(specs)]
    first, verdicts = np.zeros(BATCHES, bool), np.zeros(BATCHES, bool)
    prediction = Signal("prediction", 0.0, 1.0)  # predictions are not part of this measurement
    for b in range(BATCHES):
        signals = []
        for i, (spec, p) in enumerate(zip(specs, probabilities, strict=True)):
            counts = rng.multinomial(rows, p)
            value = psi(spec["proportions"], counts)
            threshold = psi_threshold_for(
                batch_rows=rows,
                reference_rows=REFERENCE_ROWS,
                bins=len(p),
                signals=FEATURES + 1,
                settings=settings,
                fixed=settings.psi_threshold,
            )
            signals.append(Signal(f"x{i}", value, threshold))
        first[b] = signals[0].drifted
        verdicts[b] = judge(
            rows=rows, feature_signals=signals, prediction=prediction, multivariate=None, settings=settings
        )["verdict"]
    return first, verdicts


def smallest_detected(profile: dict, settings, rows: int, rng: np.random.Generator) -> float | None:
    """The smallest shift of x0 (in standard deviations, on a grid) flagged in at least 95% of batches.

    Detection grows with the shift, so a binary search over the grid finds it.
    """
    low, high = 0, len(SHIFTS) - 1
    if flags(profile, settings, rows, float(SHIFTS[high]), rng)[0].mean() < 0.95:
        return None
    while low < high:
        middle = (low + high) // 2
        if flags(profile, settings, rows, float(SHIFTS[middle]), rng)[0].mean() >= 0.95:
            high = middle
        else:
            low = middle + 1
    return float(SHIFTS[low])


def measure() -> dict:
    base = load_config().drift
    rng = np.random.default_rng(0)
    profile = reference(rng, base.bins)
    methods = {
        "fixed PSI": dataclasses.replace(base, method="psi"),
        "adaptive": dataclasses.replace(base, method="adaptive"),
    }
    results: dict = {
        "reference_rows": REFERENCE_ROWS,
        "batches": BATCHES,
        "features": FEATURES,
        "settings": dataclasses.asdict(base),
        "rows": {},
    }
    for rows in SIZES:
        entry = {}
        for name, settings in methods.items():
            any_flag, verdict = flags(profile, settings, rows, 0.0, rng)
            entry[name] = {
                "false_alarm_x0": round(float(any_flag.mean()), 4),
                "false_verdict": round(float(verdict.mean()), 4),
                "smallest_shift_95": smallest_detected(profile, settings, rows, rng),
            }
        results["rows"][rows] = entry
        print(rows, entry, flush=True)
    return results


def table(results: dict) -> str:
    lines = [
        "| batch rows | false alarms, one feature (fixed / adaptive) | false drift verdicts (fixed / adaptive) "
        "| smallest shift detected in 95% (sd; fixed / adaptive) |",
        "|---|---|---|---|",
    ]
    for rows, entry in results["rows"].items():
        f, a = entry["fixed PSI"], entry["adaptive"]
        lines.append(
            f"| {int(rows):,} | {f['false_alarm_x0']:.1%} / {a['false_alarm_x0']:.1%} "
            f"| {f['false_verdict']:.1%} / {a['false_verdict']:.1%} "
            f"| {f['smallest_shift_95']} / {a['smallest_shift_95']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    measured = measure()
    out = ROOT / "bench" / "results" / "drift.json"
    out.write_text(json.dumps(measured, indent=2))
    print(table(measured))
