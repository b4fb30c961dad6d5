"""The legal record and the testimony pull (CONTRACT §4 "Legal")."""

from __future__ import annotations

from uuid import UUID

from starlette.responses import Response

from app.api.conditional import Versions
from app.api.deps import LegalReadCtx, LegalWriteCtx
from app.api.pagination import Paging
from app.api.responses import resource_response
from app.api.routes import Routes
from app.api.schemas.legal import LegalIn, LegalOut, TestimonyRow
from app.domain.legal import LegalService, TestimonyStatusRow
from app.domain.pagination import Page
from app.domain.vocabulary import TestimonyStatus

routes = Routes("aftercare journey")
router = routes.router


@routes.read("/v1/cases/{case_id}/legal", LegalOut)
async def get_legal(case_id: UUID, ctx: LegalReadCtx) -> Response:
    """The legal record"""
    return resource_response(LegalOut.of(case_id, await LegalService(ctx).get(case_id)))


@routes.replace("/v1/cases/{case_id}/legal", LegalOut)
async def put_legal(
    case_id: UUID,
    body: LegalIn,
    ctx: LegalWriteCtx,
    expected_version: Versions,
) -> Response:
    """Replace the legal record (If-Match; `"0"` before its first write)"""
    record = await LegalService(ctx).put(
        case_id, body.to_record(), expected_version=expected_version
    )
    return resource_response(LegalOut.of(case_id, record))


@routes.page("/v1/legal/testimony", TestimonyRow.of)
async def pull_testimony_status(
    ctx: LegalReadCtx,
    paging: Paging,
    status: TestimonyStatus | None = None,
) -> Page[TestimonyStatusRow]:
    """Testimony-preparation status of every case you may see in `legal`"""
    return await LegalService(ctx).testimony(status=status, **paging)
