"""Drift with imputed blanks and new categories: blanks are not drift, new values are counted and named."""

from __future__ import annotations

import numpy as np

from mlops_core.config import Feature
from mlops_core.monitoring.bins import bin_counts, column_spec
from mlops_core.monitoring.drift import NEW_CATEGORIES_SHOWN, NewCategories, build_profile


def test_given_an_imputed_number_with_blanks_when_counted_then_the_blanks_are_in_no_bin():
    spec = column_spec(np.arange(100.0), categories=None, bins=4)

    counts = bin_counts(spec, np.asarray([1.0, np.nan, np.nan, 99.0]))

    assert counts.sum() == 2 and counts[-1] == 1  # before: the NaNs fell into the last bin


def test_given_an_imputed_category_when_profiled_then_its_blank_share_is_a_bin_of_its_own():
    feature = Feature(name="port", type="categorical", categories=("S", "C"), missing="impute")
    columns = {"port": np.asarray(["S", "S", "C", ""], dtype=object)}

    profile = build_profile(columns, [feature], np.full(4, 0.5), bins=4)

    assert profile["features"]["port"]["categories"] == ["S", "C", ""]
    assert profile["features"]["port"]["proportions"] == [0.5, 0.25, 0.25]


def test_given_new_values_over_chunks_when_reported_then_most_frequent_first_with_counts_and_bounded():
    new = NewCategories({"categories": ["S", "C"]})
    for _ in range(2):
        new.update(np.asarray(["S", "Z", "Z", "Y", "C", *[f"v{i}" for i in range(20)]], dtype=object))

    report = new.report()

    assert report[:2] == [{"value": "Z", "rows": 4}, {"value": "Y", "rows": 2}]
    assert len(report) == NEW_CATEGORIES_SHOWN and all(r["value"] not in ("S", "C") for r in report)
