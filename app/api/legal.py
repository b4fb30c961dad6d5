"""The legal record and the testimony pull (CONTRACT §4 "Legal")."""

from __future__ import annotations

from uuid import UUID

from starlette.responses import Response

from app.api.conditional import IfMatch, expected_version
from app.api.deps import LegalReadCtx, LegalWriteCtx
from app.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit
from app.api.responses import page_response, versioned_response
from app.api.routes import Routes
from app.api.schemas.legal import LegalIn, LegalOut, TestimonyRow
from app.domain.legal import LegalService
from app.domain.vocabulary import TestimonyStatus

routes = Routes("aftercare journey")
router = routes.router


@routes.read("/v1/cases/{case_id}/legal", LegalOut)
async def get_legal(case_id: UUID, ctx: LegalReadCtx) -> Response:
    """The legal record"""
    record = await LegalService(ctx).get(case_id)
    return versioned_response(LegalOut.of(case_id, record), record.version)


@routes.replace("/v1/cases/{case_id}/legal", LegalOut)
async def put_legal(
    case_id: UUID,
    body: LegalIn,
    ctx: LegalWriteCtx,
    if_match: IfMatch = None,
) -> Response:
    """Replace the legal record (If-Match; `"0"` before its first write)"""
    version = expected_version(if_match)
    record = await LegalService(ctx).put(case_id, body.to_record(), expected_version=version)
    return versioned_response(LegalOut.of(case_id, record), record.version)


@routes.page("/v1/legal/testimony", TestimonyRow)
async def pull_testimony_status(
    ctx: LegalReadCtx,
    status: TestimonyStatus | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """Testimony-preparation status of every case you may see in `legal`"""
    page = await LegalService(ctx).testimony(status=status, limit=limit, cursor=cursor)
    return page_response(page, TestimonyRow, TestimonyRow.of)
