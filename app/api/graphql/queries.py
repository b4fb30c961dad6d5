"""The root query: each field calls the same domain service as its REST endpoint."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, TypeVar
from uuid import UUID

import strawberry
from pydantic import Field, TypeAdapter, ValidationError

from app.api.graphql.connections import (
    DEFAULT_FIRST,
    Connection,
    case_cursor,
    connection,
    organization_cursor,
    page_size,
    referral_cursor,
    testimony_cursor,
)
from app.api.graphql.context import Info
from app.api.graphql.errors import camel
from app.api.graphql.field_extensions import RequireScopes
from app.api.graphql.types.case import Case, CaseTestimony, Referral, prefetch_lists
from app.api.graphql.types.enums import (
    CaseRole,
    CaseStatus,
    Gender,
    OrganizationKind,
    ReferralDirection,
    ReferralStatus,
    ServiceKind,
    TestimonyStatus,
)
from app.api.graphql.types.event import Event, EventType, event_connection
from app.api.graphql.types.organization import Organization
from app.api.graphql.types.report import ReportSummary
from app.api.schemas.common import CountryCode, LanguageTag, RegionCode, Timestamp
from app.domain import events
from app.domain.access import Role
from app.domain.errors import ValidationFailed
from app.domain.organizations import DirectoryFilter
from app.domain.report_rules import MONTH_PATTERN, month

T = TypeVar("T")


@strawberry.input(description="Directory filters, as `GET /v1/organizations` takes them")
class OrganizationFilter:
    kind: OrganizationKind | None = None
    service: ServiceKind | None = None
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2")
    accepts_minors: bool | None = None
    has_capacity: bool | None = strawberry.field(
        default=None, description="true: only partners with a free place (for `service`)"
    )
    language: str | None = strawberry.field(
        default=None, description="A BCP 47 tag; partners speaking its primary language"
    )
    region: str | None = strawberry.field(
        default=None, description="ISO 3166-2 subdivision served, e.g. `TH-10`"
    )
    age: int | None = strawberry.field(
        default=None, description="Years: partners whose populations accept that age"
    )
    gender: Gender | None = strawberry.field(
        default=None, description="Partners serving this gender (or every gender)"
    )


_COUNTRY: TypeAdapter[str] = TypeAdapter(CountryCode)
_LANGUAGE: TypeAdapter[str] = TypeAdapter(LanguageTag)
_REGION: TypeAdapter[str] = TypeAdapter(RegionCode)
_AGE: TypeAdapter[int] = TypeAdapter(Annotated[int, Field(ge=0, le=130)])
_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(Timestamp)


def _checked(adapter: TypeAdapter[T], value: T | None, field: str, message: str) -> T | None:
    """A filter value checked as REST checks its query parameter (same rule, same message)."""
    if value is None:
        return None
    try:
        return adapter.validate_python(value, strict=True)
    except ValidationError:
        raise ValidationFailed(message, loc=["filter", field], where=None) from None


def _graphql_names(message: str) -> str:
    """A report's message with GraphQL's names for REST's query parameters."""
    return message.replace("start_month", "startMonth").replace("end_month", "endMonth")


def _timestamp(value: datetime | None, argument: str) -> datetime | None:
    """A timestamp argument held to REST's rule for the value (``Timestamp``: with an offset,
    in the years 1900-2199, as UTC). (The text is read by GraphQL's DateTime scalar, ISO 8601 as
    dateutil reads it, which takes a few forms RFC 3339 does not, e.g. a basic
    `20261205T010000Z`; a bare date or a time without an offset is refused here.)"""
    if value is None:
        return None
    try:
        return _TIMESTAMP.validate_python(value)
    except ValidationError:
        raise ValidationFailed(
            f"{argument} must be an RFC 3339 timestamp with an offset, in the years 1900-2199",
            loc=[argument],
            where=None,
        ) from None


def directory_filter(f: OrganizationFilter) -> DirectoryFilter:
    return DirectoryFilter(
        f.kind,
        f.service,
        _checked(_COUNTRY, f.country, "country", "country must be an ISO 3166-1 alpha-2 code"),
        f.accepts_minors,
        f.has_capacity,
        language=_checked(
            _LANGUAGE, f.language, "language", "language must be a BCP 47 tag such as 'th'"
        ),
        region=_checked(_REGION, f.region, "region", "region must be an ISO 3166-2 code"),
        age=_checked(_AGE, f.age, "age", "age must be between 0 and 130"),
        gender=f.gender,
    )


