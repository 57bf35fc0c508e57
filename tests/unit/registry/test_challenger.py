"""Champion/challenger: the rows' assignment, the evidence and its tests, and the rule (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mlops_core.config import PromotionSettings
from mlops_core.config.errors import ConfigError
from mlops_core.modeling.predictions import Predictions
from mlops_core.registry.challenger import (
    Evidence,
    challenger_rows,
    paired_evidence,
    rule,
    significance,
    unpaired_evidence,
)


def _classes(predicted: np.ndarray) -> Predictions:
    labels = np.asarray([str(v) for v in predicted], dtype=object)
    return Predictions(labels, np.column_stack([1 - predicted, predicted]).astype(float), positive=1)


def _values(predicted: np.ndarray) -> Predictions:
    return Predictions(np.asarray(predicted, dtype=np.float64), None)


def _labels(values: np.ndarray) -> np.ndarray:
    return np.asarray([str(v) for v in values], dtype=object)


RULE = {"confidence": 0.95, "min_rows": 100, "max_rows": 5000}


def test_given_ids_when_assigned_twice_then_the_same_rows_and_about_the_share():
    ids = [f"C{i:08d}" for i in range(20_000)]
    first, again = challenger_rows(ids, 0.2), challenger_rows(list(reversed(ids)), 0.2)[::-1]
    assert (first == again).all()  # a row's model depends on its id only, not on its place or batch
    assert abs(first.mean() - 0.2) < 0.01


def test_given_batches_when_their_evidence_is_added_then_it_equals_the_evidence_of_all_rows():
    rng = np.random.default_rng(1)
    truth, a, b = (rng.integers(0, 2, 300) for _ in range(3))
    whole = paired_evidence(_labels(truth), _classes(a), _classes(b))
    parts = [
        paired_evidence(_labels(truth[s]), _classes(a[s]), _classes(b[s])) for s in (slice(0, 120), slice(120, 300))
    ]
    assert parts[0] + parts[1] == whole
    assert whole.only_challenger_right == int(((a != truth) & (b == truth)).sum())
    assert Evidence.from_dict(whole.to_dict()) == whole


def test_given_paired_errors_then_the_test_is_scipys_paired_t_test_on_the_rows():
    rng = np.random.default_rng(2)
    truth = rng.normal(0, 1, 400)
    champion, challenger = truth + rng.normal(0, 1.0, 400), truth + rng.normal(0, 0.9, 400)
    evidence = paired_evidence(truth, _values(champion), _values(challenger))
    test = significance(evidence, mode="shadow", classification=False)
    a, b = np.abs(truth - champion), np.abs(truth - challenger)
    assert test.p_better == pytest.approx(stats.ttest_rel(a, b, alternative="greater").pvalue, rel=1e-6)
    assert test.p_worse == pytest.approx(stats.ttest_rel(a, b, alternative="less").pvalue, rel=1e-6)


def test_given_two_samples_of_errors_then_the_test_is_scipys_welch_test_on_the_rows():
    rng = np.random.default_rng(3)
    t1, t2 = rng.normal(0, 1, 300), rng.normal(0, 1, 200)
    p1, p2 = t1 + rng.normal(0, 1.0, 300), t2 + rng.normal(0, 1.3, 200)
    evidence = unpaired_evidence(t1, _values(p1), t2, _values(p2))
    test = significance(evidence, mode="split", classification=False)
    a, b = np.abs(t1 - p1), np.abs(t2 - p2)
    assert test.p_worse == pytest.approx(stats.ttest_ind(b, a, equal_var=False, alternative="greater").pvalue)
    assert test.p_better == pytest.approx(stats.ttest_ind(b, a, equal_var=False, alternative="less").pvalue)


def test_given_two_accuracies_then_the_z_test_agrees_with_a_chi_square_test_of_the_table():
    evidence = Evidence(champion_rows=800, challenger_rows=700, champion_sum=560, challenger_sum=525)
    test = significance(evidence, mode="split", classification=True)
    table = [[560, 240], [525, 175]]
    chi2 = stats.chi2_contingency(table, correction=False).pvalue
    assert 2 * min(test.p_better, test.p_worse) == pytest.approx(chi2)
    assert test.p_better < test.p_worse  # 75% beats 70%


def test_given_discordant_rows_then_mcnemars_exact_test_counts_only_them():
    evidence = Evidence(champion_rows=1000, challenger_rows=1000, only_champion_right=10, only_challenger_right=25)
    test = significance(evidence, mode="shadow", classification=True)
    assert test.p_better == pytest.approx(stats.binom.sf(24, 35, 0.5))
    assert test.p_worse == pytest.approx(stats.binom.sf(9, 35, 0.5))
    assert test.p_better < 0.05 < test.p_worse


def test_given_fewer_labeled_rows_than_the_minimum_then_the_rule_waits_however_clear_the_difference():
    evidence = Evidence(champion_rows=99, challenger_rows=99, only_challenger_right=50)
    ruling = rule(evidence, mode="shadow", classification=True, **RULE)
    assert ruling.action == "continue" and ruling.test is None
    assert "waiting for 100 labeled rows per model" in ruling.reasons[1]


@pytest.mark.parametrize(
    ("champion_right", "challenger_right", "action"),
    [(5, 40, "promote"), (40, 5, "retire"), (20, 22, "continue")],
)
def test_given_evidence_when_ruled_then_better_promotes_worse_retires_and_a_tie_waits(
    champion_right, challenger_right, action
):
    evidence = Evidence(
        champion_rows=1000,
        challenger_rows=1000,
        champion_sum=800 + champion_right,
        challenger_sum=800 + challenger_right,
        only_champion_right=champion_right,
        only_challenger_right=challenger_right,
    )
    ruling = rule(evidence, mode="shadow", classification=True, **RULE)
    assert ruling.action == action
    assert ruling.test is not None and ruling.test.name == "McNemar exact"
    assert "p(challenger better)" in ruling.reasons[1]


def test_given_no_difference_after_the_most_rows_then_the_challenger_is_retired_and_the_champion_stays():
    evidence = Evidence(champion_rows=5000, challenger_rows=5000, only_champion_right=30, only_challenger_right=31)
    ruling = rule(evidence, mode="shadow", classification=True, **RULE)
    assert ruling.action == "retire" and "the champion stays" in ruling.reasons[-1]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"challenger": "canary"}, "off, shadow or split"),
        ({"challenger": "split"}, "challenger_id_column"),
        ({"challenger": "shadow", "challenger_share": 1.5}, "challenger_share"),
        ({"challenger": "shadow", "challenger_confidence": 0.3}, "challenger_confidence"),
        ({"challenger": "shadow", "challenger_min_rows": 600, "challenger_max_rows": 500}, "challenger_min_rows"),
    ],
)
def test_given_a_challenger_setting_out_of_range_then_the_config_is_refused_naming_it(settings, message):
    with pytest.raises(ConfigError, match=message):
        PromotionSettings(metric="roc_auc", tolerance=0.01, floor=0.6, **settings)
