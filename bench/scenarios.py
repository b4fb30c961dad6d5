"""Benchmark scenarios: what is requested, and the data it needs.

A scenario names one endpoint that both the real app and ``bench/baseline.py`` serve with the same
SQL. Its ``setup`` seeds what the endpoint reads (through the domain services, as the tests'
factories do) and returns the concrete path and headers to request. To add one: write the setup,
add the route to the baseline (running the statements the app runs, imported from the app's
repositories), and register the scenario in ``SCENARIOS``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

from app.db.database import Database
from app.db.repositories import clients as client_repo
from app.domain.cases import CaseInput, CaseService, CaseView, Identity
from app.domain.clients import Client, ClientService
from app.domain.crypto import KeyWrapper
from app.domain.keys import KeyRing
from app.domain.organizations import CapacityEntry, Organization, OrganizationService
from app.domain.principal import Principal
from app.domain.scopes import ALL_SCOPES
from app.domain.tokens import TokenConfig, TokenService
from app.domain.vocabulary import (
    ExploitationType,
    Gender,
    OrganizationKind,
    RiskLevel,
    ServiceKind,
)


@dataclass(frozen=True)
class Prepared:
    """What to request once the data is seeded."""

    path: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SeedContext:
    """Seeding helpers over the bench database, the signing keys, the app's token settings and
    the key-encryption key (the same KEK the app and the baseline are given)."""

    database: Database
    keyring: KeyRing
    token_config: TokenConfig
    key_wrapper: KeyWrapper
    _count: int = 0

    async def organization(
        self,
        *,
        kind: OrganizationKind = OrganizationKind.NGO_SHELTER,
        country: str = "TH",
        services: Sequence[ServiceKind] = (ServiceKind.SHELTER,),
        capacity: Sequence[CapacityEntry] = (),
        languages: Sequence[str] = ("th", "en"),
        regions: Sequence[str] = (),
        accepts_minors: bool = False,
        genders: Sequence[str] = (),
    ) -> Organization:
        self._count += 1
        session = self.database.session(transactional=True)
        try:
            org = await OrganizationService(session).create(
                name=f"Bench Partner {self._count:03d}",
                kind=kind,
                country=country,
                services=services,
                capacity=capacity,
                languages=languages,
                regions=regions,
                accepts_minors=accepts_minors,
                genders=genders,
            )
            await session.commit()
            return org
        finally:
            await session.close()

    async def client(self, org_id: UUID, scopes: Sequence[str] = tuple(ALL_SCOPES)) -> Client:
        session = self.database.session(transactional=True)
        try:
            created = await ClientService(session).create(
                org_id=org_id, name="bench client", scopes=sorted(scopes)
            )
            await session.commit()
            return created.client
        finally:
            await session.close()

    async def revoked_tokens(self, client: Client, count: int) -> None:
        """Unrelated revoked tokens, so the per-request revocation check probes a real index."""
        session = self.database.session(transactional=True)
        try:
            expires_at = datetime.now(UTC) + timedelta(days=1)
            for _ in range(count):
                await client_repo.revoke(
                    session, jti=uuid4(), client_id=client.client_id, expires_at=expires_at
                )
            await session.commit()
        finally:
            await session.close()

    async def case(self, client: Client, data: CaseInput) -> CaseView:
        """A case opened by ``client``'s organisation through the domain service, as
        ``POST /v1/cases`` does (identity encrypted under a fresh data key, audit row written)."""
        principal = Principal(
            client_id=client.client_id,
            org_id=client.org_id,
            scopes=frozenset(client.scopes),
            jti=uuid4(),
            expires_at=int((datetime.now(UTC) + timedelta(hours=1)).timestamp()),
            request_id="bench-seed",
        )
        session = self.database.session(transactional=True)
        try:
            view = await CaseService(session, self.key_wrapper, principal).create(data)
            await session.commit()
            return view
        finally:
            await session.close()

    def token(self, client: Client) -> str:
        """An access token exactly as ``POST /oauth/token`` would issue it (TTL from settings)."""
        session = self.database.session(transactional=False)  # issuing never touches it
        return (
            TokenService(session, self.keyring, self.token_config).issue(client, None).access_token
        )


Setup = Callable[[SeedContext], Awaitable[Prepared]]


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    description: str
    setup: Setup


_SERVICES = list(ServiceKind)
_KINDS = list(OrganizationKind)
_COUNTRIES = ("TH", "KH", "MM", "LA", "VN")


async def seed_directory(ctx: SeedContext, count: int = 20) -> list[Organization]:
    """A small fictional directory: each partner offers three services with capacity."""
    orgs = []
    for i in range(count):
        services = [_SERVICES[(i + k) % len(_SERVICES)] for k in range(3)]
        orgs.append(
            await ctx.organization(
                kind=_KINDS[i % len(_KINDS)],
                country=_COUNTRIES[i % len(_COUNTRIES)],
                services=services,
                capacity=[CapacityEntry(s, 2 + k, 10 + k) for k, s in enumerate(services)],
                regions=[f"{_COUNTRIES[i % len(_COUNTRIES)]}-{10 + i}"],
                accepts_minors=i % 2 == 0,
                genders=["female", "non_binary"] if i % 3 == 0 else [],
            )
        )
    return orgs


async def _organization_me(ctx: SeedContext) -> Prepared:
    orgs = await seed_directory(ctx)
    client = await ctx.client(orgs[0].id)
    await ctx.revoked_tokens(client, 200)
    return Prepared(
        path="/v1/organizations/me",
        headers={"Authorization": f"Bearer {ctx.token(client)}"},
    )


def fictional_intake(external_ref: str = "BENCH-0001") -> CaseInput:
    """A fictional adult survivor's intake (the shape of ``tests.factories.case_body``), as
    ``create_case`` builds it from the request body: every identity field is filled, so a read
    decrypts all of them."""
    return CaseInput(
        external_ref=external_ref,
        gender=str(Gender.FEMALE),
        identity=Identity(
            given_name="Bench-Givenname-Q4",
            family_name="Bench-Familyname-W8",
            aliases=["Bench-Alias-K2"],
            date_of_birth=date(1999, 4, 12),
            contact={"phone": "+66-0000-BENCH", "address": "Bench-Street-Location-12"},
        ),
        nationality="MM",
        languages=["my", "th"],
        exploitation_types=[str(ExploitationType.LABOUR)],
        identified_on=date(2026, 10, 2),
        identified_country="TH",
        needs=[str(ServiceKind.SHELTER), str(ServiceKind.MEDICAL), str(ServiceKind.LEGAL)],
        risk_level=str(RiskLevel.HIGH),
    )


async def _case_read(ctx: SeedContext) -> Prepared:
    lead = await ctx.organization(
        kind=OrganizationKind.NGO_SHELTER,
        services=(ServiceKind.SHELTER, ServiceKind.COUNSELING),
        capacity=[CapacityEntry(ServiceKind.SHELTER, 3, 12)],
        genders=["female"],
    )
    client = await ctx.client(lead.id)
    await ctx.revoked_tokens(client, 200)
    case = await ctx.case(client, fictional_intake())
    return Prepared(
        path=f"/v1/cases/{case.id}",
        headers={"Authorization": f"Bearer {ctx.token(client)}"},
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="org-me",
            path="GET /v1/organizations/me",
            description=(
                "Authenticated read of the caller's organisation: token check (token_status) "
                "+ organisation with capacity (organizations.get)"
            ),
            setup=_organization_me,
        ),
        Scenario(
            name="case-read",
            path="GET /v1/cases/{id}",
            description=(
                "The lead organisation reads its case: token check (token_status) + case with "
                "the access policy's facts (cases.load_for) + hash-chained audit row "
                "(audit.append); data key unwrapped, identity fields decrypted"
            ),
            setup=_case_read,
        ),
    )
}
