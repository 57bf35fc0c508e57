"""Write the Wisconsin breast-cancer data set (shipped inside scikit-learn, no download) as CSV files:
a labeled training file and an unlabeled batch to score.

    .venv/bin/python examples/breast-cancer/make_data.py OUT_DIR
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer


def column_name(feature: str) -> str:
    return feature.replace(" ", "_")


def write(out_dir: Path) -> tuple[Path, Path]:
    data = load_breast_cancer()
    names = [column_name(n) for n in data.feature_names]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data.target))
    train, batch = order[:450], order[450:]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = out_dir / "training.csv", out_dir / "batch.csv"
    for path, rows, labeled in ((paths[0], train, True), (paths[1], batch, False)):
        with open(path, "w", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["sample_id", *names, *(["malignant"] if labeled else [])])
            for i in rows:
                label = [int(data.target[i] == 0)] if labeled else []  # target 0 is malignant
                writer.writerow([f"S{i:04d}", *(f"{v:.6g}" for v in data.data[i]), *label])
    return paths


if __name__ == "__main__":
    for p in write(Path(sys.argv[1] if len(sys.argv) > 1 else "breast-cancer-data")):
        print(p)
