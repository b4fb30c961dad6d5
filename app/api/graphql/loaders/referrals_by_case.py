from __future__ import annotations

from uuid import UUID

from strawberry.dataloader import DataLoader

from app.api.graphql.loaders.case_page_key import CasePageKey, load_pages
from app.api.graphql.services import Services
from app.domain.pagination import Page
from app.domain.referral_rules import ReferralStatus
from app.domain.referrals import ReferralView


class ReferralsByCaseLoader(DataLoader[CasePageKey, Page[ReferralView]]):
    """A page of each case's referrals that the caller sent or received (``filter``: a
    status), previews audited as ``ReferralService.list`` audits them."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[CasePageKey]) -> list[Page[ReferralView]]:
        return await load_pages(keys, self._fetch)

    async def _fetch(
        self, case_ids: list[UUID], first: int, after: str | None, status: str | None
    ) -> dict[UUID, Page[ReferralView]]:
        return await self._services.referrals().pages_for_cases(
            case_ids,
            status=ReferralStatus(status) if status else None,
            limit=first,
            cursor=after,
        )
