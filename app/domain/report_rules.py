"""Disclosure control for the aggregate reports, as pure functions.

A report counts people (cases, referrals, placements, follow-ups). Once it leaves the partner (a
donor's spreadsheet, a ministry's annual figures), a small count could point at a person ("one
15-17-year-old boy, forced criminality, opened in March"). Three rules, the usual ones of
official statistics, keep that from happening:

- **Suppression.** A count below ``k`` (``AFTERCARE_REPORT_MIN_CELL_SIZE``, default 5) is not
  published, *zero included*, so a suppressed count says nothing about whether anyone is there.
- **Rounding.** Every published count is rounded to the nearest multiple of :data:`ROUNDING`
  (5). Exact counts could be subtracted from one another: a breakdown from its total, the minors
  from the age bands, one period from an overlapping one. The differences of rounded counts
  have an error of several units, so a count below ``k`` cannot be worked back.
- **Whole months, once ended.** A period is a run of calendar months that have ended, so two
  reports differ by at least a month, never by the day a single case was opened.

A median is published only over at least ``k`` values, in whole hours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

DEFAULT_MIN_CELL = 5
LOWEST_MIN_CELL = 3
ROUNDING = 5
MAX_MONTHS = 120  # ten years
DEFAULT_MONTHS = 12
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
EARLIEST_MONTH = date(2000, 1, 1)


@dataclass(frozen=True, slots=True)
class Cell:
    """One published count of a breakdown: ``count`` is ``None`` when suppressed."""

    value: str
    count: int | None

    @property
    def suppressed(self) -> bool:
        return self.count is None


def rounded(count: int, base: int = ROUNDING) -> int:
    """``count`` to the nearest multiple of ``base`` (halves up: 7 → 5, 8 → 10, 13 → 15)."""
    return base * ((count + base // 2) // base)


def published(count: int, k: int) -> int | None:
    """A count as a report shows it: ``None`` below ``k`` (zero included), else rounded."""
    return rounded(count) if count >= k else None


def breakdown(counts: Mapping[str, int], values: Iterable[str], k: int) -> list[Cell]:
    """A published count for every value of ``values``, in that order (a value with no row
    counts 0, and is therefore suppressed)."""
    return [Cell(value, published(counts.get(value, 0), k)) for value in values]


def median(value: float | None, over: int, k: int) -> int | None:
    """A median over ``over`` values, in whole units, or ``None`` over fewer than ``k``."""
    if value is None or over < k:
        return None
    return round(value)


@dataclass(frozen=True, slots=True)
class Period:
    """Whole calendar months: ``start`` is the first day of the first, ``end`` the last day of
    the last (both included, UTC)."""

    start: date
    end: date

    @property
    def months(self) -> int:
        return (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1


class PeriodRefused(ValueError):
    def __init__(self, msg: str, loc: str) -> None:
        super().__init__(msg)
        self.msg, self.loc = msg, loc


def month(text: str) -> date:
    """``YYYY-MM`` as the first day of that month (the caller checked :data:`MONTH_PATTERN`)."""
    if not re.fullmatch(MONTH_PATTERN, text):
        raise ValueError(f"not a month: {text!r}")
    return date(int(text[:4]), int(text[5:7]), 1)


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def period(first: date | None, last: date | None, today: date) -> Period:
    """The months ``first`` to ``last`` (each the first day of its month). ``last`` defaults to
    the last month that has ended, ``first`` to 11 months before ``last`` (a year). A month not
    ended yet, a period that runs backwards, one over :data:`MAX_MONTHS` or one before
    :data:`EARLIEST_MONTH` is refused."""
    latest = _add_months(today.replace(day=1), -1)
    last = last or latest
    first = first or max(_add_months(last, 1 - DEFAULT_MONTHS), EARLIEST_MONTH)
    if last > latest:
        raise PeriodRefused(
            f"A month is reported once it has ended: the latest is {latest:%Y-%m}", "end_month"
        )
    if first < EARLIEST_MONTH:
        raise PeriodRefused(f"The earliest month is {EARLIEST_MONTH:%Y-%m}", "start_month")
    if first > last:
        raise PeriodRefused("`start_month` must not be after `end_month`", "start_month")
    span = Period(first, _add_months(last, 1) - timedelta(days=1))
    if span.months > MAX_MONTHS:
        raise PeriodRefused(f"A period spans at most {MAX_MONTHS} months", "start_month")
    return span
