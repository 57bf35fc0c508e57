"""Write the iris data set (shipped inside scikit-learn, no download) as CSV files for the whole loop:

- training.csv: 120 of the 150 flowers, labeled with the species name (setosa, versicolor, virginica);
- batch.csv: 300 unlabeled flowers like those (resampled from all 150);
- drifted.csv: 300 labeled flowers measured by a new device that reports the petals in millimetres
  (the model, trained on centimetres, calls nearly every one of them virginica).

    .venv/bin/python examples/iris/make_data.py OUT_DIR
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris

COLUMNS = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
BATCH_ROWS = 300


def write(out_dir: Path) -> tuple[Path, Path, Path]:
    data = load_iris()
    species = data.target_names[data.target]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(species))
    train = order[:120]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = out_dir / "training.csv", out_dir / "batch.csv", out_dir / "drifted.csv"
    _write(paths[0], [f"F{i:03d}" for i in train], data.data[train], species[train])
    batch = rng.choice(len(species), BATCH_ROWS)
    _write(paths[1], [f"B{k:04d}" for k in range(BATCH_ROWS)], data.data[batch], None)
    drifted = rng.choice(len(species), BATCH_ROWS)
    millimetres = data.data[drifted] * np.array([1, 1, 10, 10])
    _write(paths[2], [f"D{k:04d}" for k in range(BATCH_ROWS)], millimetres, species[drifted])
    return paths


def _write(path: Path, ids: list[str], values: np.ndarray, labels: np.ndarray | None) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["flower_id", *COLUMNS, *(["species"] if labels is not None else [])])
        for k, row in enumerate(values):
            writer.writerow([ids[k], *(f"{v:.2f}" for v in row), *([labels[k]] if labels is not None else [])])


if __name__ == "__main__":
    for p in write(Path(sys.argv[1] if len(sys.argv) > 1 else "iris-data")):
        print(p)
