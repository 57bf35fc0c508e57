"""Reading an imputing numeric column (mlops_core.data.cells.numbers): the quick reading of empty cells and
numbers must give what the general one gives (the reading both paths had before it), cell for cell.

The fast path and the precise path both call `numbers`, so the same chunks from both readers on blocks
with blanks are checked too (besides test_fastpath.py's random blocks).
"""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops_core.config import Feature
from mlops_core.data import cells
from mlops_core.data.cells import numbers
from mlops_core.data.convert import convert_rows
from mlops_core.data.fastpath import fast_chunk
from mlopsctl.datagen import generate

from .test_fastpath import BLANKS, CELLS, forgiving

IMPUTED = ("monthly_charges", "data_usage_gb", "payment_method")


def general_reading(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """`numbers` for an imputing feature as it read every column before the quick reading: white space
    stripped from every cell, the cells copied to fixed-width text and cast to float64."""
    text = np.asarray(values, dtype=np.str_)
    blank = ~(pd.Series(text, dtype=object).str.strip().str.len() > 0).to_numpy()
    return np.where(blank, "nan", text).astype(np.float64), blank


def outcome(read: Any, values: list[str]) -> Any:
    """The values and blank mask (with each value's sign, which == cannot see), or the error raised."""
    try:
        out, blank = read(values)
    except ValueError:
        return "ValueError"
    return np.isnan(out).tolist(), np.where(np.isnan(out), 0.0, out).tobytes(), blank.tolist()


@pytest.fixture
def imputing(config) -> Any:
    return dataclasses.replace(next(f for f in config.features if f.is_numeric), missing="impute")


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(CELLS, BLANKS, st.text(max_size=6)), max_size=8))
def test_given_any_cells_then_numbers_reads_them_as_the_general_reading_does(imputing, values):
    assert outcome(lambda v: numbers(v, imputing), values) == outcome(general_reading, values)


@pytest.mark.parametrize(
    "values",
    [
        ["1", "", "2.5", ""],
        ["", "", ""],
        ["-0", "1_000", " 1.5 ", "\u0663", "1e309", "nan", "-inf", ".5", "5."],
        ["1", " ", "2"],  # white space alone: blank
        ["1", "\t", ""],
        ["1", "x", ""],  # not a number: ValueError, as before
        ["1\x00", "\x00", ""],
        [],
    ],
)
def test_given_edge_cells_then_numbers_reads_them_as_the_general_reading_does(imputing, values):
    assert outcome(lambda v: numbers(v, imputing), values) == outcome(general_reading, values)


def test_given_numbers_and_empty_cells_then_no_cell_is_stripped(imputing, monkeypatch):
    monkeypatch.setattr(cells, "blank_cells", lambda _values: pytest.fail("every cell stripped"))

    out, blank = numbers(np.array(["1", "", "2.5"], dtype=object), imputing)

    assert blank.tolist() == [False, True, False]
    assert np.isnan(out).tolist() == [False, True, False] and out[[0, 2]].tolist() == [1.0, 2.5]


def test_given_empty_white_and_filled_cells_then_blank_cells_marks_those_strip_empties():
    values = ["", " ", "\t\n", "a", " a ", "\u00a0", "\u3000", "", "\x00", "0"]

    blank = cells.blank_cells(np.array(values, dtype=object))

    assert blank.tolist() == [v.strip() == "" for v in values]
    assert cells.blank_cells(np.array([], dtype=object)).tolist() == []


def blanked_block(rows: int, *, seed: int) -> tuple[list[str], list[list[str]]]:
    """Generated churn rows (no label) with a tenth of the IMPUTED cells made empty: header and rows."""
    header, *body = list(csv.reader(io.StringIO(generate(rows, seed=seed, with_label=False).decode())))
    rng = np.random.default_rng(seed)
    for name in IMPUTED:
        column = header.index(name)
        for i in np.flatnonzero(rng.random(len(body)) < 0.1).tolist():
            body[i][column] = ""
    return header, body


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_given_a_block_with_blanks_then_the_fast_path_takes_it_and_gives_convert_rows_chunk(config, seed):
    features = tuple(dataclasses.replace(f, missing="impute") if f.name in IMPUTED else f for f in config.features)
    header, rows = blanked_block(2_000, seed=seed)
    data = "".join(",".join(row) + "\n" for row in rows).encode()

    chunk = fast_chunk(data, header, features=features, label=None, task=None, max_field_chars=1000)
    precise = convert_rows(header, rows, first_row=1, features=features, label=None, max_field_chars=1000)

    assert chunk is not None and not precise.errors and len(chunk) == len(precise) == 2_000
    for name, values in precise.columns.items():
        np.testing.assert_array_equal(values, chunk.columns[name], err_msg=name)
    assert np.isnan(chunk.columns["monthly_charges"]).any() and (chunk.columns["payment_method"] == "").any()


def test_given_forgiving_features_then_a_blanked_block_is_read_alike(config):
    header, rows = blanked_block(500, seed=4)
    rows[3][1], rows[7][2] = " ", "\t"  # white space alone in imputing numeric columns
    features = forgiving(config.features)
    data = "".join(",".join(row) + "\n" for row in rows).encode()

    chunk = fast_chunk(data, header, features=features, label=None, task=None, max_field_chars=1000)
    precise = convert_rows(header, rows, first_row=1, features=features, label=None, max_field_chars=1000)

    assert chunk is not None and not precise.errors
    for name, values in precise.columns.items():
        np.testing.assert_array_equal(values, chunk.columns[name], err_msg=name)
    assert np.isnan(chunk.columns["tenure_months"][3]) and np.isnan(chunk.columns["monthly_charges"][7])


CATEGORY_CELLS = st.sampled_from(["card", "bank-transfer", "", " ", "Card", "card ", "cash", "NA", "\u00e9"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(CATEGORY_CELLS, min_size=1, max_size=cells.SMALL_COLUMN),
    st.sampled_from(["reject", "impute"]),
    st.sampled_from(["reject", "score"]),
)
def test_given_a_small_categorical_column_then_the_set_lookup_refuses_what_the_index_lookup_does(
    values, missing, unknown
):
    """Up to SMALL_COLUMN cells (an online request) are looked up in a set, more in a pandas index: the same
    column and the same refusals, cell for cell (the large column repeats the small one past the bound)."""
    feature = Feature("payment_method", "categorical", ("card", "bank-transfer"), missing=missing, unknown=unknown)
    small = cells.categories(values, feature)
    repeats = cells.SMALL_COLUMN // len(values) + 1
    large = cells.categories(values * repeats, feature)
    for got, expected in zip(small, large, strict=True):
        assert got.tolist() == expected[: len(values)].tolist()
