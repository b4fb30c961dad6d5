from __future__ import annotations

from uuid import UUID

from strawberry.dataloader import DataLoader

from app.api.graphql.services import Services
from app.domain.cases import CaseView


class CaseByIdLoader(DataLoader[UUID, CaseView | None]):
    """Cases as the caller may see them (None: not visible); audited as one ``case.read``."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[UUID]) -> list[CaseView | None]:
        views = await self._services.cases().get_many(keys)
        return [views.get(key) for key in keys]
