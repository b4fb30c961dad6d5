"""Directory endpoints (CONTRACT §4 "Organizations")."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Query

from app.api.conditional import Versions
from app.api.deps import AnyCtx, DirectoryWriteCtx
from app.api.pagination import Paging
from app.api.routes import Routes
from app.api.schemas.common import CountryCode, LanguageTag, QueryBool, RegionCode
from app.api.schemas.organizations import OrganizationOut, OrganizationPatch
from app.domain.organizations import DirectoryFilter, Organization, OrganizationService
from app.domain.pagination import Page
from app.domain.vocabulary import Gender, OrganizationKind, ServiceKind

routes = Routes("organizations", prefix="/v1/organizations", not_found=False)
router = routes.router


@routes.page("", OrganizationOut.of)
async def list_organizations(
    ctx: AnyCtx,
    paging: Paging,
    kind: OrganizationKind | None = None,
    service: ServiceKind | None = None,
    country: Annotated[CountryCode | None, Query()] = None,
    accepts_minors: QueryBool | None = None,
    has_capacity: Annotated[
        QueryBool | None,
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
) -> Page[Organization]:
    """Search the directory"""
    return await OrganizationService(ctx.session).list(
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
        **paging,
    )


@routes.read("/me", OrganizationOut.of)
async def get_my_organization(ctx: AnyCtx) -> Organization:
    """Your own organisation"""
    return await OrganizationService(ctx.session).get(ctx.principal.org_id)


@routes.edit("/me", OrganizationOut.of)
async def patch_my_organization(
    body: OrganizationPatch, ctx: DirectoryWriteCtx, expected_version: Versions
) -> Organization:
    """Update your profile and capacity"""
    return await OrganizationService(ctx.session).update_profile(
        ctx.principal.org_id, body.to_change(), expected_version=expected_version
    )


@routes.read("/{org_id}", OrganizationOut.of, 404)
async def get_organization(org_id: UUID, ctx: AnyCtx) -> Organization:
    """One organisation"""
    return await OrganizationService(ctx.session).get(org_id)
