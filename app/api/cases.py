"""Cases, consents, the timeline and the access log (CONTRACT §4 "Cases", "Consents",
"Case updates"). Every rule is the domain's; this module only translates HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from starlette.responses import Response

from app.api.conditional import IfMatch, etag, expected_version
from app.api.deps import AuditReadCtx, CasesReadCtx, CasesWriteCtx, ConsentsWriteCtx
from app.api.idempotency import Created, Idempotent
from app.api.json_body import StrictJSONRoute
from app.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, PageOut
from app.api.problems import problem_responses
from app.api.responses import model_response, page_response, versioned_response
from app.api.schemas.cases import (
    AccessLogEntry,
    CaseCreate,
    CaseOut,
    CasePatch,
    CloseIn,
    ConsentCreate,
    ConsentOut,
    RevokeIn,
    UpdateCreate,
    UpdateOut,
)
from app.api.schemas.common import Timestamp
from app.domain.access import Role
from app.domain.cases import CaseService
from app.domain.consents import ConsentService
from app.domain.updates import UpdateService
from app.domain.vocabulary import CaseStatus, Category

router = APIRouter(
    prefix="/v1/cases",
    tags=["cases"],
    responses=problem_responses(401, 403, 404, 422),
    route_class=StrictJSONRoute,
)

CaseId = Annotated[UUID, "case id"]


@router.post(
    "",
    status_code=201,
    response_model=CaseOut,
    summary="Open a case (your organisation becomes the lead)",
    responses=problem_responses(409),
)
async def create_case(body: CaseCreate, ctx: CasesWriteCtx, idem: Idempotent) -> Response:
    service = CaseService(ctx)

    async def current(case_id: UUID) -> bytes:
        # A retry sees the case as the caller may see it now (audited as a read); the stored
        # response keeps no body at all.
        case = CaseOut.of(await service.get(case_id))
        return case.__pydantic_serializer__.to_json(case, exclude_unset=True)

    async def create() -> Created:
        view = await service.create(body.to_input())
        return Created(
            CaseOut.of(view),
            location=f"/v1/cases/{view.id}",
            headers={"ETag": etag(view.version)},
            exclude_unset=True,
            case_id=view.id,
        )

    return await idem.create(ctx, create, rerender=current)


@router.get("", response_model=PageOut[CaseOut], summary="Cases you lead or care for")
async def list_cases(
    ctx: CasesReadCtx,
    status: CaseStatus | None = None,
    role: Annotated[Literal["lead", "care_team"] | None, Query(description="Your role")] = None,
    updated_since: Annotated[Timestamp | None, Query(description="RFC 3339, with offset")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    page = await CaseService(ctx).list(
        role=Role(role) if role else None,
        status=str(status) if status else None,
        updated_since=updated_since,
        limit=limit,
        cursor=cursor,
    )
    return page_response(page, CaseOut, CaseOut.of)


@router.get("/{case_id}", response_model=CaseOut, summary="A case, as far as you may see it")
async def get_case(case_id: UUID, ctx: CasesReadCtx) -> Response:
    view = await CaseService(ctx).get(case_id)
    return versioned_response(CaseOut.of(view), view.version)


@router.patch(
    "/{case_id}",
    response_model=CaseOut,
    summary="Edit a case you lead",
    responses=problem_responses(409, 412, 428),
)
async def patch_case(
    case_id: UUID,
    body: CasePatch,
    ctx: CasesWriteCtx,
    if_match: IfMatch = None,
) -> Response:
    version = expected_version(if_match)
    view = await CaseService(ctx).update(case_id, body.to_changes(), expected_version=version)
    return versioned_response(CaseOut.of(view), view.version)


@router.post(
    "/{case_id}/close",
    response_model=CaseOut,
    summary="Close a case you lead",
    responses=problem_responses(409),
)
async def close_case(case_id: UUID, body: CloseIn, ctx: CasesWriteCtx) -> Response:
    view = await CaseService(ctx).close(case_id, body.reason)
    return versioned_response(CaseOut.of(view), view.version)


@router.delete(
    "/{case_id}/survivor-identity",
    status_code=204,
    summary="Erase the survivor's identity (destroys its encryption key)",
)
async def erase_identity(case_id: UUID, ctx: CasesWriteCtx) -> Response:
    await CaseService(ctx).erase_identity(case_id)
    return Response(status_code=204)


@router.get(
    "/{case_id}/access-log",
    response_model=PageOut[AccessLogEntry],
    summary="Who read or changed a case you lead (newest first)",
)
async def access_log(
    case_id: UUID,
    ctx: AuditReadCtx,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    await CaseService(ctx).load_as_lead(case_id)
    page = await ctx.audit.access_log(case_id, limit=limit, cursor=cursor)
    return page_response(page, AccessLogEntry, AccessLogEntry.of)


# -- consents -----------------------------------------------------------------------------------
@router.post(
    "/{case_id}/consents",
    status_code=201,
    response_model=ConsentOut,
    summary="Record the survivor's (or guardian's) consent",
)
async def create_consent(
    case_id: UUID, body: ConsentCreate, ctx: ConsentsWriteCtx, idem: Idempotent
) -> Response:
    async def create() -> Created:
        row = await ConsentService(ctx).grant(case_id, body.to_input())
        return Created.in_case(case_id, "consents", row.id, ConsentOut.of(row, datetime.now(UTC)))

    return await idem.create(ctx, create)


@router.get(
    "/{case_id}/consents",
    response_model=PageOut[ConsentOut],
    summary="Consents of a case (the lead sees all; others those addressed to them)",
)
async def list_consents(
    case_id: UUID,
    ctx: CasesReadCtx,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    page = await ConsentService(ctx).list(case_id, limit=limit, cursor=cursor)
    now = datetime.now(UTC)
    return page_response(page, ConsentOut, lambda r: ConsentOut.of(r, now))


@router.get(
    "/{case_id}/consents/{consent_id}",
    response_model=ConsentOut,
    summary="One consent (the lead, or the organisation it is addressed to)",
)
async def get_consent(case_id: UUID, consent_id: UUID, ctx: CasesReadCtx) -> Response:
    row = await ConsentService(ctx).get(case_id, consent_id)
    return versioned_response(ConsentOut.of(row, datetime.now(UTC)), row.version)


@router.post(
    "/{case_id}/consents/{consent_id}/revoke",
    response_model=ConsentOut,
    summary="Revoke a consent (effective from the next request, everywhere)",
    responses=problem_responses(409),
)
async def revoke_consent(
    case_id: UUID,
    consent_id: UUID,
    body: RevokeIn,
    ctx: ConsentsWriteCtx,
) -> Response:
    row = await ConsentService(ctx).revoke(case_id, consent_id, body.reason)
    return model_response(ConsentOut.of(row, datetime.now(UTC)))


# -- timeline -----------------------------------------------------------------------------------
@router.post(
    "/{case_id}/updates",
    status_code=201,
    response_model=UpdateOut,
    summary="Add an update to the timeline (immutable; correct with `supersedes`)",
)
async def create_update(
    case_id: UUID, body: UpdateCreate, ctx: CasesWriteCtx, idem: Idempotent
) -> Response:
    async def create() -> Created:
        row = await UpdateService(ctx).post(case_id, body.to_input())
        return Created.in_case(case_id, "updates", row.id, UpdateOut.of(row))

    return await idem.create(ctx, create)


@router.get(
    "/{case_id}/updates/{update_id}",
    response_model=UpdateOut,
    summary="One timeline update",
)
async def get_update(case_id: UUID, update_id: UUID, ctx: CasesReadCtx) -> Response:
    row = await UpdateService(ctx).get(case_id, update_id)
    return versioned_response(UpdateOut.of(row), 1)


@router.get(
    "/{case_id}/updates",
    response_model=PageOut[UpdateOut],
    summary="The timeline: updates in categories you may see, oldest first",
)
async def list_updates(
    case_id: UUID,
    ctx: CasesReadCtx,
    category: Category | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    page = await UpdateService(ctx).list(case_id, category=category, limit=limit, cursor=cursor)
    return page_response(page, UpdateOut, UpdateOut.of)
