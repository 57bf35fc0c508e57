"""`positions`: each value's place among the known ones, as a dictionary would say, whatever the values are."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from mlops_core.lookup import positions

KNOWN = ["month-to-month", "one-year", "two-year", ""]
cells = st.one_of(st.sampled_from(KNOWN), st.text(max_size=5), st.none(), st.floats(allow_nan=True))


@given(st.lists(cells, max_size=60))
def test_given_any_cells_then_positions_are_a_dictionarys_and_minus_one_outside(values):
    index = {value: i for i, value in enumerate(KNOWN)}
    expected = [index.get(v, -1) if isinstance(v, str) else -1 for v in values]
    assert positions(pd.Index(KNOWN, dtype=object), values).tolist() == expected


def test_given_an_object_array_or_a_list_then_the_same_positions():
    values = np.array(["two-year", "weekly", "one-year", None], dtype=object)
    known = pd.Index(KNOWN, dtype=object)
    assert positions(known, values).tolist() == positions(known, list(values)).tolist() == [2, -1, 1, -1]
