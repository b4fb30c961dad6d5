"""Small-cell suppression for the aggregate reports, as pure functions.

A report counts people (cases, referrals, placements, follow-ups). A count small enough to point
at a person once the report leaves the partner (a donor's spreadsheet, a ministry's annual
figures: "one 15-17-year-old boy from country X, forced criminality") is not published: every
count below ``k`` — *including zero*, so that a suppressed cell says nothing about whether it is
empty — is shown as suppressed.

Suppressing small cells alone is not enough where a breakdown's total is published: the one
suppressed cell of a breakdown is the total minus the others. So **complementary suppression**:
when exactly one cell of a breakdown with a published total is suppressed, the smallest published
cell is suppressed too, and the difference then only tells the sum of two cells. A total below
``k`` suppresses the total and every cell under it.

A median is published only over at least ``k`` values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

DEFAULT_MIN_CELL = 5
LOWEST_MIN_CELL = 3
MAX_PERIOD_DAYS = 3660  # ten years
DEFAULT_PERIOD_DAYS = 365  # the year ending on `to`


@dataclass(frozen=True, slots=True)
class Cell:
    """One published count: ``count`` is ``None`` when suppressed."""

    value: str
    count: int | None

    @property
    def suppressed(self) -> bool:
        return self.count is None


def published(count: int, k: int) -> int | None:
    """A count on its own (a total): ``None`` below ``k``."""
    return count if count >= k else None


def breakdown(
    counts: Mapping[str, int], values: Iterable[str], k: int, total: int | None
) -> list[Cell]:
    """A count for every value of ``values`` (in that order; a value with no row counts 0),
    suppressed as the module says. ``total`` is the published total the cells add up to
    (``None`` if it is suppressed or not published: then every cell is suppressed when it is,
    and none needs a complement)."""
    cells = [(value, counts.get(value, 0)) for value in values]
    shown: list[int | None] = [n if n >= k else None for _, n in cells]
    # (Under a suppressed total every cell is below k, so all of them are suppressed above.)
    if total is not None and shown.count(None) == 1 and len(shown) > 1:
        smallest = min(
            (i for i, n in enumerate(shown) if n is not None),
            key=lambda i: (shown[i], i),
        )
        shown[smallest] = None
    return [Cell(value, n) for (value, _), n in zip(cells, shown, strict=True)]


def median(value: float | None, over: int, k: int) -> float | None:
    """A median over ``over`` values (rounded to a tenth), or ``None`` over fewer than ``k``."""
    if value is None or over < k:
        return None
    return round(value, 1)


@dataclass(frozen=True, slots=True)
class Period:
    """Whole days, both ends included (UTC)."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


class PeriodRefused(ValueError):
    def __init__(self, msg: str, loc: str) -> None:
        super().__init__(msg)
        self.msg, self.loc = msg, loc


def period(start: date | None, end: date | None, today: date) -> Period:
    """The report's period: ``end`` defaults to today, ``start`` to the 365 days ending on ``end``;
    a period that runs backwards or spans more than ten years is refused."""
    end = end or today
    start = start or end - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if start > end:
        raise PeriodRefused("`start` must be on or before `end`", "start")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise PeriodRefused(f"A period spans at most {MAX_PERIOD_DAYS} days", "start")
    return Period(start, end)
