"""A deterministic, realistic customer-churn data set with knobs for covariate and concept drift.

The columns match the default mlops.toml: an id, four numeric and two categorical features, and
the binary label `churned`. `covariate_shift` moves the feature distributions (shorter tenure,
higher charges, more support calls, more month-to-month contracts); `concept_shift` changes how the
features relate to churn, so a model trained before the shift loses accuracy after it.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

CONTRACTS = ["month-to-month", "one-year", "two-year"]
PAYMENTS = ["card", "bank-transfer", "electronic-check", "mailed-check"]
HEADER = [
    "customer_id",
    "tenure_months",
    "monthly_charges",
    "support_calls",
    "data_usage_gb",
    "contract",
    "payment_method",
    "churned",
]
CHUNK_ROWS = 50_000


def _chunk(
    rng: np.random.Generator, n: int, start_id: int, *, covariate_shift: float, concept_shift: float, with_label: bool
) -> list[list[str]]:
    s, c = covariate_shift, concept_shift
    tenure = np.clip(rng.gamma(2.0, 14.0 * (1 - 0.5 * min(s, 1.5) / 1.5), n), 1, 72).round()
    charges = np.clip(rng.normal(65 + 20 * s, 25, n), 18, 150).round(2)
    calls = rng.poisson(1.5 * (1 + s), n)
    usage = rng.lognormal(2.5 + 0.4 * s, 0.6, n).round(2)
    m2m = min(0.55 + 0.25 * s, 0.9)
    contract_p = np.array([m2m, (1 - m2m) * 0.55, (1 - m2m) * 0.45])
    contract = rng.choice(len(CONTRACTS), n, p=contract_p / contract_p.sum())
    payment = rng.choice(len(PAYMENTS), n, p=[0.35, 0.25, 0.25, 0.15])
    # Churn: short tenure, high charges, many calls and monthly contracts raise it. Concept drift
    # turns support calls protective and makes electronic-check payers loyal.
    logit = (
        0.8
        - 0.06 * tenure
        + 0.025 * (charges - 65)
        + (0.45 - 0.9 * c) * calls
        + 1.1 * (contract == 0)
        - 1.2 * (contract == 2)
        + (0.5 - 1.5 * c) * (payment == 2)
        - 0.6 * c
    )
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    columns = [
        [f"C{start_id + i:08d}" for i in range(n)],
        tenure.astype(int).astype(str).tolist(),
        [f"{v:.2f}" for v in charges],
        calls.astype(str).tolist(),
        [f"{v:.2f}" for v in usage],
        [CONTRACTS[i] for i in contract],
        [PAYMENTS[i] for i in payment],
    ]
    if with_label:
        columns.append(churned.astype(str).tolist())
    return list(map(list, zip(*columns, strict=True)))


def iter_rows(
    rows: int, *, seed: int, covariate_shift: float = 0.0, concept_shift: float = 0.0, with_label: bool = True
) -> Iterator[list[str]]:
    """The data rows, generated in chunks (memory stays flat for millions of rows)."""
    rng = np.random.default_rng(seed)
    for start in range(0, rows, CHUNK_ROWS):
        yield from _chunk(
            rng,
            min(CHUNK_ROWS, rows - start),
            start,
            covariate_shift=covariate_shift,
            concept_shift=concept_shift,
            with_label=with_label,
        )


def write_csv(
    out: IO[str],
    rows: int,
    *,
    seed: int,
    covariate_shift: float = 0.0,
    concept_shift: float = 0.0,
    with_label: bool = True,
) -> None:
    """Write a CSV (header first) to a text stream."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER if with_label else HEADER[:-1])
    writer.writerows(
        iter_rows(rows, seed=seed, covariate_shift=covariate_shift, concept_shift=concept_shift, with_label=with_label)
    )


def generate(
    rows: int, *, seed: int, covariate_shift: float = 0.0, concept_shift: float = 0.0, with_label: bool = True
) -> bytes:
    """The CSV as bytes (for small files; use write_file for large ones)."""
    buffer = io.StringIO()
    write_csv(
        buffer, rows, seed=seed, covariate_shift=covariate_shift, concept_shift=concept_shift, with_label=with_label
    )
    return buffer.getvalue().encode()


def write_file(path: Path, rows: int, **knobs) -> Path:
    """Write a CSV, gzipped if the name ends in .gz."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", newline="") as out:
        write_csv(out, rows, **knobs)
    return path


# A realistic burst's large batches: one of 1M rows, a few of 50,000, many of 10,000 (the rest are small).
LARGE_BATCHES = (1_000_000, 200_000, 50_000, 50_000, 50_000, 50_000, *[10_000] * 20)


def mixed_batch_sizes(files: int, large: tuple[int, ...] = LARGE_BATCHES) -> list[int]:
    """Row counts for a burst of `files` batches: the `large` ones first, then small ones (5 to 2,004 rows)."""
    first = list(large[:files])
    return first + [5 + (i * 37) % 2_000 for i in range(files - len(first))]
