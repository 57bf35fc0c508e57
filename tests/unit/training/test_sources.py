"""How much feedback a training run may use (training/sources.py): the bounds hold against the run's own rows,
and nothing more than the bounds is left out (property-based)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from training.sources import feedback_allowance

shares = st.floats(min_value=0.0, max_value=1.0)


@given(
    curated=st.integers(0, 5_000),
    feedback=st.lists(st.integers(0, 2_000), max_size=30),
    feedback_share=shares,
    file_share=shares,
)
def test_given_any_sources_then_feedback_and_each_file_stay_within_their_share_of_the_run(
    curated, feedback, feedback_share, file_share
):
    allowed = feedback_allowance(curated, feedback, max_feedback_share=feedback_share, max_file_share=file_share)
    total = curated + sum(allowed)
    assert all(0 <= a <= f for a, f in zip(allowed, feedback, strict=True))
    assert sum(allowed) <= feedback_share * total + 1e-6
    assert all(a <= file_share * total + 1e-6 for a in allowed)


@given(
    curated=st.integers(0, 5_000),
    feedback=st.lists(st.integers(0, 2_000), max_size=30),
    feedback_share=shares,
    file_share=shares,
)
def test_given_any_sources_then_one_more_feedback_row_would_break_a_bound(
    curated, feedback, feedback_share, file_share
):
    allowed = feedback_allowance(curated, feedback, max_feedback_share=feedback_share, max_file_share=file_share)
    total = curated + sum(allowed) + 1
    for i, (a, f) in enumerate(zip(allowed, feedback, strict=True)):
        if a < f:  # a row of this file was left out: adding it must break one of the bounds
            more = [*allowed[:i], a + 1, *allowed[i + 1 :]]
            assert sum(more) > feedback_share * total + 1e-9 or a + 1 > file_share * total + 1e-9


def test_given_twenty_uploads_beside_curated_data_then_they_weigh_half_of_the_run_at_most():
    allowed = feedback_allowance(2_000, [300] * 20, max_feedback_share=0.5, max_file_share=0.1)
    assert sum(allowed) == 2_000 and all(a <= 400 for a in allowed)


def test_given_no_bounds_then_every_feedback_row_is_used():
    assert feedback_allowance(100, [50, 60], max_feedback_share=1.0, max_file_share=1.0) == [50, 60]


def test_given_no_curated_rows_and_a_feedback_bound_then_no_feedback_is_used():
    assert feedback_allowance(0, [500, 500], max_feedback_share=0.5, max_file_share=1.0) == [0, 0]
