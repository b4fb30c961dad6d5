"""Directory endpoints (CONTRACT §4 "Organizations")."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query
from starlette.responses import Response

from app.api.conditional import IfMatch, expected_version
from app.api.deps import AnyCtx, DirectoryWriteCtx
from app.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit
from app.api.responses import page_response, versioned_response
from app.api.routes import Routes
from app.api.schemas.common import CountryCode, LanguageTag, RegionCode
from app.api.schemas.organizations import OrganizationOut, OrganizationPatch
from app.domain.context import RequestContext
from app.domain.organizations import DirectoryFilter, OrganizationService
from app.domain.vocabulary import Gender, OrganizationKind, ServiceKind

routes = Routes("organizations", prefix="/v1/organizations", not_found=False)
router = routes.router


@routes.page("", OrganizationOut)
async def list_organizations(
    ctx: AnyCtx,
    kind: OrganizationKind | None = None,
    service: ServiceKind | None = None,
    country: Annotated[CountryCode | None, Query()] = None,
    accepts_minors: bool | None = None,
    has_capacity: Annotated[
        bool | None,
        Query(description="true: only partners with a free place (for `service` when given)"),
    ] = None,
    language: Annotated[
        LanguageTag | None,
        Query(description="A BCP 47 tag; partners speaking its primary language (`th`)"),
    ] = None,
    region: Annotated[
        RegionCode | None, Query(description="ISO 3166-2 subdivision served, e.g. `TH-10`")
    ] = None,
    age: Annotated[
        int | None,
        Query(ge=0, le=130, description="Years: partners whose populations accept that age"),
    ] = None,
    gender: Annotated[
        Gender | None, Query(description="Partners serving this gender (or every gender)")
    ] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    cursor: Cursor = None,
) -> Response:
    """Search the directory"""
    page = await OrganizationService(ctx.session).list(
        DirectoryFilter(
            kind,
            service,
            country,
            accepts_minors,
            has_capacity,
            language=language,
            region=region,
            age=age,
            gender=gender,
        ),
        limit=limit,
        cursor=cursor,
    )
    return page_response(page, OrganizationOut, OrganizationOut.of)


async def _organization(ctx: RequestContext, org_id: UUID) -> Response:
    org = await OrganizationService(ctx.session).get(org_id)
    return versioned_response(OrganizationOut.of(org), org.version)


@routes.read("/me", OrganizationOut)
async def get_my_organization(ctx: AnyCtx) -> Response:
    """Your own organisation"""
    return await _organization(ctx, ctx.principal.org_id)


@routes.edit("/me", OrganizationOut)
async def patch_my_organization(
    body: OrganizationPatch, ctx: DirectoryWriteCtx, if_match: IfMatch = None
) -> Response:
    """Update your profile and capacity"""
    org = await OrganizationService(ctx.session).update_profile(
        ctx.principal.org_id, body.to_change(), expected_version=expected_version(if_match)
    )
    return versioned_response(OrganizationOut.of(org), org.version)


@routes.read("/{org_id}", OrganizationOut, 404)
async def get_organization(org_id: UUID, ctx: AnyCtx) -> Response:
    """One organisation"""
    return await _organization(ctx, org_id)
