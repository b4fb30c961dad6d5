from __future__ import annotations

from uuid import UUID

from strawberry.dataloader import DataLoader

from app.api.graphql.services import Services
from app.domain.organizations import Organization


class OrganizationByIdLoader(DataLoader[UUID, Organization | None]):
    """Directory entries (public to every partner), one statement per batch."""

    def __init__(self, services: Services) -> None:
        super().__init__(load_fn=self._load)
        self._services = services

    async def _load(self, keys: list[UUID]) -> list[Organization | None]:
        found = await self._services.organizations().get_many(keys)
        return [found.get(key) for key in keys]
