"""Data quality as a drift signal: the size-aware rule on missing and unknown shares, its false alarms on clean
batches of 100 to 1M rows, its detection of a blanked column, and its way into the one verdict."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mlops_core.config import DriftSettings, Feature
from mlops_core.monitoring.drift import DriftAccumulator, build_profile
from mlops_core.monitoring.quality import share_changed, share_p_value
from mlops_core.monitoring.verdict import verdict_line

SETTINGS = DriftSettings(
    bins=10,
    min_rows=100,
    psi_threshold=0.2,
    drifted_share_threshold=0.3,
    prediction_psi_threshold=0.2,
    false_alarm_rate=0.01,
    reference_sample_rows=0,
)
SIZES = [100, 1_000, 10_000, 100_000, 1_000_000]
REFERENCE_ROWS = 5_000
SHARES = [0.0, 0.01, 0.05, 0.2, 0.5]  # one judged share per feature of a simulated batch
REPETITIONS = 2_000


def changed(count: int, rows: int, share: float, *, signals: int = 1, settings: DriftSettings = SETTINGS) -> bool:
    return share_changed(
        batch_count=count,
        batch_rows=rows,
        reference_share=share,
        reference_rows=REFERENCE_ROWS,
        signals=signals,
        settings=settings,
    )


def false_alarm_rate(rows: int, settings: DriftSettings, *, reference_drawn: bool) -> float:
    """The share of clean batches (every judged share as in training) where any of the SHARES is called changed.

    `reference_drawn`: the reference is a sample of the same population too; otherwise the batch is drawn
    at the reference's own observed share."""
    rng = np.random.default_rng(rows + reference_drawn)
    alarms = np.zeros(REPETITIONS, dtype=bool)
    for share in SHARES:
        reference = rng.binomial(REFERENCE_ROWS, share, REPETITIONS) / REFERENCE_ROWS
        truth = np.full(REPETITIONS, share) if reference_drawn else reference
        batch = rng.binomial(rows, truth)
        pairs = zip(batch.tolist(), reference.tolist(), strict=True)
        alarms |= [changed(k, rows, r, signals=len(SHARES), settings=settings) for k, r in pairs]
    return float(alarms.mean())


@pytest.mark.parametrize("rows", SIZES)
@pytest.mark.parametrize("reference_drawn", [True, False])
@pytest.mark.parametrize("min_effect_share", [0.0, 0.02])
def test_given_clean_batches_of_100_to_1m_rows_when_judged_then_false_alarms_stay_under_the_configured_rate(
    rows, reference_drawn, min_effect_share
):
    settings = dataclasses.replace(SETTINGS, min_effect_share=min_effect_share)

    rate = false_alarm_rate(rows, settings, reference_drawn=reference_drawn)

    # 1% configured over 5 signals (Bonferroni); 2,000 batches: 3 standard errors above it is 1.67%.
    assert rate <= 0.015, rate


@pytest.mark.parametrize("rows", SIZES)
@pytest.mark.parametrize("signals", [1, 30, 300])
def test_given_a_blanked_column_when_judged_then_it_is_flagged_at_every_batch_size(rows, signals):
    assert changed(rows, rows, 0.2, signals=signals)  # an upstream bug: every cell blank
    assert changed(rows, rows, 0.0, signals=signals)  # a column never blank in training


@pytest.mark.parametrize("rows", [200, *SIZES[2:]])
def test_given_a_column_48_percent_blank_against_20_when_judged_then_it_is_flagged(rows):
    assert changed(round(0.48 * rows), rows, 0.2, signals=30)


@pytest.mark.parametrize("count", [201_000, 205_000, 215_000])  # 20.1%, 20.5%, 21.5% against 20%
def test_given_a_million_rows_when_the_share_moved_under_the_minimum_effect_then_it_is_not_flagged(count):
    rows = 1_000_000
    p = share_p_value(batch_count=count, batch_rows=rows, reference_count=2_000_000, reference_rows=10_000_000)
    assert count == 201_000 or p < SETTINGS.false_alarm_rate  # from half a point on, the test alone would flag it
    assert not share_changed(
        batch_count=count,
        batch_rows=rows,
        reference_share=0.2,
        reference_rows=10_000_000,
        signals=1,
        settings=SETTINGS,
    )


@pytest.mark.parametrize(("count", "rows"), [(0, 100), (20, 100), (1_000, 5_000), (3, 7)])
def test_given_the_reference_share_itself_when_judged_then_the_p_value_is_high_and_nothing_changed(count, rows):
    share = count / rows
    reference = round(share * REFERENCE_ROWS)

    p = share_p_value(batch_count=count, batch_rows=rows, reference_count=reference, reference_rows=REFERENCE_ROWS)

    no_minimum = dataclasses.replace(SETTINGS, min_effect_share=0.0)
    assert p > 0.5 and not changed(count, rows, reference / REFERENCE_ROWS, settings=no_minimum)


def test_given_an_empty_batch_when_judged_then_nothing_changed():
    assert share_p_value(batch_count=0, batch_rows=0, reference_count=1_000, reference_rows=5_000) == 1.0
    assert not changed(0, 0, 0.2, settings=dataclasses.replace(SETTINGS, min_effect_share=0.0))


def p_values(rows: int, reference: int, *, mirrored: bool = False) -> list[float]:
    """The p-value of every batch count 0..rows against `reference` of 50 rows (or both counted the other way)."""
    out = []
    for k in range(rows + 1):
        batch, ref = (rows - k, 50 - reference) if mirrored else (k, reference)
        out.append(share_p_value(batch_count=batch, batch_rows=rows, reference_count=ref, reference_rows=50))
    return out


