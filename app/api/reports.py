"""Aggregate reports (CONTRACT §4 "Reports"): de-identified counts, small ones suppressed, the
others in bands of 5."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from app.api.deps import ReportsReadCtx
from app.api.routes import Routes
from app.api.schemas.reports import SummaryOut
from app.domain.report_rules import MONTH_PATTERN, month
from app.domain.reports import ReportService, Summary

routes = Routes("reports")
router = routes.router

Month = Annotated[
    str | None,
    Query(pattern=MONTH_PATTERN, examples=["2026-01"], description="A calendar month, YYYY-MM"),
]


@routes.read("/v1/reports/summary", SummaryOut.of)
async def report_summary(
    ctx: ReportsReadCtx,
    start_month: Month = None,
    end_month: Month = None,
) -> Summary:
    """Counts of your organisation's own cases, referrals, placements and follow-ups over whole
    months that have ended (default: the last twelve), small ones suppressed, others in bands
    of 5"""
    return await ReportService(ctx).summary(
        month(start_month) if start_month else None, month(end_month) if end_month else None
    )
