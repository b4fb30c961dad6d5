"""The legal record and the testimony pull (CONTRACT §4 "Legal")."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter
from starlette.responses import Response

from app.api.conditional import IfMatch, expected_version
from app.api.deps import LegalReadCtx, LegalWriteCtx
from app.api.json_body import StrictJSONRoute
from app.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, PageOut
from app.api.problems import problem_responses
from app.api.responses import page_response, versioned_response
from app.api.schemas.legal import LegalIn, LegalOut, TestimonyRow
from app.domain.legal import LegalService
from app.domain.vocabulary import TestimonyStatus

router = APIRouter(
    tags=["aftercare journey"],
    responses=problem_responses(401, 403, 404, 422),
    route_class=StrictJSONRoute,
)


@router.get("/v1/cases/{case_id}/legal", response_model=LegalOut, summary="The legal record")
async def get_legal(case_id: UUID, ctx: LegalReadCtx) -> Response:
    record = await LegalService(ctx).get(case_id)
    return versioned_response(LegalOut.of(case_id, record), record.version)


@router.put(
    "/v1/cases/{case_id}/legal",
    response_model=LegalOut,
    summary='Replace the legal record (If-Match; `"0"` before its first write)',
    responses=problem_responses(412, 428),
)
async def put_legal(
    case_id: UUID,
    body: LegalIn,
    ctx: LegalWriteCtx,
    if_match: IfMatch = None,
) -> Response:
    version = expected_version(if_match)
    record = await LegalService(ctx).put(case_id, body.to_record(), expected_version=version)
    return versioned_response(LegalOut.of(case_id, record), record.version)


@router.get(
    "/v1/legal/testimony",
    response_model=PageOut[TestimonyRow],
    summary="Testimony-preparation status of every case you may see in `legal`",
)
async def pull_testimony_status(
    ctx: LegalReadCtx,
    status: TestimonyStatus | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    page = await LegalService(ctx).testimony(status=status, limit=limit, cursor=cursor)
    return page_response(page, TestimonyRow, TestimonyRow.of)
