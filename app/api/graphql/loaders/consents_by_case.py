from __future__ import annotations

from uuid import UUID

from strawberry.dataloader import DataLoader

from app.api.graphql.loaders.case_page_key import CasePageKey, load_pages
from app.api.graphql.services import Services
from app.domain.consents import Consent
from app.domain.pagination import Page


class ConsentsByCaseLoader(DataLoader[CasePageKey, Page[Consent]]):
    """A page of each case's consents (the lead sees all, others those addressed to them)."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[CasePageKey]) -> list[Page[Consent]]:
        return await load_pages(keys, self._fetch)

    async def _fetch(
        self, case_ids: list[UUID], first: int, after: str | None, _filter: str | None
    ) -> dict[UUID, Page[Consent]]:
        return await self._services.consents().pages_for_cases(case_ids, limit=first, cursor=after)