@strawberry.type
class Query:
    @strawberry.field(description="Your own organisation.")
    async def me(self, info: Info) -> Organization:
        services = info.context.services
        return Organization.of(await services.organizations().get(services.principal.org_id))

    @strawberry.field(description="One organisation of the directory (not_found when unknown).")
    async def organization(self, info: Info, id: UUID) -> Organization | None:
        return Organization.of(await info.context.services.organizations().get(id))

    @strawberry.field(description="Search the directory, by name.")
    async def organizations(
        self,
        info: Info,
        filter: OrganizationFilter | None = None,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
    ) -> Connection[Organization] | None:
        page = await info.context.services.organizations().list(
            directory_filter(filter or OrganizationFilter()),
            limit=page_size(first),
            cursor=after,
        )
        return connection(page, Organization.of, organization_cursor, after=after)

    @strawberry.field(
        description="A case as far as you may see it; null with a not_found error when you may "
        "not see it at all (exactly as REST's 404).",
        extensions=[RequireScopes("cases:read")],
    )
    async def case(self, info: Info, id: UUID) -> Case | None:
        return Case.of(await info.context.services.cases().get(id))

    @strawberry.field(
        description="Cases you lead or care for, least recently updated first.",
        extensions=[RequireScopes("cases:read")],
    )
    async def cases(
        self,
        info: Info,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
        status: CaseStatus | None = None,
        role: CaseRole | None = None,
        updated_since: datetime | None = None,
    ) -> Connection[Case] | None:
        page = await info.context.services.cases().list(
            role=Role(role) if role else None,
            status=str(status) if status else None,
            updated_since=_timestamp(updated_since, "updatedSince"),
            limit=page_size(first),
            cursor=after,
        )
        await prefetch_lists(info, [view.loaded for view in page.items])
        return connection(page, Case.of, case_cursor, after=after)

    @strawberry.field(
        description="A referral you sent or received; null with a not_found error otherwise.",
        extensions=[RequireScopes("referrals:read")],
    )
    async def referral(self, info: Info, id: UUID) -> Referral | None:
        return Referral.of(await info.context.services.referrals().get(id))

    @strawberry.field(
        description="Your referral inbox (incoming) and outbox (outgoing), oldest first.",
        extensions=[RequireScopes("referrals:read")],
    )
    async def referrals(
        self,
        info: Info,
        direction: ReferralDirection | None = None,
        status: ReferralStatus | None = None,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
    ) -> Connection[Referral] | None:
        page = await info.context.services.referrals().list(
            direction=str(direction) if direction else None,
            status=status,
            limit=page_size(first),
            cursor=after,
        )
        return connection(page, Referral.of, referral_cursor, after=after)

    @strawberry.field(
        description="Testimony preparation of every case you may see in `legal`, least recently "
        "changed first (as `GET /v1/legal/testimony`).",
        extensions=[RequireScopes("legal:read")],
    )
    async def testimony_status(
        self,
        info: Info,
        status: TestimonyStatus | None = None,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
    ) -> Connection[CaseTestimony] | None:
        page = await info.context.services.legal().testimony(
            status=status, limit=page_size(first), cursor=after
        )
        return connection(page, CaseTestimony.of, testimony_cursor, after=after)

    @strawberry.field(
        description="De-identified counts of your organisation's own work over whole months "
        "that have ended, `startMonth` to `endMonth` (`YYYY-MM`; default: the last twelve), as "
        "`GET /v1/reports/summary`: counts below `minCellSize` suppressed, the others the lower "
        "end of their band of 5. Audited as `report.summary`.",
        extensions=[RequireScopes("reports:read")],
    )
    async def report_summary(
        self, info: Info, start_month: str | None = None, end_month: str | None = None
    ) -> ReportSummary | None:
        if not info.context.first_time("reportSummary"):
            # One report a request: each reads all of the organisation's work over the period
            # (REST's rate limit counts a request, not the aliases in it).
            raise ValidationFailed(
                "reportSummary can be asked for once per request", loc=[], where=None
            )
        bad = [
            name
            for name, value in (("startMonth", start_month), ("endMonth", end_month))
            if value is not None and not re.fullmatch(MONTH_PATTERN, value)
        ]
        if bad:
            messages = [f"{name} must be a month, YYYY-MM" for name in bad]
            errors = [{"loc": [n], "msg": m} for n, m in zip(bad, messages, strict=True)]
            raise ValidationFailed(messages[0], errors=errors, where=None)
        first = month(start_month) if start_month else None
        last = month(end_month) if end_month else None
        try:
            summary = await info.context.services.reports().summary(first, last)
        except ValidationFailed as refused:  # a period refused: in GraphQL's names
            errors = [
                {
                    **e,
                    "loc": [camel(str(part)) for part in e["loc"]],
                    "msg": _graphql_names(str(e.get("msg", ""))),
                }
                for e in refused.extra["errors"]
            ]
            raise ValidationFailed(
                _graphql_names(refused.detail), errors=errors, where=None
            ) from None
        return ReportSummary.of(summary)

    @strawberry.field(
        description="Your change feed, oldest first (as `GET /v1/events`, without `wait`): pass "
        "`pageInfo.endCursor` as `after` to get what comes next; it is never null.",
        extensions=[RequireScopes("events:read")],
    )
    async def events(
        self,
        info: Info,
        types: list[EventType] | None = None,
        first: int = DEFAULT_FIRST,
        after: str | None = None,
    ) -> Connection[Event] | None:
        size = page_size(first)
        wanted = [events.EventType(t.value) for t in types] if types else None
        page = await info.context.services.events().read(after=after, types=wanted, limit=size)
        return event_connection(page, first=size, after=after)
