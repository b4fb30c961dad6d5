"""The aggregate report (``GET /v1/reports/summary``): counts only, small ones suppressed."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import Field

from app.api.schemas.common import ResponseModel
from app.domain.report_rules import Cell
from app.domain.reports import (
    CaseCounts,
    FollowUpCounts,
    PlacementCounts,
    ReferralFlow,
    Summary,
)

_SUPPRESSED = "Below the report's `min_cell_size` (zero included): not published"
_COUNT = "The lower end of its band (`band_width` wide: 5 means 5 to 9); null when suppressed"


class Count(ResponseModel):
    """A count, or null when it is suppressed."""

    count: int | None = Field(description=_COUNT)
    suppressed: bool = Field(description=_SUPPRESSED)

    @classmethod
    def of(cls, count: int | None) -> Count:
        return cls(count=count, suppressed=count is None)


class CellOut(ResponseModel):
    """One value of a breakdown and its count (null when suppressed)."""

    value: str = Field(description="The vocabulary value counted (e.g. an age band)")
    count: int | None = Field(description=_COUNT)
    suppressed: bool = Field(description=_SUPPRESSED)

    @classmethod
    def of(cls, cell: Cell) -> CellOut:
        return cls(value=cell.value, count=cell.count, suppressed=cell.suppressed)


def _cells(cells: list[Cell]) -> list[CellOut]:
    return [CellOut.of(c) for c in cells]


class PeriodOut(ResponseModel):
    start: date = Field(description="First day counted (UTC): the first of `start_month`")
    end: date = Field(description="Last day counted (UTC), included: the last of `end_month`")
    months: int


class CasesReport(ResponseModel):
    """The cases you lead now."""

    opened: Count = Field(description="Cases opened (registered) in the period")
    closed: Count = Field(description="Cases closed in the period")
    open_at_end: Count = Field(description="Cases open at the end of the period")
    minors_opened: Count = Field(description="Of the cases opened, those of minors")
    by_age_band: list[CellOut] = Field(description="Cases opened, by age band")
    by_gender: list[CellOut] = Field(description="Cases opened, by gender")
    by_exploitation_type: list[CellOut] = Field(
        description="Cases opened, by exploitation type (a case may count under several)"
    )

    @classmethod
    def of(cls, counts: CaseCounts) -> CasesReport:
        return cls(
            opened=Count.of(counts.opened),
            closed=Count.of(counts.closed),
            open_at_end=Count.of(counts.open_at_end),
            minors_opened=Count.of(counts.minors_opened),
            by_age_band=_cells(counts.by_age_band),
            by_gender=_cells(counts.by_gender),
            by_exploitation_type=_cells(counts.by_exploitation_type),
        )


class ReferralsReport(ResponseModel):
    """Referrals made in the period (sent by you, or received), by their status now."""

    total: Count
    by_status: list[CellOut] = Field(description="By current status (`expired` included)")
    by_service: list[CellOut]
    responded: Count = Field(
        description="Those the receiver accepted (whatever happened after) or declined; not "
        "those withdrawn or expired while pending"
    )
    median_response_hours: int | None = Field(
        description="Median whole hours from referral to response, over those responded to; "
        "null when fewer than `min_cell_size` were"
    )

    @classmethod
    def of(cls, flow: ReferralFlow) -> ReferralsReport:
        return cls(
            total=Count.of(flow.total),
            by_status=_cells(flow.by_status),
            by_service=_cells(flow.by_service),
            responded=Count.of(flow.responded),
            median_response_hours=flow.median_response_hours,
        )


class PlacementsReport(ResponseModel):
    """Placements on the cases you lead now: their setting and exit reason, never a place."""

    started: Count = Field(description="Placements started in the period")
    by_setting: list[CellOut] = Field(description="Placements started, by setting")
    ended: Count = Field(description="Placements ended in the period")
    by_exit_reason: list[CellOut] = Field(description="Placements ended, by exit reason")

    @classmethod
    def of(cls, counts: PlacementCounts) -> PlacementsReport:
        return cls(
            started=Count.of(counts.started),
            by_setting=_cells(counts.by_setting),
            ended=Count.of(counts.ended),
            by_exit_reason=_cells(counts.by_exit_reason),
        )


class FollowUpsReport(ResponseModel):
    """Follow-ups on the cases you lead now, recorded in the period (by whichever partner)."""

    recorded: Count
    by_outcome: list[CellOut] = Field(description="By outcome (`re_exploited` included)")

    @classmethod
    def of(cls, counts: FollowUpCounts) -> FollowUpsReport:
        return cls(recorded=Count.of(counts.recorded), by_outcome=_cells(counts.by_outcome))


class SummaryOut(ResponseModel):
    """De-identified counts of your organisation's own work over whole months."""

    organization_id: UUID
    period: PeriodOut
    generated_at: datetime
    min_cell_size: int = Field(
        description="Counts below this (zero included) are suppressed; a multiple of `band_width`"
    )
    band_width: int = Field(
        description="Every published count is the lower end of a band this wide (5): 5 means "
        "5 to 9, 10 means 10 to 14"
    )
    cases: CasesReport
    referrals_sent: ReferralsReport
    referrals_received: ReferralsReport
    placements: PlacementsReport
    follow_ups: FollowUpsReport

    @classmethod
    def of(cls, summary: Summary) -> SummaryOut:
        return cls(
            organization_id=summary.organization_id,
            period=PeriodOut(
                start=summary.period.start, end=summary.period.end, months=summary.period.months
            ),
            generated_at=summary.generated_at,
            min_cell_size=summary.min_cell_size,
            band_width=summary.band_width,
            cases=CasesReport.of(summary.cases),
            referrals_sent=ReferralsReport.of(summary.referrals_sent),
            referrals_received=ReferralsReport.of(summary.referrals_received),
            placements=PlacementsReport.of(summary.placements),
            follow_ups=FollowUpsReport.of(summary.follow_ups),
        )
