"""Disclosure control for the reports and their period (app.domain.report_rules)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.report_rules import (
    EARLIEST_MONTH,
    MAX_MONTHS,
    ROUNDING,
    Cell,
    PeriodRefused,
    breakdown,
    median,
    month,
    period,
    published,
    rounded,
)


def test_counts_round_to_the_nearest_five_halves_up() -> None:
    assert [rounded(n) for n in (0, 2, 3, 5, 7, 8, 12, 13, 17, 18, 102)] == [
        0, 0, 5, 5, 5, 10, 10, 15, 15, 20, 100,
    ]  # fmt: skip


def test_a_count_below_k_is_suppressed_zero_included_and_the_rest_rounded() -> None:
    assert published(5, 5) == 5
    assert published(8, 5) == 10
    assert published(4, 5) is None
    assert published(0, 5) is None
    assert published(3, 3) == 5


def test_every_value_is_listed_in_order_and_a_missing_one_counts_zero() -> None:
    cells = breakdown({"c": 7, "a": 9}, ["a", "b", "c", "d"], 5)
    assert cells == [Cell("a", 10), Cell("b", None), Cell("c", 5), Cell("d", None)]
    assert [c.suppressed for c in cells] == [False, True, False, True]


@given(
    counts=st.lists(st.integers(min_value=0, max_value=60), min_size=2, max_size=8),
    k=st.integers(min_value=3, max_value=12),
)
def test_what_is_published_cannot_be_subtracted_back_to_a_small_count(
    counts: list[int], k: int
) -> None:
    """Every published count is a multiple of 5 within 2 of the truth, and never below k; so
    the total minus the published cells knows the hidden cells' sum only to within 2 for each
    published term, never exactly once a cell is published beside the total."""
    values = [f"v{i}" for i in range(len(counts))]
    cells = breakdown(dict(zip(values, counts, strict=True)), values, k)
    for cell, n in zip(cells, counts, strict=True):
        if cell.count is not None:
            assert n >= k and cell.count % ROUNDING == 0 and abs(cell.count - n) <= 2
    total = published(sum(counts), k)
    hidden = [n for c, n in zip(cells, counts, strict=True) if c.suppressed]
    if total is not None and hidden:
        shown = [c.count for c in cells if c.count is not None]
        slack = 2 * (1 + len(shown))  # each rounded term is off by at most 2
        assert abs(total - sum(shown) - sum(hidden)) <= slack


def test_a_median_needs_k_values_and_is_whole() -> None:
    assert median(12.6, 5, 5) == 13
    assert median(12.4, 4, 5) is None
    assert median(None, 9, 5) is None


TODAY = date(2026, 12, 3)


def test_the_default_period_is_the_twelve_months_that_have_ended() -> None:
    span = period(None, None, TODAY)
    assert (span.start, span.end, span.months) == (date(2025, 12, 1), date(2026, 11, 30), 12)
    assert period(None, date(2026, 6, 1), TODAY).start == date(2025, 7, 1)
    assert period(None, date(2000, 3, 1), TODAY).start == EARLIEST_MONTH


def test_one_month_and_month_ends() -> None:
    span = period(date(2024, 2, 1), date(2024, 2, 1), TODAY)
    assert (span.start, span.end, span.months) == (date(2024, 2, 1), date(2024, 2, 29), 1)
    assert period(date(2025, 12, 1), date(2025, 12, 1), TODAY).end == date(2025, 12, 31)


@pytest.mark.parametrize(
    ("first", "last", "loc"),
    [
        (None, date(2026, 12, 1), "end_month"),  # not ended yet
        (date(2026, 2, 1), date(2026, 1, 1), "start_month"),
        (date(1999, 12, 1), date(2000, 1, 1), "start_month"),
        (date(2010, 1, 1), date(2020, 1, 1), "start_month"),  # 121 months
    ],
)
def test_a_period_not_ended_backwards_too_early_or_too_long_is_refused(
    first: date | None, last: date, loc: str
) -> None:
    with pytest.raises(PeriodRefused) as refused:
        period(first, last, TODAY)
    assert refused.value.loc == loc
    assert period(date(2010, 1, 1), date(2019, 12, 1), TODAY).months == MAX_MONTHS


def test_months_are_read_strictly() -> None:
    assert month("2026-01") == date(2026, 1, 1)
    for text in ("2026-13", "2026-1", "2026-01-01", "26-01", ""):
        with pytest.raises(ValueError, match="not a month"):
            month(text)
