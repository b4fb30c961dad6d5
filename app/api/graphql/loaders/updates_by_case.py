from __future__ import annotations

from uuid import UUID

from strawberry.dataloader import DataLoader

from app.api.graphql.loaders.case_page_key import CasePageKey, load_pages
from app.api.graphql.services import Services
from app.domain.pagination import Page
from app.domain.updates import TimelineUpdate
from app.domain.vocabulary import Category


class UpdatesByCaseLoader(DataLoader[CasePageKey, Page[TimelineUpdate]]):
    """A page of each case's timeline (``filter``: a category), as ``UpdateService.list``
    would give it, in one statement per batch and one ``update.list`` audit row."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[CasePageKey]) -> list[Page[TimelineUpdate]]:
        return await load_pages(keys, self._fetch)

    async def _fetch(
        self, case_ids: list[UUID], first: int, after: str | None, category: str | None
    ) -> dict[UUID, Page[TimelineUpdate]]:
        return await self._services.updates().pages_for_cases(
            case_ids,
            category=Category(category) if category else None,
            limit=first,
            cursor=after,
        )
