"""Aggregate reports (CONTRACT §4 "Reports"): de-identified counts with small-cell suppression."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from app.api.deps import ReportsReadCtx
from app.api.routes import Routes
from app.api.schemas.common import Day
from app.api.schemas.reports import SummaryOut
from app.domain.reports import ReportService, Summary

routes = Routes("reports")
router = routes.router


@routes.read("/v1/reports/summary", SummaryOut.of)
async def report_summary(
    ctx: ReportsReadCtx,
    start: Annotated[
        Day | None, Query(description="First day counted, UTC (default: 364 days before `end`)")
    ] = None,
    end: Annotated[Day | None, Query(description="Last day counted, UTC (default: today)")] = None,
) -> Summary:
    """Counts of your organisation's own cases, referrals, placements and follow-ups over a
    period, each under the report's `min_cell_size` suppressed"""
    return await ReportService(ctx).summary(start, end)
