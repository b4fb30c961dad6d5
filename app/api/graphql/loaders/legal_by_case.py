from __future__ import annotations

from uuid import UUID

from strawberry.dataloader import DataLoader

from app.api.graphql.services import Services
from app.domain.legal import LegalRecord


class LegalByCaseLoader(DataLoader[UUID, LegalRecord | None]):
    """Each case's legal record (None where the caller may not see `legal`)."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[UUID]) -> list[LegalRecord | None]:
        found = await self._services.legal().records_for_cases(list(dict.fromkeys(keys)))
        return [found.get(key) for key in keys]
