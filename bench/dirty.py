"""The dirty variant of an example's batch, for bench_scoring.py: what real files hold, seeded.

- 10% of the cells blank in the features the variant's config lets impute (`BLANKS`: the example's
  config with `missing = "impute"` on them, its model trained on rows blanked alike);
- 1% of the rows quoted: a comma in the id (the first column), so the field is written in quotes;
- 0.1% of the rows bad, one bad cell each, taking turns: "abc" in the first numeric feature that does not
  impute, a category the model never saw in the first categorical one that does not.

Every bad row is bad for exactly one reason and no other row is bad, so a report that is exact counts
`bad_rows(...)` of them. The naive peer reads such a file as a user would (pandas.read_csv) and scores
what it can parse: `naive_frame`.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from mlops_core.config import ProjectConfig

SUFFIX = "-dirty"
BLANK_SHARE = 0.1
QUOTED_SHARE = 0.01
BAD_SHARE = 0.001
BLANKS = {  # per example: the features its dirty variant imputes, a tenth of their cells blank
    "churn": ("monthly_charges", "data_usage_gb", "payment_method"),
    "iris": ("petal_width_cm",),
    "diabetes": ("bmi", "sex"),
    "reviews": ("review",),  # a blank review is an empty text; its product stays a category it must know
}
NOT_A_NUMBER, NEW_CATEGORY = "abc", "not-a-category"


def base(example: str) -> str:
    """The clean example a dirty variant is made from ("churn-dirty" -> "churn")."""
    return example.removesuffix(SUFFIX)


def dirty_config(config: ProjectConfig, example: str) -> ProjectConfig:
    """The example's config with `missing = "impute"` on its BLANKS features."""
    chosen = BLANKS[base(example)]
    features = [dataclasses.replace(f, missing="impute") if f.name in chosen else f for f in config.features]
    return dataclasses.replace(config, features=tuple(features))


def blanked(data: bytes, names: tuple[str, ...], *, seed: int, share: float = BLANK_SHARE) -> bytes:
    """A CSV with each cell of the `names` columns blank with probability `share` (seeded)."""
    import numpy as np

    frame = _read_text(data)
    rng = np.random.default_rng(seed)
    for name in names:
        frame.loc[rng.random(len(frame)) < share, name] = ""
    return frame.to_csv(index=False, lineterminator="\n").encode()


def make_dirty(data: bytes, config: ProjectConfig, *, seed: int) -> tuple[bytes, int]:
    """`data` (a clean batch) made dirty as the module docstring says, and how many rows are bad."""
    import numpy as np

    frame = _read_text(blanked(data, tuple(f.name for f in config.features if f.imputes), seed=seed))
    rng = np.random.default_rng(seed + 1)
    rows = len(frame)
    quoted = rng.choice(rows, size=round(rows * QUOTED_SHARE), replace=False)
    frame.iloc[quoted, 0] = frame.iloc[quoted, 0] + ", copy"
    bad = rng.choice(rows, size=round(rows * BAD_SHARE), replace=False)
    damage = _damage(config)
    for turn, row in enumerate(bad.tolist()):
        column, value = damage[turn % len(damage)]
        frame.loc[row, column] = value
    return frame.to_csv(index=False, lineterminator="\n").encode(), len(bad)


def _damage(config: ProjectConfig) -> list[tuple[str, str]]:
    """(column, value) of each kind of bad cell the config allows: a non-number, an unseen category."""
    numeric = [f.name for f in config.features if f.is_numeric and not f.imputes]
    categorical = [f.name for f in config.features if f.is_categorical and not f.imputes]
    damage = [(names[0], value) for names, value in ((numeric, NOT_A_NUMBER), (categorical, NEW_CATEGORY)) if names]
    assert damage, "a dirty variant needs a feature that does not impute"
    return damage


def write_dirty(clean: Path, path: Path, config: ProjectConfig, *, seed: int) -> None:
    """Write the dirty variant of the batch `clean` to `path`, and its count of bad rows beside it."""
    data, bad = make_dirty(clean.read_bytes(), config, seed=seed)
    path.with_suffix(".partial").write_bytes(data)
    expected_path(path).write_text(json.dumps({"bad_rows": bad}))
    path.with_suffix(".partial").rename(path)


def expected_path(path: Path) -> Path:
    return path.with_suffix(".expected.json")


def bad_rows(path: Path) -> int:
    """How many rows of the dirty batch at `path` are bad (written with it)."""
    return int(json.loads(expected_path(path).read_text())["bad_rows"])


def naive_frame(data: Path, config: ProjectConfig) -> pd.DataFrame:
    """What a user's pandas script scores of a dirty file: read_csv; numbers that do not parse become NaN
    (pd.to_numeric's coerce) and their rows are dropped where the model has no imputer for them; a blank
    category is given the pipeline's missing category; no report of what was dropped or why."""
    import pandas as pd

    from mlops_core.config import MISSING_CATEGORY

    frame = pd.read_csv(data, dtype={f.name: str for f in config.features if not f.is_numeric})
    for f in config.features:
        if f.is_numeric:
            frame[f.name] = pd.to_numeric(frame[f.name], errors="coerce")
        elif f.imputes:  # the vectorizer takes a blank text as an empty one, not as NaN
            frame[f.name] = frame[f.name].fillna(MISSING_CATEGORY if f.is_categorical else "")
    return frame.dropna(subset=[f.name for f in config.features if f.is_numeric and not f.imputes])


def _read_text(data: bytes) -> pd.DataFrame:
    import pandas as pd

    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)  # every cell kept as written