@pytest.mark.parametrize("rows", [1, 5, 20])
@pytest.mark.parametrize("reference", [0, 1, 10, 50])
def test_given_every_small_case_when_judged_then_the_p_value_is_symmetric_and_falls_with_the_distance(rows, reference):
    values = p_values(rows, reference)

    assert all(0.0 <= v <= 1.0 for v in values)
    assert np.allclose(values, p_values(rows, reference, mirrored=True))  # blank counted as filled: the same
    peak, steps = int(np.argmax(values)), np.diff(values)
    assert (steps[:peak] >= -1e-12).all() and (steps[peak:] <= 1e-12).all()


FEATURES = [
    Feature("age", "numeric", missing="impute"),
    Feature("fare", "numeric"),
    Feature("plan", "categorical", ("basic", "plus"), unknown="score"),
]


def reference(rng: np.random.Generator, rows: int, *, blank_age: float = 0.2) -> dict[str, np.ndarray]:
    age = rng.normal(40, 10, rows)
    age[rng.random(rows) < blank_age] = np.nan
    return {
        "age": age,
        "fare": rng.exponential(30, rows),
        "plan": rng.choice(np.asarray(["basic", "plus"], dtype=object), rows),
    }


@pytest.fixture(scope="module")
def profile() -> dict:
    rng = np.random.default_rng(11)
    return build_profile(reference(rng, REFERENCE_ROWS), FEATURES, rng.random(REFERENCE_ROWS), bins=10)


def judged(profile: dict, columns: dict[str, np.ndarray]) -> dict:
    accumulator = DriftAccumulator(profile)
    accumulator.update(columns, np.random.default_rng(0).random(len(columns["age"])))
    return accumulator.summary(SETTINGS).to_dict()


def test_given_training_columns_when_profiled_then_each_feature_keeps_its_missing_share_unknown_share_and_range(
    profile,
):
    age, plan = profile["features"]["age"]["quality"], profile["features"]["plan"]["quality"]
    assert age["rows"] == REFERENCE_ROWS and 0.18 < age["missing_share"] < 0.22 and age["judged"] == ["missing"]
    assert age["min"] < 20 and age["max"] > 60
    assert profile["features"]["fare"]["quality"]["judged"] == []  # missing = "reject": blanks are bad rows
    assert plan["unknown_share"] == 0.0 and plan["judged"] == ["unknown"]


def test_given_an_upstream_bug_that_blanks_a_column_when_scored_then_the_verdict_names_it_with_both_shares(profile):
    batch = {**reference(np.random.default_rng(12), 1_000), "age": np.full(1_000, np.nan)}

    drift = judged(profile, batch)

    assert drift["verdict"] is True and drift["quality_drifted_features"] == ["age"]
    assert "age" in drift["drifted_features"] and drift["drifted_share"] == pytest.approx(1 / 3, abs=1e-4)
    ref = profile["features"]["age"]["quality"]["missing_share"]
    assert f"data quality: age: 100% missing (reference {ref:.0%})" in drift["reasons"]
    assert drift["quality"]["age"]["missing_share"] == 1.0
    # 1 of 3 features reaches drifted_share_threshold (0.3): both parts of the verdict name it, as both alarms fire.
    assert verdict_line(drift) == (
        f"drift: 1 of 3 features drifted: age (100% missing, reference {ref:.0%}); "
        f"data quality: age: 100% missing (reference {ref:.0%})"
    )


def test_given_a_batch_with_the_training_missing_share_when_scored_then_no_quality_drift(profile):
    drift = judged(profile, reference(np.random.default_rng(13), 2_000))

    assert drift["quality_drifted_features"] == [] and drift["verdict"] is False
    assert 0.17 < drift["quality"]["age"]["missing_share"] < 0.23
    assert drift["quality"]["age"]["outside_range_share"] < 0.01


def test_given_a_new_category_in_a_third_of_the_rows_when_scored_then_its_unknown_share_is_flagged_and_named(profile):
    batch = reference(np.random.default_rng(14), 900)
    batch["plan"][:300] = "weekly"

    drift = judged(profile, batch)

    assert any("plan: 33% unknown categories (reference 0%)" in r for r in drift["reasons"])
    assert drift["new_categories"]["plan"] == [{"value": "weekly", "rows": 300}]
    assert drift["quality"]["plan"]["unknown_share"] == pytest.approx(1 / 3, abs=1e-6)


def test_given_numbers_beyond_the_reference_range_when_scored_then_their_share_is_reported_not_judged(profile):
    batch = reference(np.random.default_rng(15), 1_000)
    batch["fare"][:100] = -5.0

    drift = judged(profile, batch)

    assert drift["quality"]["fare"]["outside_range_share"] == pytest.approx(0.1, abs=0.002)
    assert drift["quality_drifted_features"] == []


def test_given_a_profile_from_before_data_quality_when_scored_then_the_signal_is_absent_and_the_rest_judged(profile):
    old = {
        **profile,
        "features": {n: {k: v for k, v in s.items() if k != "quality"} for n, s in profile["features"].items()},
    }
    batch = {**reference(np.random.default_rng(16), 1_000), "age": np.full(1_000, np.nan)}

    drift = judged(old, batch)

    assert drift["quality"] == {} and drift["quality_drifted_features"] == []
    assert drift["verdict"] is not None and drift["feature_psi"].keys() == {"age", "fare", "plan"}
