"""The domain services a GraphQL request reads through, bound to its unit of work and caller.

The context (``app.api.graphql.context``) holds them, and the loaders
(``app.api.graphql.loaders``) are built from them: both import this module, not each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.db.database import Session
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
from app.domain.reports import ReportService
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

    def reports(self) -> ReportService:
        return ReportService(self.ctx)

    def events(self) -> EventFeed:
        """The caller's change feed, without long polling (GraphQL answers at once)."""
        return EventFeed(self.ctx.session, self.ctx.principal.org_id, None)

    def organizations(self) -> OrganizationService:
        return OrganizationService(self.ctx.session)
