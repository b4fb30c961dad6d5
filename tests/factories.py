"""Async factories for fictional test data, and token helpers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from app.api.context import AppContext
from app.db.database import Database
from app.domain.clients import Client, ClientService
from app.domain.organizations import CapacityEntry, Organization, OrganizationService
from app.domain.scopes import ALL_SCOPES
from app.domain.tokens import TokenService
from app.domain.vocabulary import OrganizationKind, ServiceKind


@dataclass
class Partner:
    org: Organization
    client: Client
    secret: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def headers_with(self, **extra: str) -> dict[str, str]:
        return {**self.headers, **extra}


class Factory:
    def __init__(self, database: Database, ctx: AppContext) -> None:
        self.database = database
        self.ctx = ctx
        self._n = 0

    async def organization(self, **kw: Any) -> Organization:
        self._n += 1
        kw.setdefault("name", f"Test Partner {self._n:03d}")
        kw.setdefault("kind", OrganizationKind.NGO_SHELTER)
        kw.setdefault("country", "TH")
        kw.setdefault("services", [ServiceKind.SHELTER])
        kw["capacity"] = [
            c if isinstance(c, CapacityEntry) else CapacityEntry(*c) for c in kw.get("capacity", [])
        ]
        session = self.database.session(transactional=True)
        try:
            org = await OrganizationService(session).create(**kw)
            await session.commit()
            return org
        finally:
            await session.close()

    async def client(self, org_id: UUID, scopes: list[str] | None = None) -> tuple[Client, str]:
        session = self.database.session(transactional=True)
        try:
            created = await ClientService(session).create(
                org_id=org_id, name="test client", scopes=sorted(scopes or ALL_SCOPES)
            )
            await session.commit()
            return created.client, created.client_secret
        finally:
            await session.close()

    def token(self, client: Client, scope: str | None = None) -> str:
        service = TokenService(None, self.ctx.keyring, self.ctx.token_config)  # type: ignore[arg-type]
        return service.issue(client, scope).access_token

    async def partner(
        self, scopes: list[str] | None = None, token_scope: str | None = None, **org: Any
    ) -> Partner:
        organization = await self.organization(**org)
        client, secret = await self.client(organization.id, scopes)
        return Partner(organization, client, secret, self.token(client, token_scope))
