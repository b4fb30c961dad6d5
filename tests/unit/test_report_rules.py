"""Small-cell suppression and the report's period (app.domain.report_rules)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.report_rules import (
    MAX_PERIOD_DAYS,
    Cell,
    PeriodRefused,
    breakdown,
    median,
    period,
    published,
)

VALUES = ["a", "b", "c", "d"]


def counts_of(cells: list[Cell]) -> list[int | None]:
    return [c.count for c in cells]


def test_a_count_below_k_is_suppressed_zero_included() -> None:
    assert published(5, 5) == 5
    assert published(4, 5) is None
    assert published(0, 5) is None


def test_every_value_is_listed_in_order_and_a_missing_one_counts_zero() -> None:
    cells = breakdown({"c": 7, "a": 9}, VALUES, 5, None)
    assert [c.value for c in cells] == VALUES
    assert counts_of(cells) == [9, None, 7, None]
    assert [c.suppressed for c in cells] == [False, True, False, True]


def test_a_lone_suppressed_cell_under_a_published_total_takes_the_smallest_with_it() -> None:
    # a 9, b 2, c 6, d 8 (total 25): b alone would be 25 - 9 - 6 - 8.
    cells = breakdown({"a": 9, "b": 2, "c": 6, "d": 8}, VALUES, 5, 25)
    assert counts_of(cells) == [9, None, None, 8]


def test_no_complement_without_a_published_total() -> None:
    cells = breakdown({"a": 9, "b": 2, "c": 6, "d": 8}, VALUES, 5, None)
    assert counts_of(cells) == [9, None, 6, 8]


def test_two_suppressed_cells_need_no_complement() -> None:
    cells = breakdown({"a": 9, "b": 2, "c": 0, "d": 8}, VALUES, 5, 19)
    assert counts_of(cells) == [9, None, None, 8]


def test_ties_for_the_complement_take_the_first() -> None:
    cells = breakdown({"a": 6, "b": 1, "c": 6, "d": 9}, VALUES, 5, 22)
    assert counts_of(cells) == [None, None, 6, 9]


@given(
    counts=st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=8),
    k=st.integers(min_value=3, max_value=12),
)
def test_what_is_published_never_points_at_fewer_than_k(counts: list[int], k: int) -> None:
    values = [f"v{i}" for i in range(len(counts))]
    total = sum(counts)
    shown = published(total, k)
    cells = breakdown(dict(zip(values, counts, strict=True)), values, k, shown)
    for cell, n in zip(cells, counts, strict=True):
        assert cell.count is None or cell.count == n >= k  # published: exact and at least k
    if shown is None:
        assert all(c.suppressed for c in cells)  # under a suppressed total, nothing shows
    hidden = [c for c in cells if c.suppressed]
    if shown is not None and len(cells) > 1:
        # The total minus the published cells is never one cell's own count.
        assert len(hidden) != 1


def test_a_median_needs_k_values() -> None:
    assert median(12.345, 5, 5) == 12.3
    assert median(12.345, 4, 5) is None
    assert median(None, 9, 5) is None


TODAY = date(2026, 12, 3)


def test_the_default_period_is_the_365_days_to_today() -> None:
    span = period(None, None, TODAY)
    assert (span.start, span.end, span.days) == (date(2025, 12, 4), TODAY, 365)
    assert period(None, date(2026, 6, 30), TODAY).start == date(2025, 7, 1)


def test_a_period_may_be_one_day_or_end_in_the_future() -> None:
    assert period(TODAY, TODAY, TODAY).days == 1
    assert period(TODAY, TODAY + timedelta(days=30), TODAY).days == 31


@pytest.mark.parametrize(
    ("start", "end", "loc"),
    [
        (date(2026, 2, 1), date(2026, 1, 31), "start"),
        (TODAY - timedelta(days=MAX_PERIOD_DAYS), TODAY, "start"),
    ],
)
def test_a_period_backwards_or_over_ten_years_is_refused(start: date, end: date, loc: str) -> None:
    with pytest.raises(PeriodRefused) as refused:
        period(start, end, TODAY)
    assert refused.value.loc == loc
    assert period(TODAY - timedelta(days=MAX_PERIOD_DAYS - 1), TODAY, TODAY).days == MAX_PERIOD_DAYS
