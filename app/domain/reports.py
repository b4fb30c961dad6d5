"""De-identified aggregate reports of one organisation's own work.

``GET /v1/reports/summary`` counts, over whole calendar months that have ended, what the caller's
organisation did: the cases it leads now (opened, closed, open at the end, and the opened ones by
age band, gender, exploitation type and minors), the referrals it sent and received (by status
and service, with the responses and the median time to one), and the placements and follow-ups
on the cases it leads (placements by setting and exit reason, follow-ups by outcome).

Only counts leave: no case, person, date of a case, place or free text, and never where anyone
lives (a placement's *setting* — shelter, foster family — is counted, never its address or
organisation). Every count goes through :mod:`app.domain.report_rules` (suppressed below the
minimum cell size, the others in bands of 5), so a report can be passed on (to a donor, a
ministry) without pointing at a survivor. Each count is of records the organisation may read
one by one anyway: its own referrals, and what it leads. The report is audited
(``report.summary``) like any read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from uuid import UUID

from app.db.repositories import reports as repo
from app.domain.context import RequestContext
from app.domain.errors import ValidationFailed
from app.domain.referral_rules import ReferralStatus
from app.domain.report_rules import (
    ROUNDING,
    Cell,
    Period,
    PeriodRefused,
    breakdown,
    median,
    period,
    published,
)
from app.domain.vocabulary import (
    AgeBand,
    Category,
    ExitReason,
    ExploitationType,
    FollowUpOutcome,
    Gender,
    PlacementSetting,
    ServiceKind,
)

# Each breakdown's vocabulary: a breakdown has a cell for each of its values, in this order.
BREAKDOWNS: dict[str, type[StrEnum]] = {
    "by_age_band": AgeBand,
    "by_gender": Gender,
    "by_exploitation_type": ExploitationType,
    "by_status": ReferralStatus,
    "by_service": ServiceKind,
    "by_setting": PlacementSetting,
    "by_exit_reason": ExitReason,
    "by_outcome": FollowUpOutcome,
}

# What a report reads, for the audit row: counts of every category but identity (referrals are
# counted by service, and each service belongs to a category).
CATEGORIES = tuple(str(c) for c in Category if c is not Category.IDENTITY)


@dataclass(frozen=True, slots=True)
class CaseCounts:
    opened: int | None
    closed: int | None
    open_at_end: int | None
    minors_opened: int | None
    by_age_band: list[Cell]
    by_gender: list[Cell]
    by_exploitation_type: list[Cell]


@dataclass(frozen=True, slots=True)
class ReferralFlow:
    total: int | None
    by_status: list[Cell]
    by_service: list[Cell]
    responded: int | None
    median_response_hours: int | None


@dataclass(frozen=True, slots=True)
class PlacementCounts:
    started: int | None
    by_setting: list[Cell]
    ended: int | None
    by_exit_reason: list[Cell]


@dataclass(frozen=True, slots=True)
class FollowUpCounts:
    recorded: int | None
    by_outcome: list[Cell]


@dataclass(frozen=True, slots=True)
class Summary:
    organization_id: UUID
    period: Period
    generated_at: datetime
    min_cell_size: int
    band_width: int
    cases: CaseCounts
    referrals_sent: ReferralFlow
    referrals_received: ReferralFlow
    placements: PlacementCounts
    follow_ups: FollowUpCounts


def _values(measure: str) -> list[str]:
    """The values of a breakdown's vocabulary (:data:`BREAKDOWNS`), in order."""
    return [str(v) for v in BREAKDOWNS[measure]]


class _Counts:
    """The statement's rows by measure: totals, breakdowns and medians."""

    def __init__(self, rows: list[repo.ReportRow]) -> None:
        self.totals: dict[str, int] = {}
        self.medians: dict[str, float | None] = {}
        self.values: dict[str, dict[str, int]] = defaultdict(dict)
        for row in rows:
            if row.value is None and "by_" not in row.measure:
                self.totals[row.measure] = row.count
                self.medians[row.measure] = row.median
            elif row.value is not None:
                self.values[row.measure][row.value] = row.count

    def total(self, measure: str) -> int:
        return self.totals.get(measure, 0)


class ReportService:
    def __init__(self, ctx: RequestContext) -> None:
        self.session = ctx.session
        self.principal = ctx.principal
        self.audit = ctx.audit
        self.k = ctx.report_min_cell

    async def summary(self, first: date | None, last: date | None) -> Summary:
        """The report for the months ``first`` to ``last`` (each the first day of its month;
        the defaults are :func:`app.domain.report_rules.period`'s)."""
        now = datetime.now(UTC)
        try:
            span = period(first, last, now.date())
        except PeriodRefused as exc:
            raise ValidationFailed(exc.msg, loc=[exc.loc], where="query") from None
        rows = await repo.summary(
            self.session,
            org_id=self.principal.org_id,
            start=datetime.combine(span.start, time(), UTC),
            end=datetime.combine(span.end + timedelta(days=1), time(), UTC),
        )
        await self.audit.record(self.principal, "report.summary", [], CATEGORIES)
        counts = _Counts(rows)
        return Summary(
            organization_id=self.principal.org_id,
            period=span,
            generated_at=now,
            min_cell_size=self.k,
            band_width=ROUNDING,
            cases=self._cases(counts),
            referrals_sent=self._flow(counts, "sent"),
            referrals_received=self._flow(counts, "received"),
            placements=self._placements(counts),
            follow_ups=self._follow_ups(counts),
        )

    def _cases(self, counts: _Counts) -> CaseCounts:
        k, values = self.k, counts.values
        return CaseCounts(
            opened=published(counts.total("cases.opened"), k),
            closed=published(counts.total("cases.closed"), k),
            open_at_end=published(counts.total("cases.open_at_end"), k),
            minors_opened=published(counts.total("cases.minors_opened"), k),
            by_age_band=breakdown(values["cases.by_age_band"], _values("by_age_band"), k),
            by_gender=breakdown(values["cases.by_gender"], _values("by_gender"), k),
            # A case may name several types: the cells need not add up to `opened`.
            by_exploitation_type=breakdown(
                values["cases.by_exploitation_type"], _values("by_exploitation_type"), k
            ),
        )

    def _flow(self, counts: _Counts, party: str) -> ReferralFlow:
        k, values = self.k, counts.values
        responded = counts.total(f"{party}.responded")
        return ReferralFlow(
            total=published(counts.total(f"{party}.total"), k),
            by_status=breakdown(values[f"{party}.by_status"], _values("by_status"), k),
            by_service=breakdown(values[f"{party}.by_service"], _values("by_service"), k),
            responded=published(responded, k),
            median_response_hours=median(counts.medians.get(f"{party}.total"), responded, k),
        )

    def _placements(self, counts: _Counts) -> PlacementCounts:
        k, values = self.k, counts.values
        return PlacementCounts(
            started=published(counts.total("placements.started"), k),
            by_setting=breakdown(values["placements.by_setting"], _values("by_setting"), k),
            ended=published(counts.total("placements.ended"), k),
            by_exit_reason=breakdown(
                values["placements.by_exit_reason"], _values("by_exit_reason"), k
            ),
        )

    def _follow_ups(self, counts: _Counts) -> FollowUpCounts:
        k, values = self.k, counts.values
        return FollowUpCounts(
            recorded=published(counts.total("follow_ups.recorded"), k),
            by_outcome=breakdown(values["follow_ups.by_outcome"], _values("by_outcome"), k),
        )
