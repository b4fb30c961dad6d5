"""DataLoaders, one per file, built fresh for every request (never shared across requests or
organisations: each is bound to one caller's services). Their caches are emptied after every
mutation (``field_extensions.Atomic``), so nothing loaded before a write answers after it."""

from __future__ import annotations

from dataclasses import dataclass, fields

from app.api.graphql.loaders.case_by_id import CaseByIdLoader
from app.api.graphql.loaders.case_page_key import CasePageKey
from app.api.graphql.loaders.consents_by_case import ConsentsByCaseLoader
from app.api.graphql.loaders.legal_by_case import LegalByCaseLoader
from app.api.graphql.loaders.organization_by_id import OrganizationByIdLoader
from app.api.graphql.loaders.placements_by_case import PlacementsByCaseLoader
from app.api.graphql.loaders.referrals_by_case import ReferralsByCaseLoader
from app.api.graphql.loaders.updates_by_case import UpdatesByCaseLoader
from app.api.graphql.services import Services


@dataclass(frozen=True, slots=True)
class Loaders:
    case_by_id: CaseByIdLoader
    organization_by_id: OrganizationByIdLoader
    updates_by_case: UpdatesByCaseLoader
    consents_by_case: ConsentsByCaseLoader
    referrals_by_case: ReferralsByCaseLoader
    legal_by_case: LegalByCaseLoader
    placements_by_case: PlacementsByCaseLoader

    def clear_all(self) -> None:
        """Forget everything loaded so far (a mutation may have changed it, or what the caller
        may see of it)."""
        for field in fields(self):
            getattr(self, field.name).clear_all()

    @classmethod
    def build(cls, services: Services) -> Loaders:
        return cls(
            case_by_id=CaseByIdLoader(services),
            organization_by_id=OrganizationByIdLoader(services),
            updates_by_case=UpdatesByCaseLoader(services),
            consents_by_case=ConsentsByCaseLoader(services),
            referrals_by_case=ReferralsByCaseLoader(services),
            legal_by_case=LegalByCaseLoader(services),
            placements_by_case=PlacementsByCaseLoader(services),
        )


__all__ = ["CasePageKey", "Loaders"]
