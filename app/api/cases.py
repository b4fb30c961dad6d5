"""Cases, consents, the timeline and the access log (CONTRACT §4 "Cases", "Consents",
"Case updates"). Every rule is the domain's; this module only translates HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Query
from starlette.responses import Response

from app.api.conditional import IfMatch, etag, expected_version
from app.api.deps import AuditReadCtx, CasesReadCtx, CasesWriteCtx, ConsentsWriteCtx
from app.api.idempotency import Created
from app.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit
from app.api.responses import model_response, page_response, versioned_response
from app.api.routes import Routes
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
from app.domain.context import RequestContext
from app.domain.updates import UpdateService
from app.domain.vocabulary import CaseStatus, Category

routes = Routes("cases", prefix="/v1/cases")
router = routes.router


CaseId = Annotated[UUID, "case id"]


async def _case_as_seen_now(ctx: RequestContext, case_id: UUID) -> bytes:
    # A retry sees the case as the caller may see it now (audited as a read); the stored
    # response keeps no body at all.
    case = CaseOut.of(await CaseService(ctx).get(case_id))
    return case.__pydantic_serializer__.to_json(case, exclude_unset=True)


@routes.create("", CaseOut, rerender=_case_as_seen_now)
async def create_case(body: CaseCreate, ctx: CasesWriteCtx) -> Created:
    """Open a case (your organisation becomes the lead)"""
    view = await CaseService(ctx).create(body.to_input())
    return Created(
        CaseOut.of(view),
        location=f"/v1/cases/{view.id}",
        headers={"ETag": etag(view.version)},
        exclude_unset=True,
        case_id=view.id,
    )


@routes.page("", CaseOut)
async def list_cases(
    ctx: CasesReadCtx,
    status: CaseStatus | None = None,
    role: Annotated[Literal["lead", "care_team"] | None, Query(description="Your role")] = None,
    updated_since: Annotated[Timestamp | None, Query(description="RFC 3339, with offset")] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """Cases you lead or care for"""
    page = await CaseService(ctx).list(
        role=Role(role) if role else None,
        status=str(status) if status else None,
        updated_since=updated_since,
        limit=limit,
        cursor=cursor,
    )
    return page_response(page, CaseOut, CaseOut.of)


@routes.read("/{case_id}", CaseOut)
async def get_case(case_id: UUID, ctx: CasesReadCtx) -> Response:
    """A case, as far as you may see it"""
    view = await CaseService(ctx).get(case_id)
    return versioned_response(CaseOut.of(view), view.version)


@routes.edit("/{case_id}", CaseOut, 409)
async def patch_case(
    case_id: UUID,
    body: CasePatch,
    ctx: CasesWriteCtx,
    if_match: IfMatch = None,
) -> Response:
    """Edit a case you lead"""
    version = expected_version(if_match)
    view = await CaseService(ctx).update(case_id, body.to_changes(), expected_version=version)
    return versioned_response(CaseOut.of(view), view.version)


@routes.act("/{case_id}/close", CaseOut, 409)
async def close_case(case_id: UUID, body: CloseIn, ctx: CasesWriteCtx) -> Response:
    """Close a case you lead"""
    view = await CaseService(ctx).close(case_id, body.reason)
    return versioned_response(CaseOut.of(view), view.version)


@routes.delete("/{case_id}/survivor-identity")
async def erase_identity(case_id: UUID, ctx: CasesWriteCtx) -> Response:
    """Erase the survivor's identity (destroys its encryption key)"""
    await CaseService(ctx).erase_identity(case_id)
    return Response(status_code=204)


@routes.page("/{case_id}/access-log", AccessLogEntry)
async def access_log(
    case_id: UUID,
    ctx: AuditReadCtx,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """Who read or changed a case you lead (newest first)"""
    await CaseService(ctx).load_as_lead(case_id)
    page = await ctx.audit.access_log(case_id, limit=limit, cursor=cursor)
    return page_response(page, AccessLogEntry, AccessLogEntry.of)


# -- consents -----------------------------------------------------------------------------------
@routes.create("/{case_id}/consents", ConsentOut)
async def create_consent(case_id: UUID, body: ConsentCreate, ctx: ConsentsWriteCtx) -> Created:
    """Record the survivor's (or guardian's) consent"""
    row = await ConsentService(ctx).grant(case_id, body.to_input())
    return Created.in_case(case_id, "consents", row.id, ConsentOut.of(row, datetime.now(UTC)))


@routes.page("/{case_id}/consents", ConsentOut)
async def list_consents(
    case_id: UUID,
    ctx: CasesReadCtx,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """Consents of a case (the lead sees all; others those addressed to them)"""
    page = await ConsentService(ctx).list(case_id, limit=limit, cursor=cursor)
    now = datetime.now(UTC)
    return page_response(page, ConsentOut, lambda r: ConsentOut.of(r, now))


@routes.read("/{case_id}/consents/{consent_id}", ConsentOut)
async def get_consent(case_id: UUID, consent_id: UUID, ctx: CasesReadCtx) -> Response:
    """One consent (the lead, or the organisation it is addressed to)"""
    row = await ConsentService(ctx).get(case_id, consent_id)
    return versioned_response(ConsentOut.of(row, datetime.now(UTC)), row.version)


@routes.act("/{case_id}/consents/{consent_id}/revoke", ConsentOut, 409)
async def revoke_consent(
    case_id: UUID,
    consent_id: UUID,
    body: RevokeIn,
    ctx: ConsentsWriteCtx,
) -> Response:
    """Revoke a consent (effective from the next request, everywhere)"""
    row = await ConsentService(ctx).revoke(case_id, consent_id, body.reason)
    return model_response(ConsentOut.of(row, datetime.now(UTC)))


# -- timeline -----------------------------------------------------------------------------------
@routes.create("/{case_id}/updates", UpdateOut)
async def create_update(case_id: UUID, body: UpdateCreate, ctx: CasesWriteCtx) -> Created:
    """Add an update to the timeline (immutable; correct with `supersedes`)"""
    row = await UpdateService(ctx).post(case_id, body.to_input())
    return Created.in_case(case_id, "updates", row.id, UpdateOut.of(row))


@routes.read("/{case_id}/updates/{update_id}", UpdateOut)
async def get_update(case_id: UUID, update_id: UUID, ctx: CasesReadCtx) -> Response:
    """One timeline update"""
    row = await UpdateService(ctx).get(case_id, update_id)
    return versioned_response(UpdateOut.of(row), 1)


@routes.page("/{case_id}/updates", UpdateOut)
async def list_updates(
    case_id: UUID,
    ctx: CasesReadCtx,
    category: Category | None = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """The timeline: updates in categories you may see, oldest first"""
    page = await UpdateService(ctx).list(case_id, category=category, limit=limit, cursor=cursor)
    return page_response(page, UpdateOut, UpdateOut.of)
