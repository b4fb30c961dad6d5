"""Cases, consents, the timeline and the access log (CONTRACT §4 "Cases", "Consents",
"Case updates"). Every rule is the domain's; this module only translates HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Query
from starlette.responses import Response

from app.api.conditional import Versions
from app.api.deps import AuditReadCtx, CasesReadCtx, CasesWriteCtx, ConsentsWriteCtx
from app.api.idempotency import Created
from app.api.pagination import Paging
from app.api.responses import page_response, resource_response
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
from app.domain.audit import AccessLogRow
from app.domain.case_closing import CaseClosing
from app.domain.cases import CaseService, CaseView
from app.domain.consents import ConsentService
from app.domain.context import RequestContext
from app.domain.pagination import Page
from app.domain.updates import TimelineUpdate, UpdateService
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
        case_id=view.id,
    )


@routes.page("", CaseOut.plain)
async def list_cases(
    ctx: CasesReadCtx,
    paging: Paging,
    status: CaseStatus | None = None,
    role: Annotated[Literal["lead", "care_team"] | None, Query(description="Your role")] = None,
    updated_since: Annotated[Timestamp | None, Query(description="RFC 3339, with offset")] = None,
) -> Page[CaseView]:
    """Cases you lead or care for"""
    return await CaseService(ctx).list(
        role=Role(role) if role else None,
        status=str(status) if status else None,
        updated_since=updated_since,
        **paging,
    )


@routes.read("/{case_id}", CaseOut.plain)
async def get_case(case_id: UUID, ctx: CasesReadCtx) -> CaseView:
    """A case, as far as you may see it"""
    return await CaseService(ctx).get(case_id)


@routes.edit("/{case_id}", CaseOut.of, 409)
async def patch_case(
    case_id: UUID, body: CasePatch, ctx: CasesWriteCtx, expected_version: Versions
) -> CaseView:
    """Edit a case you lead"""
    return await CaseService(ctx).update(
        case_id, body.to_changes(), expected_version=expected_version
    )


@routes.act("/{case_id}/close", CaseOut.of, 409)
async def close_case(case_id: UUID, body: CloseIn, ctx: CasesWriteCtx) -> CaseView:
    """Close a case you lead"""
    return await CaseClosing(ctx).close(case_id, body.reason)


@routes.delete("/{case_id}/survivor-identity")
async def erase_identity(case_id: UUID, ctx: CasesWriteCtx) -> Response:
    """Erase the survivor's identity (destroys its encryption key)"""
    await CaseService(ctx).erase_identity(case_id)
    return Response(status_code=204)


@routes.page("/{case_id}/access-log", AccessLogEntry.of)
async def access_log(case_id: UUID, ctx: AuditReadCtx, paging: Paging) -> Page[AccessLogRow]:
    """Who read or changed a case you lead (newest first)"""
    await CaseService(ctx).load_as_lead(case_id)
    return await ctx.audit.access_log(case_id, **paging)


# -- consents -----------------------------------------------------------------------------------
@routes.create(
    "/{case_id}/consents",
    ConsentOut,
    again=lambda ctx, case_id, made: ConsentService(ctx).get(case_id, made),
)
async def create_consent(case_id: UUID, body: ConsentCreate, ctx: ConsentsWriteCtx) -> Created:
    """Record the survivor's (or guardian's) consent"""
    row = await ConsentService(ctx).grant(case_id, body.to_input())
    return Created.in_case(case_id, "consents", row.id, ConsentOut.of(row, datetime.now(UTC)))


@routes.page("/{case_id}/consents", ConsentOut)
async def list_consents(case_id: UUID, ctx: CasesReadCtx, paging: Paging) -> Response:
    """Consents of a case (the lead sees all; others those addressed to them)"""
    page = await ConsentService(ctx).list(case_id, **paging)
    now = datetime.now(UTC)
    return page_response(page, ConsentOut, lambda r: ConsentOut.of(r, now))


@routes.read("/{case_id}/consents/{consent_id}", ConsentOut)
async def get_consent(case_id: UUID, consent_id: UUID, ctx: CasesReadCtx) -> Response:
    """One consent (the lead, or the organisation it is addressed to)"""
    row = await ConsentService(ctx).get(case_id, consent_id)
    return resource_response(ConsentOut.of(row, datetime.now(UTC)))


@routes.act("/{case_id}/consents/{consent_id}/revoke", ConsentOut, 409)
async def revoke_consent(
    case_id: UUID,
    consent_id: UUID,
    body: RevokeIn,
    ctx: ConsentsWriteCtx,
) -> Response:
    """Revoke a consent: the lead any, the organisation a consent names that one (effective from
    the next request, everywhere)"""
    row = await ConsentService(ctx).revoke(case_id, consent_id, body.reason)
    return resource_response(ConsentOut.of(row, datetime.now(UTC)))


# -- timeline -----------------------------------------------------------------------------------
@routes.create(
    "/{case_id}/updates",
    UpdateOut,
    again=lambda ctx, case_id, made: UpdateService(ctx).get(case_id, made),
)
async def create_update(case_id: UUID, body: UpdateCreate, ctx: CasesWriteCtx) -> Created:
    """Add an update to the timeline (immutable; correct with `supersedes`)"""
    row = await UpdateService(ctx).post(case_id, body.to_input())
    return Created.in_case(case_id, "updates", row.id, UpdateOut.of(row))


@routes.read("/{case_id}/updates/{update_id}", UpdateOut.plain)
async def get_update(case_id: UUID, update_id: UUID, ctx: CasesReadCtx) -> TimelineUpdate:
    """One timeline update"""
    return await UpdateService(ctx).get(case_id, update_id)


@routes.page("/{case_id}/updates", UpdateOut.plain)
async def list_updates(
    case_id: UUID,
    ctx: CasesReadCtx,
    paging: Paging,
    category: Category | None = None,
) -> Page[TimelineUpdate]:
    """The timeline: updates in categories you may see, oldest first"""
    return await UpdateService(ctx).list(case_id, category=category, **paging)
