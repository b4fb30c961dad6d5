"""Disclosure control for the reports and their period (app.domain.report_rules)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.report_rules import (
    DEFAULT_MIN_CELL,
    EARLIEST_MONTH,
    MAX_MONTHS,
    ROUNDING,
    Cell,
    PeriodRefused,
    banded,
    breakdown,
    median,
    month,
    period,
    published,
)


def test_counts_are_published_as_the_lower_end_of_their_band_of_five() -> None:
    assert [banded(n) for n in (0, 4, 5, 9, 10, 14, 15, 102)] == [0, 0, 5, 5, 10, 10, 15, 100]


def test_a_count_below_k_is_suppressed_zero_included_and_the_rest_banded() -> None:
    assert published(5, 5) == 5
    assert published(9, 5) == 5
    assert published(12, 10) == 10
    assert published(4, 5) is None
    assert published(0, 5) is None
    assert published(9, 10) is None


def test_every_value_is_listed_in_order_and_a_missing_one_counts_zero() -> None:
    cells = breakdown({"c": 7, "a": 10}, ["a", "b", "c", "d"], 5)
    assert cells == [Cell("a", 10), Cell("b", None), Cell("c", 5), Cell("d", None)]
    assert [c.suppressed for c in cells] == [False, True, False, True]


KS = st.sampled_from([5, 10, 15])


@given(counts=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=8), k=KS)
def test_a_published_count_is_its_band_and_never_below_k(counts: list[int], k: int) -> None:
    values = [f"v{i}" for i in range(len(counts))]
    for cell, n in zip(
        breakdown(dict(zip(values, counts, strict=True)), values, k), counts, strict=True
    ):
        if cell.count is None:
            assert n < k
        else:
            assert n >= k and cell.count % ROUNDING == 0 and cell.count <= n < cell.count + 5


def candidates(published_count: int | None, k: int, cap: int = 60) -> set[int]:
    """Every true count a published one allows."""
    if published_count is None:
        return set(range(k))
    return set(range(published_count, min(published_count + ROUNDING, cap + 1)))


@given(a=st.integers(min_value=0, max_value=30), b=st.integers(min_value=0, max_value=30), k=KS)
def test_two_periods_and_their_sum_never_pin_a_suppressed_count(a: int, b: int, k: int) -> None:
    """Month M, month M+1 and the two together, as three reports: whatever they publish, a
    suppressed month keeps at least two possible values (the case rounding to the nearest 5
    lost: 4 and 4 would be published as 10 together, pinning both)."""
    seen_a, seen_b, seen_sum = published(a, k), published(b, k), published(a + b, k)
    possible_a = {
        x
        for x in candidates(seen_a, k)
        for y in candidates(seen_b, k)
        if x + y in candidates(seen_sum, k, cap=120)
    }
    if seen_a is None:
        assert len(possible_a) >= 2, (a, b, k, possible_a)


def test_the_smallest_published_band_is_a_whole_band() -> None:
    # k is a multiple of 5, so "5" (or "10") never means exactly k.
    assert DEFAULT_MIN_CELL % ROUNDING == 0
    assert candidates(published(5, 5), 5) == {5, 6, 7, 8, 9}


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
        (None, date(1999, 6, 1), "end_month"),
        (None, date(1, 1, 1), "end_month"),
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
    for text in (
        "2026-13",
        "2026-1",
        "2026-01-01",
        "26-01",
        "",
        "0000-01",
        "\uff12\uff10\uff12\uff16-01",
    ):
        with pytest.raises(ValueError, match="not a month"):
            month(text)
