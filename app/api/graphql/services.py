"""The domain services, bound to one request's unit of work and caller."""

from __future__ import annotations

from dataclasses import dataclass

from app.db.serialized import SerializedSession
from app.domain.cases import CaseService
from app.domain.consents import ConsentService
from app.domain.crypto import KeyWrapper
from app.domain.legal import LegalService
from app.domain.organizations import OrganizationService
from app.domain.placements import PlacementService
from app.domain.principal import Principal
from app.domain.referrals import ReferralService
from app.domain.updates import UpdateService


@dataclass(frozen=True, slots=True)
class Services:
    session: SerializedSession
    key_wrapper: KeyWrapper
    principal: Principal
    max_details_bytes: int

    def cases(self) -> CaseService:
        return CaseService(self.session, self.key_wrapper, self.principal)

    def consents(self) -> ConsentService:
        return ConsentService(self.session, self.key_wrapper, self.principal)

    def updates(self) -> UpdateService:
        return UpdateService(
            self.session,
            self.key_wrapper,
            self.principal,
            max_details_bytes=self.max_details_bytes,
        )

    def referrals(self) -> ReferralService:
        return ReferralService(self.session, self.key_wrapper, self.principal)

    def legal(self) -> LegalService:
        return LegalService(self.session, self.key_wrapper, self.principal)

    def placements(self) -> PlacementService:
        return PlacementService(self.session, self.key_wrapper, self.principal)

    def organizations(self) -> OrganizationService:
        return OrganizationService(self.session)
