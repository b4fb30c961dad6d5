from __future__ import annotations

from uuid import UUID

from strawberry.dataloader import DataLoader

from app.api.graphql.loaders.case_page_key import CasePageKey, load_pages
from app.api.graphql.services import Services
from app.domain.pagination import Page
from app.domain.placements import Placement


class PlacementsByCaseLoader(DataLoader[CasePageKey, Page[Placement]]):
    """A page of each case's placements (only where the caller may see `placement`)."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[CasePageKey]) -> list[Page[Placement]]:
        return await load_pages(keys, self._fetch)

    async def _fetch(
        self, case_ids: list[UUID], first: int, after: str | None, _filter: str | None
    ) -> dict[UUID, Page[Placement]]:
        return await self._services.placements().pages_for_cases(
            case_ids, limit=first, cursor=after
        )
