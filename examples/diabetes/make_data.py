"""Write the diabetes data set (shipped inside scikit-learn, no download) as CSV files for the whole loop:

- training.csv: 350 of the 442 patients, with the disease progression one year later (`progression`);
- batch.csv: 300 unlabeled patients like them (resampled from all 442);
- drifted.csv: 300 labeled patients from a new lab export that writes bmi, bp and ltg ten times too
  large (a unit bug); the model, never having seen such values, mispredicts them.

    .venv/bin/python examples/diabetes/make_data.py OUT_DIR
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes

# scikit-learn's s1..s6, named after what they measure (see its DESCR).
COLUMNS = ["age", "sex", "bmi", "bp", "tc", "ldl", "hdl", "tch", "ltg", "glu"]
SCALED_BY_THE_BUG = ["bmi", "bp", "ltg"]
BATCH_ROWS = 300


def write(out_dir: Path) -> tuple[Path, Path, Path]:
    data = load_diabetes(scaled=False)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data.target))
    train = order[:350]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = out_dir / "training.csv", out_dir / "batch.csv", out_dir / "drifted.csv"
    _write(paths[0], [f"P{i:03d}" for i in train], data.data[train], data.target[train])
    batch = rng.choice(len(data.target), BATCH_ROWS)
    _write(paths[1], [f"B{k:04d}" for k in range(BATCH_ROWS)], data.data[batch], None)
    drifted = rng.choice(len(data.target), BATCH_ROWS)
    scale = np.asarray([10.0 if c in SCALED_BY_THE_BUG else 1.0 for c in COLUMNS])
    bugged = data.data[drifted] * scale
    _write(paths[2], [f"D{k:04d}" for k in range(BATCH_ROWS)], bugged, data.target[drifted])
    return paths


def _write(path: Path, ids: list[str], values: np.ndarray, target: np.ndarray | None) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["patient_id", *COLUMNS, *(["progression"] if target is not None else [])])
        for k, row in enumerate(values):
            cells = [f"{int(v)}" if c == "sex" else f"{v:.4g}" for c, v in zip(COLUMNS, row, strict=True)]
            writer.writerow([ids[k], *cells, *([f"{target[k]:g}"] if target is not None else [])])


if __name__ == "__main__":
    for p in write(Path(sys.argv[1] if len(sys.argv) > 1 else "diabetes-data")):
        print(p)
