"""Age at intake, minor status and age bands — pure functions.

When only an estimated birth year is known, the hub assumes the *younger* possible age: a survivor
who might still be 17 gets minors' protections (guardian, authorisations) rather than losing them.
"""

from __future__ import annotations

from datetime import date

from app.domain.vocabulary import AgeBand

ADULT_AGE = 18


def age_on(day: date, *, date_of_birth: date | None, birth_year: int | None) -> int:
    if date_of_birth is not None:
        before_birthday = (day.month, day.day) < (date_of_birth.month, date_of_birth.day)
        return day.year - date_of_birth.year - int(before_birthday)
    if birth_year is not None:
        return max(day.year - birth_year - 1, 0)
    raise ValueError("a date of birth or an estimated birth year is needed")


def is_minor(age: int) -> bool:
    return age < ADULT_AGE


def age_band(age: int) -> AgeBand:
    for limit, band in (
        (12, AgeBand.UNDER_12),
        (15, AgeBand.FROM_12),
        (18, AgeBand.FROM_15),
        (25, AgeBand.FROM_18),
        (35, AgeBand.FROM_25),
        (50, AgeBand.FROM_35),
    ):
        if age < limit:
            return band
    return AgeBand.FROM_50
