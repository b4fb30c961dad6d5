"""Disclosure control for the aggregate reports, as pure functions.

A report counts people (cases, referrals, placements, follow-ups). Once it leaves the partner (a
donor's spreadsheet, a ministry's annual figures), a small count could point at a person ("one
15-17-year-old boy, forced criminality, opened in March"). These rules, the usual ones of
official statistics, keep that from happening:

- **Suppression.** A count below ``k`` (``AFTERCARE_REPORT_MIN_CELL_SIZE``: 5, or a larger
  multiple of 5) is not published, *zero included*, so a suppressed count does not say whether
  it is empty.
- **Bands of 5.** Every other count is published as the multiple of :data:`ROUNDING` (5) at or
  below it: ``5`` means 5 to 9, ``10`` means 10 to 14. Exact counts could be subtracted from
  one another (a breakdown from its total, the minors from the age bands, one period from an
  overlapping one). A band's width keeps such differences uncertain. Rounding to the *nearest*
  5 would not: two suppressed months (each 4 at most) whose sum is published as 10 (8 to 12)
  would both be exactly 4. With bands, that sum is 5 (5 to 9) and each month stays 1 to 4. The
  lowest published value is a band too, because ``k`` is a multiple of 5.
- **Whole months, once ended.** A period is a run of calendar months that have ended, so two
  reports differ by at least a month, never by the day a single case was opened.

A median is published only over at least ``k`` values, in whole hours. What remains: from
several reports of *different* lengths over the same months (monthly, quarterly, yearly), a
long enough run of suppressed cells that are all 4 can still be worked out (checked
exhaustively: no case up to four periods). Partners are told to pass on reports of one period
length only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

ROUNDING = 5
DEFAULT_MIN_CELL = 5  # k: a multiple of ROUNDING, so the smallest published band is a whole one
MAX_MONTHS = 120  # ten years
DEFAULT_MONTHS = 12
MONTH_PATTERN = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$"
EARLIEST_MONTH = date(2000, 1, 1)


@dataclass(frozen=True, slots=True)
class Cell:
    """One published count of a breakdown: ``count`` is ``None`` when suppressed."""

    value: str
    count: int | None

    @property
    def suppressed(self) -> bool:
        return self.count is None


def banded(count: int, base: int = ROUNDING) -> int:
    """``count`` as the multiple of ``base`` at or below it: 5 to 9 is 5, 10 to 14 is 10."""
    return base * (count // base)


def published(count: int, k: int) -> int | None:
    """A count as a report shows it: ``None`` below ``k`` (zero included), else its band."""
    return banded(count) if count >= k else None


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
    if last is not None and last > latest:
        raise PeriodRefused(
            f"A month is reported once it has ended: the latest is {latest:%Y-%m}", "end_month"
        )
    if last is not None and last < EARLIEST_MONTH:
        raise PeriodRefused(f"The earliest month is {EARLIEST_MONTH:%Y-%m}", "end_month")
    last = last or latest
    first = first or max(_add_months(last, 1 - DEFAULT_MONTHS), EARLIEST_MONTH)
    if first < EARLIEST_MONTH:
        raise PeriodRefused(f"The earliest month is {EARLIEST_MONTH:%Y-%m}", "start_month")
    if first > last:
        raise PeriodRefused("`start_month` must not be after `end_month`", "start_month")
    span = Period(first, _add_months(last, 1) - timedelta(days=1))
    if span.months > MAX_MONTHS:
        raise PeriodRefused(f"A period is at most {MAX_MONTHS} months long", "start_month")
    return span
