"""Write a Titanic-like passenger table with the gaps real tables have, as CSV files for the whole loop:

- training.csv: 2,000 passengers, labeled `survived` yes/no. `age` is blank for about 20% of them, more
  often in third class (missing at random: the class explains it); `fare` is blank for a share of the
  dearest tickets (missing not at random: the value itself explains it); `name` holds commas, as the
  real list does ("Braund, Mr. Owen Harris").
- batch.csv: 500 unlabeled passengers like those: the same gaps at the same rates (no drift).
- broken.csv: 500 unlabeled passengers after an upstream bug blanked the whole `age` column.
- new_port.csv: 500 unlabeled passengers, a quarter of them from a port training never saw ("Galway").

    .venv/bin/python examples/passengers/make_data.py OUT_DIR
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

COLUMNS = ["passenger_id", "name", "passenger_class", "sex", "age", "fare", "port"]
LABEL = "survived"
PORTS = ("Southampton", "Cherbourg", "Queenstown")
NEW_PORT = "Galway"
SURNAMES = ("Braund", "Cumings", "Heikkinen", "Futrelle", "Allen", "Moran", "McCarthy", "Palsson", "Johnson")
GIVEN = ("Owen Harris", "John Bradley", "Laina", "Jacques Heath", "William Henry", "James", "Timothy J", "Gosta")


def passengers(rng: np.random.Generator, rows: int, *, start: int, new_port_share: float = 0.0) -> dict:
    """`rows` passengers: their columns (blanks as None) and whether each survived."""
    klass = rng.choice([1, 2, 3], rows, p=[0.25, 0.2, 0.55])
    female = rng.random(rows) < 0.36
    age = np.clip(rng.normal(38 - 5 * klass, 13), 0.5, 80).round(1)
    fare = np.round(rng.lognormal(np.log([80.0, 22.0, 9.0])[klass - 1], 0.5), 2)
    ports = rng.choice(PORTS, rows, p=[0.72, 0.19, 0.09]).astype(object)
    ports[rng.random(rows) < new_port_share] = NEW_PORT
    logit = -0.6 + 2.4 * female - 0.9 * (klass - 2) - 0.02 * (age - 30) + 0.004 * fare
    survived = rng.random(rows) < 1 / (1 + np.exp(-logit))
    age_blank = rng.random(rows) < np.where(klass == 3, 0.28, 0.1)  # at random, given the class
    fare_blank = (fare > np.quantile(fare, 0.85)) & (rng.random(rows) < 0.5)  # not at random: the dear ones
    return {
        "passenger_id": [f"P{start + i:05d}" for i in range(rows)],
        "name": [f"{rng.choice(SURNAMES)}, {'Mrs.' if f else 'Mr.'} {rng.choice(GIVEN)}" for f in female],
        "passenger_class": [("first", "second", "third")[k - 1] for k in klass],
        "sex": np.where(female, "female", "male").tolist(),
        "age": [None if blank else f"{a:g}" for a, blank in zip(age, age_blank, strict=True)],
        "fare": [None if blank else f"{f:.2f}" for f, blank in zip(fare, fare_blank, strict=True)],
        "port": ports.tolist(),
        LABEL: np.where(survived, "yes", "no").tolist(),
    }


def write(out_dir: Path) -> tuple[Path, Path, Path, Path]:
    """training.csv, batch.csv, broken.csv and new_port.csv in `out_dir`."""
    rng = np.random.default_rng(7)
    out_dir.mkdir(parents=True, exist_ok=True)
    training, batch, broken, new_port = (out_dir / f"{n}.csv" for n in ("training", "batch", "broken", "new_port"))
    _write(training, passengers(rng, 2000, start=1), labeled=True)
    _write(batch, passengers(rng, 500, start=3001), labeled=False)
    blanked = passengers(rng, 500, start=4001)
    blanked["age"] = [None] * 500  # the upstream bug
    _write(broken, blanked, labeled=False)
    _write(new_port, passengers(rng, 500, start=5001, new_port_share=0.25), labeled=False)
    return training, batch, broken, new_port


def _write(path: Path, table: dict, *, labeled: bool) -> None:
    columns = [*COLUMNS, *([LABEL] if labeled else [])]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")  # quotes the names' commas
        writer.writerow(columns)
        for row in zip(*(table[c] for c in columns), strict=True):
            writer.writerow(["" if v is None else v for v in row])


if __name__ == "__main__":
    for p in write(Path(sys.argv[1] if len(sys.argv) > 1 else "passengers-data")):
        print(p)
