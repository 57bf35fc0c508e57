"""Write a deterministic product-review data set (text + a categorical column, label pos/neg) for the loop:

- training.csv: 4,000 labeled reviews written in the words reviewers have always used;
- batch.csv: 1,000 unlabeled reviews like those;
- drifted.csv: 1,500 labeled reviews in a new slang ("bussin", "mid", "ick", ...): words the model has never
  seen carry the sentiment, so it guesses; the text drift check sees the new words.

A review is a few sentiment words (how many and how strong varies) among neutral words about the product,
joined into a sentence, with commas now and then (so the CSV quotes it). The label follows the words' net
sentiment with some noise, as real ratings do.

    .venv/bin/python examples/reviews/make_data.py OUT_DIR
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

POSITIVE = [
    "great",
    "excellent",
    "love",
    "perfect",
    "wonderful",
    "amazing",
    "sturdy",
    "reliable",
    "recommend",
    "happy",
    "superb",
    "delightful",
]
NEGATIVE = [
    "terrible",
    "awful",
    "broken",
    "waste",
    "poor",
    "disappointing",
    "flimsy",
    "useless",
    "refund",
    "horrible",
    "cheap",
    "annoying",
]
SLANG_POSITIVE = ["bussin", "goated", "slaps", "fire", "elite", "valid", "immaculate", "chefs-kiss"]
SLANG_NEGATIVE = ["mid", "ick", "sus", "cursed", "busted", "whack", "trash-tier", "flop"]
NEUTRAL = [
    "the",
    "it",
    "this",
    "product",
    "item",
    "was",
    "is",
    "and",
    "with",
    "for",
    "after",
    "days",
    "arrived",
    "box",
    "package",
    "bought",
    "order",
    "color",
    "size",
    "battery",
    "screen",
    "handle",
    "price",
    "shipping",
    "use",
    "using",
    "week",
    "month",
    "kitchen",
    "cable",
    "manual",
    "design",
    "model",
    "daily",
]
PRODUCTS = ["books", "electronics", "kitchen", "toys"]
HEADER = ["review_id", "review", "product", "sentiment"]


def reviews(rows: int, *, seed: int, slang: float = 0.0, start: int = 0) -> Iterator[list[str]]:
    """`rows` labeled reviews; `slang` is the share of sentiment words taken from the new slang."""
    rng = np.random.default_rng(seed)
    for i in range(rows):
        positive = rng.random() < 0.5
        strong = int(rng.integers(1, 4))
        mixed = int(rng.integers(0, 2))  # a word of the other side now and then
        words = list(rng.choice(NEUTRAL, int(rng.integers(6, 20))))
        for k in range(strong + mixed):
            good = positive if k < strong else not positive
            modern = rng.random() < slang
            pool = (SLANG_POSITIVE if good else SLANG_NEGATIVE) if modern else (POSITIVE if good else NEGATIVE)
            words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(pool)))
        if rng.random() < 0.3:
            words.insert(int(rng.integers(1, len(words))), ",")
        text = " ".join(words).replace(" ,", ",").capitalize() + "."
        noisy = rng.random() < 0.08
        label = "pos" if positive != noisy else "neg"
        yield [f"R{start + i:08d}", text, str(rng.choice(PRODUCTS)), label]


def write_csv(path: Path, rows: int, *, seed: int, slang: float = 0.0, labeled: bool = True) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER if labeled else HEADER[:-1])
        for row in reviews(rows, seed=seed, slang=slang):
            writer.writerow(row if labeled else row[:-1])
    return path


def write(out_dir: Path) -> tuple[Path, Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    return (
        write_csv(out_dir / "training.csv", 4000, seed=1),
        write_csv(out_dir / "batch.csv", 1000, seed=2, labeled=False),
        write_csv(out_dir / "drifted.csv", 1500, seed=3, slang=0.9),
    )


if __name__ == "__main__":
    for p in write(Path(sys.argv[1] if len(sys.argv) > 1 else "reviews-data")):
        print(p)
