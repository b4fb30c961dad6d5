"""The aggregate report (as ``GET /v1/reports/summary``): derived from REST's models
(``app.api.schemas.reports``) and built from the same answer, so both APIs publish the same
counts, suppressed and banded alike."""

from __future__ import annotations

from app.api.graphql.types.projection import Projected, from_model
from app.api.schemas.reports import (
    CasesReport,
    CellOut,
    Count,
    FollowUpsReport,
    PeriodOut,
    PlacementsReport,
    ReferralsReport,
    SummaryOut,
)
from app.domain.reports import Summary

# REST's descriptions name REST's fields; these name GraphQL's.
_COUNTS = {
    "count": "The lower end of its band (`bandWidth` wide: 5 means 5 to 9); null when suppressed",
    "suppressed": "Below the report's `minCellSize` (zero included): not published",
}


@from_model(
    Count,
    name="ReportCount",
    description="A count, or null when it is suppressed",
    descriptions=_COUNTS,
)
class ReportCount(Projected):
    pass


@from_model(
    CellOut,
    name="ReportCell",
    description="One value of a breakdown and its count (null when suppressed)",
    descriptions=_COUNTS,
)
class ReportCell(Projected):
    pass


@from_model(
    PeriodOut,
    name="ReportPeriod",
    description="The whole months a report counts",
    descriptions={
        "start": "First day counted (UTC): the first of `startMonth`",
        "end": "Last day counted (UTC), included: the last of `endMonth`",
    },
)
class ReportPeriod(Projected):
    pass


@from_model(CasesReport, name="CasesReport", description="The cases you lead now")
class CasesCounts(Projected):
    pass


@from_model(
    ReferralsReport,
    name="ReferralsReport",
    description="Referrals made in the period (sent by you, or received), by their status now",
    descriptions={
        "median_response_hours": "Median whole hours from referral to response, over those "
        "responded to; null when fewer than `minCellSize` were"
    },
)
class ReferralsCounts(Projected):
    pass


@from_model(
    PlacementsReport,
    name="PlacementsReport",
    description="Placements on the cases you lead now: their setting and exit reason, never a "
    "place",
)
class PlacementsCounts(Projected):
    pass


@from_model(
    FollowUpsReport,
    name="FollowUpsReport",
    description="Follow-ups on the cases you lead now, recorded in the period",
)
class FollowUpsCounts(Projected):
    pass


@from_model(
    SummaryOut,
    name="ReportSummary",
    description="De-identified counts of your organisation's own work over whole months",
    descriptions={
        "min_cell_size": "Counts below this (zero included) are suppressed; a multiple of "
        "`bandWidth`"
    },
)
class ReportSummary(Projected):
    @classmethod
    def of(cls, source: Summary) -> ReportSummary:
        return super().of(SummaryOut.of(source))
