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


async def add_member(
    database: Database, case_id: UUID, org_id: UUID, categories: list[str]
) -> None:
    """Put an organisation on a case's care team (what accepting a referral will do)."""
    from uuid import uuid4

    from app.db.repositories import cases as case_repo

    session = database.session(transactional=True)
    try:
        await case_repo.add_member(
            session,
            id=uuid4(),
            case_id=case_id,
            org_id=org_id,
            categories=categories,
            referral_id=None,
        )
        await session.commit()
    finally:
        await session.close()


def case_body(**overrides: Any) -> dict[str, Any]:
    """A fictional adult survivor's intake."""
    body: dict[str, Any] = {
        "external_ref": "HL-2026-0001",
        "survivor": {
            "given_name": "Planted-Givenname-Xq7",
            "family_name": "Planted-Familyname-Zr9",
            "aliases": ["Planted-Alias-Kv3"],
            "date_of_birth": "1999-04-12",
            "gender": "female",
            "nationality": "MM",
            "languages": ["my", "th"],
            "contact": {"phone": "+66-0000-PLANTED", "address": "Planted-Street-Location-88"},
        },
        "exploitation": {"types": ["labour"], "identified_on": "2026-10-02", "country": "TH"},
        "needs": ["shelter", "medical", "legal"],
        "risk_level": "high",
    }
    body.update(overrides)
    return body


PLANTED = (
    "Planted-Givenname-Xq7",
    "Planted-Familyname-Zr9",
    "Planted-Alias-Kv3",
    "1999-04-12",
    "+66-0000-PLANTED",
    "Planted-Street-Location-88",
)


def minor_body(**overrides: Any) -> dict[str, Any]:
    body = case_body(external_ref="HL-2026-0002")
    body["survivor"] = {**body["survivor"], "date_of_birth": None, "estimated_birth_year": 2011}
    body["survivor"].pop("date_of_birth")
    body["guardian"] = {"name": "Planted-Guardian-Name", "relationship": "aunt"}
    body.update(overrides)
    return body
