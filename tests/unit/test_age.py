"""Pure rules of app.domain.age: age on a day, minors, age bands — no database."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from app.domain.age import age_band, age_on, is_minor
from app.domain.vocabulary import AgeBand

TODAY = date(2026, 3, 15)


@pytest.mark.parametrize(
    ("day", "dob", "age"),
    [
        pytest.param(date(2026, 3, 15), date(2008, 3, 15), 18, id="18th_birthday_today"),
        pytest.param(date(2026, 3, 14), date(2008, 3, 15), 17, id="18th_birthday_tomorrow"),
        pytest.param(date(2026, 3, 16), date(2008, 3, 15), 18, id="18th_birthday_yesterday"),
        pytest.param(date(2026, 2, 15), date(2008, 3, 15), 17, id="month_before"),
        pytest.param(date(2026, 4, 14), date(2008, 3, 15), 18, id="month_after_day_before"),
        pytest.param(date(2026, 3, 15), date(2026, 3, 15), 0, id="born_today"),
        pytest.param(date(2026, 12, 31), date(2026, 1, 1), 0, id="end_of_first_year"),
        pytest.param(date(2027, 1, 1), date(2026, 1, 1), 1, id="first_birthday"),
        pytest.param(date(2026, 1, 1), date(2025, 12, 31), 0, id="one_day_old_new_year"),
        # Leap-day birthdays: in a common year the birthday is reached on 1 March.
        pytest.param(date(2026, 2, 28), date(2008, 2, 29), 17, id="leap_born_feb28_common"),
        pytest.param(date(2026, 3, 1), date(2008, 2, 29), 18, id="leap_born_mar1_common"),
        pytest.param(date(2028, 2, 28), date(2008, 2, 29), 19, id="leap_born_feb28_leap"),
        pytest.param(date(2028, 2, 29), date(2008, 2, 29), 20, id="leap_born_feb29_leap"),
    ],
)
def test_age_on_date_of_birth(day: date, dob: date, age: int) -> None:
    assert age_on(day, date_of_birth=dob, birth_year=None) == age


@pytest.mark.parametrize(
    ("day", "year", "age"),
    [
        # Someone born in 2008 is 17 or 18 on 2026-03-15: the younger age is assumed.
        pytest.param(date(2026, 3, 15), 2008, 17, id="mid_year"),
        pytest.param(date(2026, 1, 1), 2008, 17, id="new_year"),
        pytest.param(date(2026, 6, 30), 2007, 18, id="older"),
        pytest.param(date(2026, 3, 15), 2026, 0, id="born_this_year_not_negative"),
        pytest.param(date(2026, 3, 15), 2025, 0, id="born_last_year"),
        pytest.param(date(2026, 3, 15), 1950, 75, id="old"),
    ],
)
def test_age_on_estimated_year_assumes_the_younger_age(day: date, year: int, age: int) -> None:
    assert age_on(day, date_of_birth=None, birth_year=year) == age


def test_estimated_year_is_never_older_than_any_real_birthday_in_that_year() -> None:
    day = date(2026, 3, 15)
    youngest_possible = min(
        age_on(day, date_of_birth=date(2008, 1, 1) + timedelta(days=n), birth_year=None)
        for n in range(366)
        if (date(2008, 1, 1) + timedelta(days=n)).year == 2008
    )
    assert age_on(day, date_of_birth=None, birth_year=2008) == youngest_possible == 17
    assert is_minor(age_on(day, date_of_birth=None, birth_year=2008))


def test_age_on_needs_something() -> None:
    with pytest.raises(ValueError, match="date of birth"):
        age_on(TODAY, date_of_birth=None, birth_year=None)


@pytest.mark.parametrize(("age", "minor"), [(0, True), (17, True), (18, False), (19, False)])
def test_is_minor_boundary(age: int, minor: bool) -> None:
    assert is_minor(age) is minor


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (0, AgeBand.UNDER_12),
        (11, AgeBand.UNDER_12),
        (12, AgeBand.FROM_12),
        (14, AgeBand.FROM_12),
        (15, AgeBand.FROM_15),
        (17, AgeBand.FROM_15),
        (18, AgeBand.FROM_18),
        (24, AgeBand.FROM_18),
        (25, AgeBand.FROM_25),
        (34, AgeBand.FROM_25),
        (35, AgeBand.FROM_35),
        (49, AgeBand.FROM_35),
        (50, AgeBand.FROM_50),
        (120, AgeBand.FROM_50),
    ],
)
def test_age_band_boundaries(age: int, band: AgeBand) -> None:
    assert age_band(age) is band


def test_age_bands_are_the_published_strings() -> None:
    assert [str(b) for b in AgeBand] == [
        "0-11",
        "12-14",
        "15-17",
        "18-24",
        "25-34",
        "35-49",
        "50+",
    ]


def test_every_minor_band_is_below_18_and_every_adult_band_at_or_above() -> None:
    minor_bands = {AgeBand.UNDER_12, AgeBand.FROM_12, AgeBand.FROM_15}
    for years in range(0, 100):
        assert (age_band(years) in minor_bands) is is_minor(years)
