"""Multivariate drift: the reference sample, the streaming batch sample and the domain classifier."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mlops_core.config import Feature
from mlops_core.monitoring import multivariate
from mlops_core.monitoring.multivariate import BatchSample, domain_classifier_drift, reference_sample

NUMERIC = [Feature(name, "numeric") for name in ("x1", "x2", "noise_a", "noise_b")]
PLAN = Feature("plan", "categorical", ("basic", "plus", "pro"))
FEATURES = [*NUMERIC, PLAN]
ROWS = 500  # a side: enough for clear verdicts, small enough for many seeds


def make_data(rng: np.random.Generator, rows: int, correlation: float = 0.9) -> dict[str, np.ndarray]:
    """x1, x2 standard normal with the given correlation; unrelated noise and a categorical plan."""
    x1 = rng.normal(size=rows)
    x2 = correlation * x1 + np.sqrt(1 - correlation**2) * rng.normal(size=rows)
    return {
        "x1": x1,
        "x2": x2,
        "noise_a": rng.normal(size=rows),
        "noise_b": rng.exponential(size=rows),
        "plan": rng.choice(np.array(PLAN.categories, dtype=object), size=rows, p=[0.5, 0.3, 0.2]),
    }


def drift(reference_columns, batch_columns, features=FEATURES, seed=0, **kwargs):
    reference = reference_sample(reference_columns, features, rows=ROWS, seed=seed)
    kwargs.setdefault("false_alarm_rate", 0.05)
    return domain_classifier_drift(reference, batch_columns, features, seed=seed, **kwargs)


def named(result) -> list[str]:
    return [name for name, _ in result["features"]]


# ---------------------------------------------------------------------------- the verdict
def test_given_a_batch_from_the_reference_distribution_when_compared_then_it_is_not_drifted():
    rng = np.random.default_rng(1)
    result = drift(make_data(rng, ROWS), make_data(rng, ROWS))
    assert result["drifted"] is False and result["score"] < 1
    assert 0.5 < result["threshold_auc"] < 0.6 and result["rows"] == {"reference": ROWS, "batch": ROWS}
    assert json.loads(json.dumps(result)) == result


def test_given_clean_batches_over_many_seeds_when_compared_then_false_alarms_match_the_configured_rate():
    alarms = 0
    for seed in range(30):
        rng = np.random.default_rng(100 + seed)
        alarms += drift(make_data(rng, ROWS), make_data(rng, ROWS), seed=seed)["drifted"]
    assert alarms <= 4  # 1.5 expected at 0.05; 5 or more has probability < 2% if calibrated


def test_given_an_auc_at_most_the_analytic_floor_then_the_permutations_are_skipped_and_every_verdict_is_the_same(
    monkeypatch,
):
    """The permutation threshold is never below the analytic floor, so a batch whose AUC is not above the floor
    cannot drift: skipping the 36 permutation fits there gives the verdict they would, batch for batch."""
    cases = []
    for seed in range(12):
        rng = np.random.default_rng(300 + seed)
        correlation = 0.9 if seed % 3 else -0.3  # mostly clean batches, some drifted
        cases.append((make_data(rng, ROWS), make_data(rng, ROWS, correlation), seed))
    skipping = [drift(ref, batch, seed=seed) for ref, batch, seed in cases]
    classify = multivariate._classify  # as before the skip: always permute, the threshold as it was
    monkeypatch.setattr(
        multivariate,
        "_classify",
        lambda *args, floor, ceiling: classify(*args, floor=float("-inf"), ceiling=float("inf")),
    )
    permuting = [drift(ref, batch, seed=seed) for ref, batch, seed in cases]
    assert [r["drifted"] for r in skipping] == [r["drifted"] for r in permuting]
    assert {r["threshold"] for r in permuting} == {"permutations"}
    skipped = [r for r in skipping if r["threshold"] == multivariate.NO_PERMUTATIONS]
    assert skipped and all(not r["drifted"] and r["score"] <= 1 for r in skipped)
    assert any(r["drifted"] for r in skipping)


def test_given_an_auc_above_the_ceiling_then_the_permutations_are_skipped_and_every_verdict_is_the_same(monkeypatch):
    """Above the ceiling no permutation threshold reaches: skipping them there gives their verdict, batch for
    batch, from clearly drifted batches to ones near the threshold; the permutations' thresholds stay far below
    the ceiling."""
    cases = []
    for seed in range(12):
        rng = np.random.default_rng(700 + seed)
        correlation = (-0.9, -0.3, 0.5, 0.9)[seed % 4]  # strong and weak flips, a milder change, clean
        cases.append((make_data(rng, ROWS), make_data(rng, ROWS, correlation), seed))
    skipping = [drift(ref, batch, seed=seed) for ref, batch, seed in cases]
    classify = multivariate._classify
    monkeypatch.setattr(
        multivariate, "_classify", lambda *args, floor, ceiling: classify(*args, floor=floor, ceiling=float("inf"))
    )
    permuting = [drift(ref, batch, seed=seed) for ref, batch, seed in cases]

    assert [r["drifted"] for r in skipping] == [r["drifted"] for r in permuting]
    above = [r for r in skipping if r["threshold"] == multivariate.ABOVE_CEILING]
    assert above and all(r["drifted"] and r["score"] > 1 and r["features"] for r in above)
    assert any(r["threshold"] == "permutations" for r in skipping)  # the ones between floor and ceiling
    ceiling = multivariate._ceiling(ROWS, 0.05)
    thresholds = [r["threshold_auc"] for r in permuting if r["threshold"] == "permutations"]
    assert max(thresholds) < 0.5 + (ceiling - 0.5) / 2  # the ceiling is twice as far from chance as any


def test_given_batches_that_did_not_drift_then_no_feature_is_named_and_no_importance_is_computed(monkeypatch):
    """Permutation importance is most of a clean check's cost and would only name noise: it runs for drifted
    batches alone, whether the permutations ran (an AUC above the floor) or not."""
    calls = []
    separating_features = multivariate._separating_features
    monkeypatch.setattr(
        multivariate, "_separating_features", lambda *a, **k: calls.append(1) or separating_features(*a, **k)
    )
    results = []
    for seed in range(8):
        rng = np.random.default_rng(500 + seed)
        results.append(drift(make_data(rng, ROWS), make_data(rng, ROWS), seed=seed))
    assert all(r["features"] == [] for r in results if not r["drifted"])
    assert calls == [1] * sum(r["drifted"] for r in results)
    assert {r["threshold"] != "permutations" for r in results} == {True, False}  # both ways to "not drifted"
    rng = np.random.default_rng(2)
    drifted = drift(make_data(rng, 5000, correlation=0.9), make_data(rng, ROWS, correlation=-0.9))
    assert drifted["drifted"] and named(drifted) and len(calls) == sum(r["drifted"] for r in results) + 1


def test_given_a_reversed_correlation_with_unchanged_marginals_when_compared_then_drifted_naming_both_features():
    rng = np.random.default_rng(2)
    reference, batch = make_data(rng, 5000, correlation=0.9), make_data(rng, ROWS, correlation=-0.9)
    result = drift(reference, batch)
    assert result["drifted"] is True and result["score"] > 1 and result["auc"] > 0.8
    assert set(named(result)[:2]) == {"x1", "x2"}
    assert all(importance > 0 for _, importance in result["features"]) and len(result["features"]) <= 5


def test_given_one_feature_shifted_when_compared_then_drifted_naming_it_first():
    rng = np.random.default_rng(3)
    batch = make_data(rng, ROWS)
    batch["noise_a"] = batch["noise_a"] + 0.75
    result = drift(make_data(rng, 5000), batch)
    assert result["drifted"] is True and named(result)[0] == "noise_a"


def test_given_a_categorical_feature_whose_mix_changed_when_compared_then_drifted_naming_it():
    rng = np.random.default_rng(4)
    batch = make_data(rng, ROWS)
    batch["plan"] = rng.choice(np.array(PLAN.categories, dtype=object), size=ROWS, p=[0.2, 0.3, 0.5])
    result = drift(make_data(rng, 5000), batch)
    assert result["drifted"] is True and named(result)[0] == "plan"


def test_given_a_category_the_reference_never_saw_when_compared_then_it_counts_as_drift():
    rng = np.random.default_rng(5)
    batch = make_data(rng, ROWS)
    batch["plan"][: ROWS // 2] = "enterprise"
    result = drift(make_data(rng, 5000), batch)
    assert result["drifted"] is True and named(result)[0] == "plan"


def test_given_features_constant_on_both_sides_when_compared_then_no_crash_and_they_are_not_named():
    rng = np.random.default_rng(6)
    reference, batch = make_data(rng, ROWS), make_data(rng, ROWS)
    for columns in (reference, batch):
        columns["noise_b"] = np.full(ROWS, 3.0)
        columns["plan"] = np.full(ROWS, "pro", dtype=object)
    result = drift(reference, batch)
    assert result["drifted"] is False and {"noise_b", "plan"}.isdisjoint(named(result))


def test_given_every_feature_constant_when_compared_then_chance_level_and_no_feature_named():
    reference = {"x1": np.zeros(ROWS), "plan": np.full(ROWS, "basic", dtype=object)}
    features = [NUMERIC[0], PLAN]
    result = drift(reference, {name: values.copy() for name, values in reference.items()}, features=features)
    assert abs(result["auc"] - 0.5) < 0.01 and result["drifted"] is False and result["features"] == []


@pytest.mark.parametrize(("reference_rows", "batch_rows"), [(50, ROWS), (ROWS, 99)])
def test_given_too_few_rows_on_either_side_when_compared_then_skipped_with_the_reason(reference_rows, batch_rows):
    rng = np.random.default_rng(7)
    result = drift(make_data(rng, reference_rows), make_data(rng, batch_rows), min_rows=100)
    assert set(result) == {"skipped"}
    assert f"reference {reference_rows}" in result["skipped"] and f"batch {batch_rows}" in result["skipped"]


def test_given_unequal_sides_when_compared_then_the_larger_is_subsampled_to_the_smaller():
    rng = np.random.default_rng(8)
    result = drift(make_data(rng, ROWS), make_data(rng, 300))
    assert result["rows"] == {"reference": 300, "batch": 300}


def test_given_the_same_inputs_and_seed_when_compared_twice_then_the_result_is_the_same():
    rng = np.random.default_rng(9)
    reference, batch = make_data(rng, ROWS), make_data(rng, ROWS, correlation=0.5)
    assert drift(reference, batch, seed=3) == drift(reference, batch, seed=3)


@pytest.mark.parametrize("rate", [0.0, 0.5, 1.2])
def test_given_a_false_alarm_rate_outside_zero_to_a_half_when_compared_then_value_error(rate):
    rng = np.random.default_rng(10)
    with pytest.raises(ValueError, match="false_alarm_rate"):
        drift(make_data(rng, ROWS), make_data(rng, ROWS), false_alarm_rate=rate)


# ---------------------------------------------------------------------------- the reference sample
def test_given_rows_zero_when_sampling_the_reference_then_none():
    assert reference_sample(make_data(np.random.default_rng(11), 100), FEATURES, rows=0, seed=0) is None


def test_given_training_data_when_sampled_then_json_round_trips_with_rounded_numbers_and_string_categories():
    columns = make_data(np.random.default_rng(12), 1000)
    columns["x1"][0] = np.nan
    sample = reference_sample(columns, FEATURES, rows=200, seed=0)
    assert sample is not None
    assert json.loads(json.dumps(sample, allow_nan=False)) == sample
    assert sample["rows"] == 200 and all(len(values) == 200 for values in sample["columns"].values())
    assert all(isinstance(v, str) and v in PLAN.categories for v in sample["columns"]["plan"])
    numbers = [v for v in sample["columns"]["noise_a"] if v is not None]
    assert all(float(f"{v:.6g}") == v for v in numbers)
    # Rows stay whole: each sampled (x1, x2) pair is a pair of the training data.
    pairs = {(float(f"{a:.6g}"), float(f"{b:.6g}")) for a, b in zip(columns["x1"], columns["x2"], strict=True)}
    assert all(
        (a, b) in pairs for a, b in zip(sample["columns"]["x1"], sample["columns"]["x2"], strict=True) if a is not None
    )


def test_given_fewer_rows_than_asked_when_sampled_then_all_rows_are_kept():
    sample = reference_sample(make_data(np.random.default_rng(13), 50), FEATURES, rows=2000, seed=0)
    assert sample is not None and sample["rows"] == 50


# ---------------------------------------------------------------------------- the batch sample
def chunks_of(values: np.ndarray, sizes: list[int]):
    start = 0
    for size in sizes:
        part = values[start : start + size]
        yield {"n": part.astype(np.float64), "label": np.array([f"row-{int(v)}" for v in part], dtype=object)}
        start += size


BATCH_FEATURES = [Feature("n", "numeric"), Feature("label", "categorical", ("row-1",))]


def test_given_a_stream_in_chunks_when_sampled_then_at_most_size_rows_intact_and_uniform():
    values = np.arange(1, 10_001)
    means = []
    for seed in range(20):
        sample = BatchSample(BATCH_FEATURES, size=500, seed=seed)
        for chunk in chunks_of(values, [3000, 1, 999, 2500, 3500]):
            sample.update(chunk)
        columns = sample.columns()
        assert sample.rows == 500 and len(columns["n"]) == len(columns["label"]) == 500
        assert len(set(columns["n"].tolist())) == 500
        assert [f"row-{int(v)}" for v in columns["n"]] == columns["label"].tolist()
        means.append(columns["n"].mean())
    # The mean of 500 of 1..10000 drawn uniformly has sd ~127; of 20 such means, ~28.
    assert abs(np.mean(means) - 5000.5) < 100
    assert all(abs(m - 5000.5) < 600 for m in means)


def test_given_fewer_rows_than_size_when_sampled_then_every_row_is_kept():
    sample = BatchSample(BATCH_FEATURES, size=500, seed=0)
    for chunk in chunks_of(np.arange(1, 301), [100, 200]):
        sample.update(chunk)
    assert sample.rows == 300 and sorted(sample.columns()["n"].tolist()) == list(range(1, 301))


def test_given_the_same_seed_when_the_stream_is_cut_differently_then_the_sample_is_the_same():
    values = np.arange(1, 5001)
    samples = []
    for sizes in ([5000], [1000] * 5, [1, 2499, 2500]):
        sample = BatchSample(BATCH_FEATURES, size=200, seed=7)
        for chunk in chunks_of(values, sizes):
            sample.update(chunk)
        samples.append(sorted(sample.columns()["n"].tolist()))
    assert samples[0] == samples[1] == samples[2]


def test_given_size_zero_when_sampled_then_nothing_is_kept():
    sample = BatchSample(BATCH_FEATURES, size=0, seed=0)
    sample.update(next(chunks_of(np.arange(10), [10])))
    assert sample.rows == 0 and all(len(v) == 0 for v in sample.columns().values())


def test_given_a_batch_sample_when_compared_with_a_reference_sample_then_the_two_fit_together():
    rng = np.random.default_rng(14)
    sample = BatchSample(FEATURES, size=ROWS, seed=0)
    for _ in range(4):
        sample.update(make_data(rng, 1000, correlation=-0.9))
    result = drift(make_data(rng, 5000), sample.columns())
    assert result["drifted"] is True and set(named(result)[:2]) == {"x1", "x2"}


def test_given_scores_with_ties_then_each_rows_auc_is_roc_auc_scores():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(4)
    truth = rng.integers(0, 2, 300)
    scores = np.round(rng.random((5, 300)) + 0.3 * truth, 1)  # rounded: many ties

    auc = multivariate._roc_auc(truth, scores)

    assert auc == pytest.approx([roc_auc_score(truth, row) for row in scores], abs=1e-12)
