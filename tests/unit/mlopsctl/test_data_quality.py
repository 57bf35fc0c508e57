"""`mlops score`'s and the HTML report's data quality: shares against the reference, the flag, the new values."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_core.config import DriftSettings, Feature
from mlops_core.monitoring.drift import DriftAccumulator, build_profile
from mlopsctl.data_quality import quality_lines, quality_table

SETTINGS = DriftSettings(
    bins=10, min_rows=100, psi_threshold=0.2, drifted_share_threshold=0.3, prediction_psi_threshold=0.2
)
FEATURES = [
    Feature("age", "numeric", missing="impute"),
    Feature("fare", "numeric"),
    Feature("plan", "categorical", ("basic", "plus"), unknown="score"),
]


def columns(rows: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    age = np.where(rng.random(rows) < 0.2, np.nan, rng.normal(40, 10, rows))
    plans = rng.choice(np.asarray(["basic", "plus"], dtype=object), rows)
    return {"age": age, "fare": rng.exponential(30, rows), "plan": plans}


@pytest.fixture(scope="module")
def profile() -> dict:
    return build_profile(columns(5_000, 1), FEATURES, np.random.default_rng(2).random(5_000), bins=10)


def report_of(profile: dict, batch: dict[str, np.ndarray]) -> dict:
    accumulator = DriftAccumulator(profile)
    accumulator.update(batch, np.random.default_rng(3).random(len(batch["age"])))
    return accumulator.summary(SETTINGS).to_dict()


def test_given_a_blanked_column_and_a_new_category_when_shown_then_each_feature_has_its_shares_and_the_flag(profile):
    batch = {**columns(1_000, 4), "age": np.full(1_000, np.nan)}
    batch["plan"][:250], batch["plan"][250:260] = "weekly", "daily"

    lines = quality_lines(report_of(profile, batch))

    age = next(line for line in lines if "age:" in line)
    assert age.startswith("  ! age: missing 100.0% (reference 2") and "outside the reference range 0.0%" in age
    plan = next(line for line in lines if "plan:" in line)
    assert "! plan: missing 0.0% (reference 0.0%); unknown 26.0% (reference 0.0%)" in plan
    assert plan.endswith("new values: weekly (250), daily (10)")
    assert not any("fare" in line for line in lines)  # nothing to say: never blank, no value out of range here


def test_given_a_clean_batch_when_shown_then_the_imputed_feature_shows_its_share_unflagged(profile):
    lines = quality_lines(report_of(profile, columns(1_000, 5)))

    assert any(line.startswith("    age: missing 1") or line.startswith("    age: missing 2") for line in lines)
    assert not any(line.lstrip().startswith("!") for line in lines)


def test_given_a_report_from_before_data_quality_when_shown_then_no_lines_and_no_table():
    assert quality_lines({"verdict": False, "rows": 500}) == []
    assert quality_table({"verdict": False, "rows": 500}) == ""


def test_given_a_feature_name_with_markup_when_tabled_then_it_is_escaped(profile):
    drift = report_of(profile, {**columns(500, 6), "age": np.full(500, np.nan)})
    drift["quality"] = {"<b>age</b>": drift["quality"]["age"]}
    drift["quality_drifted_features"] = ["<b>age</b>"]

    table = quality_table(drift)

    assert "&lt;b&gt;age&lt;/b&gt; <b>(changed)</b>" in table and "<td>100.0% (reference" in table
