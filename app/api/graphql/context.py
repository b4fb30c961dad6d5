"""The per-request GraphQL context: the caller, its unit of work, services and fresh loaders.

Built by the router for every request from the request's :class:`RequestContext` (made by
``app.api.deps.request_context``, as for REST) after the bearer token was verified. The loaders
are new each time, so nothing one request (or organisation) loaded can ever answer another.
"""

from __future__ import annotations

from dataclasses import dataclass

import strawberry
from starlette.requests import Request

from app.api.graphql.loaders import Loaders
from app.db.database import Session
from app.db.serialized import SerializedSession
from app.domain.care_plan import CarePlanService
from app.domain.cases import CaseService
from app.domain.consents import ConsentService
from app.domain.context import RequestContext
from app.domain.events import EventFeed
from app.domain.legal import LegalService
from app.domain.organizations import OrganizationService
from app.domain.placements import PlacementService
from app.domain.principal import Principal
from app.domain.referrals import ReferralService
from app.domain.updates import UpdateService


@dataclass(frozen=True, slots=True)
class Services:
    """The domain services, bound to one request's :class:`RequestContext` (its unit of work and
    caller), the same object REST endpoints build theirs from."""

    ctx: RequestContext

    @property
    def principal(self) -> Principal:
        return self.ctx.principal

    @property
    def session(self) -> Session:
        return self.ctx.session

    def cases(self) -> CaseService:
        return CaseService(self.ctx)

    def consents(self) -> ConsentService:
        return ConsentService(self.ctx)

    def updates(self) -> UpdateService:
        return UpdateService(self.ctx)

    def referrals(self) -> ReferralService:
        return ReferralService(self.ctx)

    def legal(self) -> LegalService:
        return LegalService(self.ctx)

    def placements(self) -> PlacementService:
        return PlacementService(self.ctx)

    def care_plan(self) -> CarePlanService:
        return CarePlanService(self.ctx)

    def events(self) -> EventFeed:
        """The caller's change feed, without long polling (GraphQL answers at once)."""
        return EventFeed(self.ctx.session, self.ctx.principal.org_id, None)

    def organizations(self) -> OrganizationService:
        return OrganizationService(self.ctx.session)


@dataclass(frozen=True, slots=True)
class GraphQLContext:
    request: Request
    services: Services
    loaders: Loaders
    session: SerializedSession  # ``services.ctx.session``, with savepoints for mutations

    @property
    def principal(self) -> Principal:
        return self.services.principal


def build_context(
    request: Request, ctx: RequestContext, session: SerializedSession
) -> GraphQLContext:
    """The context of a request whose unit of work is ``session`` (``ctx.session``)."""
    services = Services(ctx)
    return GraphQLContext(
        request=request, services=services, loaders=Loaders.build(services), session=session
    )


Info = strawberry.Info[GraphQLContext, None]
