"""The one drift rule: batch-size-aware thresholds, the verdict, and its agreement with the alarms."""

from __future__ import annotations

import dataclasses
import operator

import numpy as np
import pytest
from aws_cdk import aws_cloudwatch as cw
from scoring.metrics import metric_data

from infra.monitoring import ALARMS
from mlops_core import observability as obs
from mlops_core.config import DriftSettings, Feature
from mlops_core.monitoring.drift import DriftAccumulator, build_profile
from mlops_core.monitoring.quality import QualitySignal
from mlops_core.monitoring.verdict import Signal, judge, psi_threshold_for, verdict_line

FEATURES = [Feature("x", "numeric"), Feature("y", "numeric"), Feature("c", "categorical", ("a", "b", "c"))]
SETTINGS = DriftSettings(
    bins=10,
    min_rows=100,
    psi_threshold=0.2,
    drifted_share_threshold=0.3,
    prediction_psi_threshold=0.2,
    accuracy_floor=0.7,
    false_alarm_rate=0.05,
    min_effect_psi=0.02,
    reference_sample_rows=0,
)


def sample(rng: np.random.Generator, rows: int, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {
        "x": rng.normal(shift, 1.0, rows),
        "y": rng.normal(0.0, 1.0, rows),
        "c": rng.choice(np.asarray(["a", "b", "c"], dtype=object), rows, p=[0.5, 0.3, 0.2]),
    }


@pytest.fixture(scope="module")
def profile() -> dict:
    rng = np.random.default_rng(1)
    reference = sample(rng, 20_000)
    return build_profile(reference, FEATURES, rng.random(20_000), SETTINGS.bins)


def summary_of(profile: dict, columns: dict[str, np.ndarray], settings: DriftSettings = SETTINGS):
    accumulator = DriftAccumulator(profile)
    scores = np.random.default_rng(len(columns["x"])).random(len(columns["x"]))
    accumulator.update(columns, scores)
    return accumulator.summary(settings)


@pytest.mark.parametrize("rows", [200, 2_000, 20_000])
def test_given_clean_batches_of_any_size_when_judged_then_false_alarms_stay_near_the_configured_rate(profile, rows):
    rng = np.random.default_rng(rows)
    verdicts = [summary_of(profile, sample(rng, rows)).verdict for _ in range(200)]
    # 5% configured, Bonferroni over 4 signals: the observed rate must not exceed it beyond sampling noise.
    assert sum(verdicts) / len(verdicts) <= 0.08


def test_given_a_planted_mean_shift_when_judged_then_the_feature_is_drifted_and_named_first(profile):
    drift = summary_of(profile, sample(np.random.default_rng(5), 1_000, shift=0.5))
    assert drift.drifted_features[0] == "x"
    assert drift.drifted[0]["feature"] == "x" and drift.drifted[0]["score"] > 1
    assert drift.verdict is True and "x (PSI" in drift.reasons[0]


def test_given_a_million_rows_when_the_shift_is_negligible_then_the_minimum_effect_keeps_it_clean(profile):
    drift = summary_of(profile, sample(np.random.default_rng(6), 1_000_000, shift=0.02))
    assert drift.thresholds["x"] == SETTINGS.min_effect_psi
    assert drift.verdict is False


def test_given_the_psi_method_when_judged_then_the_fixed_threshold_applies_at_every_size():
    fixed = dataclasses.replace(SETTINGS, method="psi")
    for rows in (200, 1_000_000):
        assert (
            psi_threshold_for(batch_rows=rows, reference_rows=10_000, bins=10, signals=4, settings=fixed, fixed=0.2)
            == 0.2
        )


def test_given_more_rows_when_the_threshold_is_computed_then_it_shrinks_towards_the_minimum_effect():
    thresholds = [
        psi_threshold_for(batch_rows=n, reference_rows=50_000, bins=10, signals=7, settings=SETTINGS, fixed=0.2)
        for n in (200, 1_000, 10_000, 1_000_000)
    ]
    assert thresholds == sorted(thresholds, reverse=True)
    assert thresholds[0] > 0.1 and thresholds[-1] == SETTINGS.min_effect_psi


def test_given_a_feature_constant_in_the_reference_when_the_batch_varies_then_it_is_drifted():
    rng = np.random.default_rng(2)
    reference = {"x": np.full(5_000, 3.0), "y": rng.normal(size=5_000), "c": np.full(5_000, "a", dtype=object)}
    profile = build_profile(reference, FEATURES, rng.random(5_000), 10)
    batch = {"x": rng.normal(3.0, 1.0, 500), "y": rng.normal(size=500), "c": np.full(500, "a", dtype=object)}
    assert "x" in summary_of(profile, batch).drifted_features
    same = {**batch, "x": np.full(500, 3.0)}
    assert "x" not in summary_of(profile, same).drifted_features


def test_given_a_profile_from_an_older_version_when_judged_then_it_scores_with_a_note(profile):
    drift = summary_of(profile, sample(np.random.default_rng(3), 500))
    assert drift.verdict is not None and drift.performance is None and drift.multivariate is None
    assert any("predates" in note for note in drift.notes)


def _alarm_fires(metrics: list[dict]) -> set[str]:
    """The drift alarms (one per part of the verdict) a batch's published metrics put into ALARM (one period)."""
    config_drift = SETTINGS
    compare = {
        cw.ComparisonOperator.GREATER_THAN_THRESHOLD: operator.gt,
        cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD: operator.ge,
    }
    values = {m["MetricName"]: m["Value"] for m in metrics if len(m["Dimensions"]) == 1}
    fired = set()
    drift_signals = (
        obs.DRIFTED_FEATURE_SHARE,
        obs.PREDICTION_DRIFT_SCORE,
        obs.MULTIVARIATE_DRIFT_SCORE,
        obs.QUALITY_DRIFTED_FEATURES,
    )
    for spec in ALARMS:
        if spec.metric in drift_signals and spec.metric.name in values:
            config = type("Config", (), {"drift": config_drift})()
            if compare[spec.comparison](values[spec.metric.name], spec.threshold(config)):
                fired.add(spec.metric.name)
    return fired


@pytest.mark.parametrize("seed", range(60))
def test_given_any_batch_when_judged_then_the_verdict_and_the_alarms_agree(seed):
    rng = np.random.default_rng(seed)
    signals = [Signal(f"f{i}", float(rng.uniform(0, 0.3)), float(rng.uniform(0.05, 0.2))) for i in range(6)]
    prediction = Signal("prediction", float(rng.uniform(0, 0.3)), float(rng.uniform(0.05, 0.2)))
    auc_score = float(rng.uniform(0, 2))
    multivariate = {"auc": 0.5 + auc_score / 10, "score": auc_score, "drifted": auc_score > 1, "features": []}
    quality = [QualitySignal(f"f{i}", "missing", 50, 500, 0.1, 5_000, bool(rng.random() < 0.1)) for i in range(6)]
    fields = judge(
        rows=500,
        feature_signals=signals,
        prediction=prediction,
        multivariate=multivariate,
        settings=SETTINGS,
        quality=quality,
    )
    drift = {
        "worst_psi": max(s.psi for s in signals),
        "prediction_psi": prediction.psi,
        "multivariate": multivariate,
        "feature_psi": {s.name: s.psi for s in signals},
        **fields,
    }
    receipt = {"outcome": "scored", "scored": 500, "bad_rows": 0, "drift": drift}
    fired = _alarm_fires(metric_data(receipt, pipeline="p", min_labeled_rows=100))
    assert fields["verdict"] == bool(fired), (fields["reasons"], fired)
    assert len(fields["reasons"]) == len(fired)


def test_given_a_drifted_summary_when_printed_then_the_line_names_the_features_most_drifted_first(profile):
    drift = summary_of(profile, sample(np.random.default_rng(5), 1_000, shift=0.8)).to_dict()
    line = verdict_line(drift)
    assert line.startswith("drift: ") and "x (PSI" in line
    clean = summary_of(profile, sample(np.random.default_rng(9), 1_000)).to_dict()
    assert verdict_line(clean).startswith("no drift (closest: ")


def test_given_a_batch_where_a_numeric_feature_is_constant_when_judged_then_that_feature_is_drifted(profile):
    batch = {**sample(np.random.default_rng(8), 1_000), "y": np.full(1_000, 0.3)}
    drift = summary_of(profile, batch)
    assert drift.drifted_features[0] == "y"


def _thirty_features(drifted: int, *, multivariate: bool) -> dict:
    signals = [Signal(f"f{i:02d}", 0.3 if i < drifted else 0.01, 0.05) for i in range(30)]
    joint = {"auc": 0.9, "score": 4.0, "drifted": True, "features": [["f00", 0.4]]} if multivariate else None
    prediction = Signal("prediction", 0.01, 0.05)
    fields = judge(rows=5_000, feature_signals=signals, prediction=prediction, multivariate=joint, settings=SETTINGS)
    return {"rows": 5_000, "min_rows": 100, "feature_psi": {s.name: s.psi for s in signals}, **fields}


def test_given_4_of_30_features_drifted_and_the_joint_distribution_when_printed_then_the_line_names_the_4():
    line = verdict_line(_thirty_features(4, multivariate=True))

    assert line.startswith("drift: joint distribution changed")
    assert "4 of 30 features drifted, below the 30% of features a verdict needs: f00 (PSI 0.300 > 0.050)" in line
    assert all(f"f0{i} (PSI" in line for i in range(4)) and "f04" not in line


def test_given_2_of_30_features_drifted_and_nothing_else_when_printed_then_no_drift_names_them():
    line = verdict_line(_thirty_features(2, multivariate=False))

    assert line.startswith("no drift (2 of 30 features drifted, below the 30% of features a verdict needs: f00")


def test_given_enough_drifted_features_when_printed_then_they_are_named_once():
    line = verdict_line(_thirty_features(10, multivariate=False))

    assert line.startswith("drift: 10 of 30 features drifted: f00") and line.count("f00") == 1


def test_given_only_a_quality_break_among_30_features_when_printed_then_its_reason_names_it_once():
    signals = [Signal(f"f{i:02d}", 0.01, 0.05) for i in range(30)]
    blanked = QualitySignal("f07", "missing", 1_000, 1_000, 0.2, 5_000, changed=True)
    fields = judge(
        rows=1_000,
        feature_signals=signals,
        prediction=Signal("prediction", 0.01, 0.05),
        multivariate=None,
        settings=SETTINGS,
        quality=[blanked],
    )

    line = verdict_line({"rows": 1_000, "feature_psi": {s.name: s.psi for s in signals}, **fields})

    assert line == "drift: data quality: f07: 100% missing (reference 20%)"
    assert fields["drifted_features"] == ["f07"] and fields["drifted_share"] == pytest.approx(1 / 30, abs=1e-4)
