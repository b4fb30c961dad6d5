"""Benchmark scenarios: what is requested, and the data it needs.

A scenario names one endpoint that both the real app and ``bench/baseline.py`` serve with the same
SQL. Its ``setup`` seeds what the endpoint reads (through the domain services, as the tests'
factories do) and returns the concrete path and headers to request, and optionally the statements
whose plans the runner should show (``PlanCheck``). To add one: write the setup, add the route to
the baseline (running the statements the app runs, imported from the app's repositories), and
register the scenario in ``SCENARIOS``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import orjson

from app.db.database import Database, Session
from app.db.repositories import clients as client_repo
from app.db.repositories.care_plan import _CASE_CARE_PLAN
from app.db.repositories.referrals import page_query as referrals_page_query
from app.domain.care_plan import (
    CARE_PLAN_GOALS,
    CARE_PLAN_SERVICES,
    CarePlanService,
    GoalInput,
    ProgressInput,
    ServiceCode,
    ServiceInput,
)
from app.domain.cases import CaseInput, CaseService, CaseView, Identity
from app.domain.clients import Client, ClientService
from app.domain.consents import ConsentInput, ConsentService
from app.domain.context import RequestContext
from app.domain.crypto import KeyWrapper
from app.domain.keys import KeyRing
from app.domain.organizations import CapacityEntry, Organization, OrganizationService
from app.domain.pagination import Page, decode_cursor
from app.domain.principal import Principal
from app.domain.referral_rules import Action
from app.domain.referrals import LIST_NAME as REFERRALS_LIST
from app.domain.referrals import ReferralInput, ReferralService, ReferralView
from app.domain.scopes import ALL_SCOPES
from app.domain.tokens import TokenConfig, TokenService
from app.domain.vocabulary import (
    CarePlanCategory,
    Category,
    ExploitationType,
    Gender,
    GoalStatus,
    Granter,
    OrganizationKind,
    RiskLevel,
    ServiceKind,
    ServiceStatus,
    ServiceType,
    UpdateKind,
    Urgency,
)
from app.domain.webhooks import TargetPolicy, Webhook, WebhookInput, WebhookService


@dataclass(frozen=True)
class PlanCheck:
    """A statement the endpoint runs, with the parameters it binds for the benchmarked request:
    the runner shows its plan (``EXPLAIN ANALYZE`` of a prepared statement after repeated
    executions, as on the servers' pooled connections) before the load."""

    label: str
    sql: str
    args: tuple[Any, ...]
    # The index (or indexes) the plan should scan (the runner warns otherwise).
    index: str | tuple[str, ...] | None = None


@dataclass(frozen=True)
class Prepared:
    """What to request once the data is seeded."""

    path: str
    headers: dict[str, str] = field(default_factory=dict)
    plans: tuple[PlanCheck, ...] = ()
    # A write: the method, the JSON body sent with every request and the status it answers.
    method: str = "GET"
    body: bytes | None = None
    status: int = 200
    # For a create: a statement whose one row (``$1`` the created resource's id, ``$2`` the
    # request id) must be the same for the app's and the baseline's answers (what the write
    # caused: its events, deliveries, audit row).
    effects: str | None = None


@dataclass
class SeedContext:
    """Seeding helpers over the bench database, the signing keys, the app's token settings and
    the key-encryption key (the same KEK the app and the baseline are given)."""

    database: Database
    keyring: KeyRing
    token_config: TokenConfig
    key_wrapper: KeyWrapper
    _count: int = 0
    # Data seeded once and shared by several scenarios (e.g. the inbox and its deep page).
    shared: dict[str, Any] = field(default_factory=dict)

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
        session = self.database.session(transactional=True)
        try:
            view = await CaseService(self.request_context(session, client)).create(data)
            await session.commit()
            return view
        finally:
            await session.close()

    def request_context(self, session: Session, client: Client) -> RequestContext:
        """``client`` as the caller of a request in ``session``, for seeding through services."""
        return RequestContext(session, self.principal(client), self.key_wrapper)

    def principal(self, client: Client, request_id: str = "bench-seed") -> Principal:
        """``client`` as an authenticated caller (all its scopes), for seeding through services."""
        return Principal(
            client_id=client.client_id,
            org_id=client.org_id,
            scopes=frozenset(client.scopes),
            jti=uuid4(),
            expires_at=int((datetime.now(UTC) + timedelta(hours=1)).timestamp()),
            request_id=request_id,
        )

    async def consent(self, client: Client, case_id: UUID, data: ConsentInput) -> None:
        """A consent recorded by the case's lead, as ``POST /v1/cases/{id}/consents`` does."""
        session = self.database.session(transactional=True)
        try:
            await ConsentService(self.request_context(session, client)).grant(case_id, data)
            await session.commit()
        finally:
            await session.close()

    async def webhook(self, client: Client, url: str, event_types: Sequence[str]) -> Webhook:
        """A subscription of ``client``'s organisation, as ``POST /v1/webhooks`` does (private
        addresses allowed: nothing delivers during the bench, the deliveries stay pending)."""
        session = self.database.session(transactional=True)
        try:
            created = await WebhookService(
                self.request_context(session, client), TargetPolicy(allow_private=True)
            ).create(WebhookInput(url=url, event_types=list(event_types)))
            await session.commit()
            return created.webhook
        finally:
            await session.close()

    async def referral(self, client: Client, data: ReferralInput) -> ReferralView:
        """A referral sent by ``client``'s organisation through the domain service, as
        ``POST /v1/referrals`` does (consent check, timeline entry, audit row)."""
        session = self.database.session(transactional=True)
        try:
            view = await ReferralService(self.request_context(session, client)).create(data)
            await session.commit()
            return view
        finally:
            await session.close()

    async def act(
        self, client: Client, referral_id: UUID, action: Action, **kw: str | None
    ) -> ReferralView:
        """A referral transition by ``client``'s organisation, as ``POST /v1/referrals/{id}/…``."""
        session = self.database.session(transactional=True)
        try:
            view = await ReferralService(self.request_context(session, client)).act(
                referral_id, action, **kw
            )
            await session.commit()
            return view
        finally:
            await session.close()

    async def referral_page(
        self, client: Client, *, direction: str | None, limit: int, cursor: str | None
    ) -> Page[ReferralView]:
        """One page of ``GET /v1/referrals`` for ``client``, through the domain service (a read
        session: autocommit, the preview audit row included)."""
        session = self.database.session(transactional=False)
        try:
            page = await ReferralService(self.request_context(session, client)).list(
                direction=direction, status=None, limit=limit, cursor=cursor
            )
            await session.commit()
            return page
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
    # The runner checks that both servers answer the same bytes (not only the same JSON).
    same_bytes: bool = False
    # A deeper page of that scenario's list: the report adds the deep/first req/s ratios.
    deep_of: str | None = None
    # Top-level body fields that differ from one answer to the next (a created resource's id and
    # timestamps): the runner checks both answers have them, not that they are equal.
    volatile: tuple[str, ...] = ()


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


# -- the receiver's inbox ---------------------------------------------------------------------
INBOX_LEADS = 4  # lead organisations that refer to the receiver
INBOX_CASES = 200  # their cases (50 each), opened through CaseService
INBOX_REFERRALS = 2_000  # to the receiver, through ReferralService; 75 % stay pending
INBOX_PAGE = 50  # items per requested page
INBOX_DEEP = 1_500  # items before the deep page (its first item is the 1,501st)
_INTAKE_GENDERS = (Gender.FEMALE, Gender.FEMALE, Gender.MALE, Gender.NON_BINARY)
_INTAKE_LANGUAGES = (["my", "th"], ["km"], ["lo", "th"], ["vi", "en"], ["my"])
_INTAKE_EXPLOITATION = (
    [ExploitationType.LABOUR],
    [ExploitationType.SEX],
    [ExploitationType.DOMESTIC_SERVITUDE, ExploitationType.LABOUR],
    [ExploitationType.FORCED_CRIMINALITY],
    [ExploitationType.FORCED_MARRIAGE],
)
_INTAKE_NEEDS = (
    [ServiceKind.SHELTER, ServiceKind.MEDICAL],
    [ServiceKind.MEDICAL, ServiceKind.COUNSELING, ServiceKind.LEGAL],
    [ServiceKind.COUNSELING],
    [ServiceKind.MEDICAL, ServiceKind.FAMILY_TRACING, ServiceKind.REPATRIATION],
)
_REFERRAL_REASONS = (
    "Infected wound needs treatment",
    "Follow-up after a positive screening; needs a clinician who speaks the survivor's language",
    "Trauma counselling requested by the survivor",
    "Recurring headaches and sleep problems since the rescue",
)


def varied_intake(i: int) -> CaseInput:
    """A fictional survivor's intake, varied by ``i``: adults of several ages and some minors
    (with a guardian), so the inbox's previews are not all alike."""
    minor = i % 10 == 0
    return CaseInput(
        external_ref=f"BENCH-INBOX-{i:04d}",
        gender=str(_INTAKE_GENDERS[i % len(_INTAKE_GENDERS)]),
        identity=Identity(
            given_name=f"Bench-Givenname-{i:04d}",
            family_name=f"Bench-Familyname-{i:04d}",
            aliases=[f"Bench-Alias-{i:04d}"] if i % 3 == 0 else [],
            date_of_birth=None if minor else date(1970 + i % 36, 1 + i % 12, 1 + i % 28),
            estimated_birth_year=2011 if minor else None,
            contact={"phone": f"+66-0000-{i:04d}"} if i % 2 == 0 else None,
            guardian={"name": f"Bench-Guardian-{i:04d}", "relationship": "aunt"} if minor else None,
        ),
        nationality=("MM", "KH", "LA", "VN")[i % 4],
        languages=_INTAKE_LANGUAGES[i % len(_INTAKE_LANGUAGES)],
        exploitation_types=[str(t) for t in _INTAKE_EXPLOITATION[i % len(_INTAKE_EXPLOITATION)]],
        identified_on=date(2026, 1 + i % 10, 1 + i % 28),
        identified_country="TH",
        needs=[str(n) for n in _INTAKE_NEEDS[i % len(_INTAKE_NEEDS)]],
        risk_level=str((RiskLevel.MEDIUM, RiskLevel.HIGH, RiskLevel.CRITICAL)[i % 3]),
    )


@dataclass(frozen=True)
class Inbox:
    receiver: Client
    token: str
    deep_cursor: str


async def seed_inbox(ctx: SeedContext) -> Inbox:
    """The receiver's inbox, seeded once (shared by ``inbox`` and ``inbox-deep``), entirely
    through the domain services, as the API would: a receiving clinic; ``INBOX_LEADS`` shelters
    each opening cases (``CaseService.create``) and referring them to the clinic, one referral
    per transaction (``ReferralService.create``: the demographics-only share needs no consent;
    timeline entry and audit row written), round-robin over the cases, so consecutive referrals
    are for different cases; then one in 20 each is accepted, started, declined, withdrawn (by
    the sender) or completed (``ReferralService.act``) and the rest (75 %) stay pending, a third
    of them with a deadline a month away.
    Finally the clinic walks its inbox once, ``INBOX_PAGE`` items a page, through
    ``ReferralService.list`` (the preview audit rows included), to capture the cursor after
    ``INBOX_DEEP`` items exactly as the app hands it out."""
    if "inbox" in ctx.shared:
        inbox: Inbox = ctx.shared["inbox"]
        return inbox
    receiver_org = await ctx.organization(
        kind=OrganizationKind.MEDICAL_PROVIDER,
        services=(ServiceKind.MEDICAL, ServiceKind.COUNSELING),
        languages=("th", "my", "en"),
    )
    receiver = await ctx.client(receiver_org.id)
    await ctx.revoked_tokens(receiver, 200)
    leads = []
    for i in range(INBOX_LEADS):
        org = await ctx.organization(
            kind=(OrganizationKind.NGO_SHELTER, OrganizationKind.GOVERNMENT_SHELTER)[i % 2],
            country=_COUNTRIES[i % len(_COUNTRIES)],
            services=(ServiceKind.SHELTER, ServiceKind.COUNSELING),
            capacity=[CapacityEntry(ServiceKind.SHELTER, 5, 20)],
            accepts_minors=i % 2 == 0,
        )
        leads.append(await ctx.client(org.id))
    cases = [
        (leads[i % INBOX_LEADS], (await ctx.case(leads[i % INBOX_LEADS], varied_intake(i))).id)
        for i in range(INBOX_CASES)
    ]
    in_future = datetime.now(UTC) + timedelta(days=30)
    referrals: list[UUID] = []
    for k in range(INBOX_REFERRALS):
        lead, case_id = cases[k % INBOX_CASES]
        view = await ctx.referral(
            lead,
            ReferralInput(
                case_id=case_id,
                to_org_id=receiver_org.id,
                service=(ServiceKind.MEDICAL, ServiceKind.COUNSELING)[k % 2],
                urgency=(Urgency.ROUTINE, Urgency.HIGH, Urgency.ROUTINE, Urgency.EMERGENCY)[k % 4],
                reason=_REFERRAL_REASONS[k % len(_REFERRAL_REASONS)],
                shared_categories=[Category.DEMOGRAPHICS],
                respond_by=in_future if k % 3 == 0 else None,
            ),
        )
        referrals.append(view.row.id)
    for k, referral_id in enumerate(referrals):
        match k % 20:
            case 0:  # accepted
                await ctx.act(receiver, referral_id, Action.ACCEPT)
            case 1:  # service started
                await ctx.act(receiver, referral_id, Action.ACCEPT)
                await ctx.act(receiver, referral_id, Action.START)
            case 2:
                await ctx.act(receiver, referral_id, Action.DECLINE, reason="No place this month")
            case 3:  # the sender withdraws it
                lead, _ = cases[k % INBOX_CASES]
                await ctx.act(lead, referral_id, Action.WITHDRAW, reason="Survivor moved away")
            case 4:  # completed, with an outcome
                await ctx.act(receiver, referral_id, Action.ACCEPT)
                await ctx.act(receiver, referral_id, Action.START)
                await ctx.act(
                    receiver, referral_id, Action.COMPLETE, outcome="Treated; follow-up booked"
                )
    cursor: str | None = None
    walked: list[ReferralView] = []
    while len(walked) < INBOX_DEEP:
        page = await ctx.referral_page(
            receiver, direction="incoming", limit=INBOX_PAGE, cursor=cursor
        )
        walked.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            raise RuntimeError("the inbox ended before the deep page")
    if cursor is None or [v.row.id for v in walked] != referrals[:INBOX_DEEP]:
        raise RuntimeError("walking the inbox did not return the referrals in creation order")
    inbox = Inbox(receiver=receiver, token=ctx.token(receiver), deep_cursor=cursor)
    ctx.shared["inbox"] = inbox
    return inbox


def _inbox_plan(inbox: Inbox, cursor: str | None) -> PlanCheck:
    after = decode_cursor(cursor, REFERRALS_LIST, (datetime.fromisoformat, UUID))
    query = referrals_page_query("incoming", False, after is not None)
    values: dict[str, Any] = {"org_id": inbox.receiver.org_id, "limit": INBOX_PAGE + 1}
    if after:
        values.update(after_ts=after[0], after_id=after[1])
    return PlanCheck(
        label="referrals.page",
        sql=query.sql,
        args=query.args(values),
        index="ix_referrals_to_org_id_created_at_id",
    )


async def _inbox(ctx: SeedContext) -> Prepared:
    inbox = await seed_inbox(ctx)
    return Prepared(
        path=f"/v1/referrals?direction=incoming&limit={INBOX_PAGE}",
        headers={"Authorization": f"Bearer {inbox.token}"},
        plans=(_inbox_plan(inbox, None),),
    )


async def _inbox_deep(ctx: SeedContext) -> Prepared:
    inbox = await seed_inbox(ctx)
    return Prepared(
        path=f"/v1/referrals?direction=incoming&limit={INBOX_PAGE}&cursor={inbox.deep_cursor}",
        headers={"Authorization": f"Bearer {inbox.token}"},
        plans=(_inbox_plan(inbox, inbox.deep_cursor),),
    )


# -- the care plan -------------------------------------------------------------------------------
CARE_PLAN_GOAL_COUNT = 20
CARE_PLAN_SERVICE_COUNT = 50
_CARE_CATEGORIES = (
    CarePlanCategory.MEDICAL,
    CarePlanCategory.COUNSELING,
    CarePlanCategory.LEGAL,
    CarePlanCategory.EDUCATION,
    CarePlanCategory.GENERAL,
)
_CARE_SERVICE = {
    CarePlanCategory.MEDICAL: ServiceKind.MEDICAL,
    CarePlanCategory.COUNSELING: ServiceKind.COUNSELING,
    CarePlanCategory.LEGAL: ServiceKind.LEGAL,
    CarePlanCategory.EDUCATION: ServiceKind.EDUCATION,
    CarePlanCategory.GENERAL: ServiceKind.OTHER,
}
_GOAL_TITLES = (
    "Sleep through the night",
    "Wound healed without infection",
    "Passport retrieved from the employer",
    "Enrolled in the vocational sewing course",
    "Regular meals and clothing for the first weeks",
)

_PROGRESS = (
    (GoalStatus.ON_HOLD, "Waiting for an appointment"),
    (GoalStatus.ACTIVE, "Back on track after the hearing"),
)


async def _care_plan(ctx: SeedContext) -> Prepared:
    """A case with ``CARE_PLAN_GOAL_COUNT`` goals over five categories (each with two progress
    entries, notes included) and ``CARE_PLAN_SERVICE_COUNT`` service records (35 still
    scheduled, 8 attended or completed, 7 missed), written through ``CarePlanService`` as the
    API would; the lead reads the care plan."""
    lead = await ctx.organization(
        kind=OrganizationKind.NGO_SHELTER,
        services=(ServiceKind.SHELTER, ServiceKind.COUNSELING),
    )
    client = await ctx.client(lead.id)
    await ctx.revoked_tokens(client, 200)
    case = await ctx.case(client, fictional_intake("BENCH-CARE-0001"))
    now = datetime.now(UTC)
    goals = []
    for i in range(CARE_PLAN_GOAL_COUNT):
        session = ctx.database.session(transactional=True)
        try:
            plans = CarePlanService(ctx.request_context(session, client))
            category = _CARE_CATEGORIES[i % len(_CARE_CATEGORIES)]
            goal = await plans.create_goal(
                case.id,
                GoalInput(
                    category=category,
                    title=_GOAL_TITLES[i % len(_GOAL_TITLES)],
                    description="Agreed with the survivor at the care-plan meeting; reviewed "
                    "every two weeks by the owner.",
                    owner_org_id=lead.id,
                    target_date=(now + timedelta(days=30 + i)).date(),
                ),
            )
            for goal_status, note in _PROGRESS:
                await plans.record_progress(
                    case.id, goal.id, ProgressInput(goal_status, now - timedelta(hours=1), note)
                )
            goals.append((category, goal.id))
            await session.commit()
        finally:
            await session.close()
    session = ctx.database.session(transactional=True)
    try:
        plans = CarePlanService(ctx.request_context(session, client))
        for k in range(CARE_PLAN_SERVICE_COUNT):
            category, goal_id = goals[k % len(goals)]
            status: ServiceStatus
            if k < 35:
                status, scheduled, occurred = (
                    ServiceStatus.SCHEDULED,
                    now + timedelta(days=1 + k),
                    None,
                )
            elif k < 43:
                status = (ServiceStatus.ATTENDED, ServiceStatus.COMPLETED)[k % 2]
                scheduled, occurred = now - timedelta(days=k), now - timedelta(days=k)
            else:
                status, scheduled, occurred = ServiceStatus.MISSED, now - timedelta(days=k), None
            await plans.create_service(
                case.id,
                ServiceInput(
                    service=_CARE_SERVICE[category],
                    category=category,
                    type=(ServiceType.APPOINTMENT, ServiceType.SESSION)[k % 2],
                    status=status,
                    provider_org_id=lead.id,
                    scheduled_at=scheduled,
                    occurred_at=occurred,
                    goal_id=goal_id,
                    notes="Bring the discharge letter; interpreter booked.",
                    codes=(ServiceCode("ICD-10", "Z04.8"),) if k % 3 == 0 else (),
                ),
            )
        await session.commit()
    finally:
        await session.close()
    # As a PostgreSQL array literal: the runner writes each plan argument as an SQL literal.
    categories = "{" + ",".join(sorted(str(c) for c in CarePlanCategory)) + "}"
    return Prepared(
        path=f"/v1/cases/{case.id}/care-plan",
        headers={"Authorization": f"Bearer {ctx.token(client)}"},
        plans=(
            # The read of the statement a repeated plan runs (the append is left out: EXPLAIN
            # ANALYZE would write the audit row).
            PlanCheck(
                label="care_plan.case_care_plan (its read)",
                sql=_CASE_CARE_PLAN.sql,
                args=(lead.id, case.id, categories, CARE_PLAN_GOALS, CARE_PLAN_SERVICES),
                index=("ix_goals_case_id_created_at_id", "ix_service_records_case_scheduled"),
            ),
        ),
    )


# -- the write path: a timeline update and the events it causes -------------------------------
UPDATE_MEMBERS = 3  # care-team members entitled to the update's category, one webhook each
UPDATE_CATEGORY = Category.MEDICAL
# Every request posts this body (no Idempotency-Key: each one is a new update).
UPDATE_BODY = {
    "kind": str(UpdateKind.SERVICE_DELIVERED),
    "category": str(UPDATE_CATEGORY),
    "occurred_at": "2026-11-20T10:00:00Z",
    "summary": "Wound dressed at the clinic; antibiotics for seven days, review next week",
    "details": {"clinic": "outpatient", "review_in_days": 7},
}
# What each created update caused, compared between the app's and the baseline's answers ($1 the
# update's id, $2 the request id): the events (recipient, type, subject, data, the update's id
# where it belongs), their webhook deliveries and the request's audit row.
UPDATE_EFFECTS = """
    SELECT
      (SELECT array_agg(e.org_id::text || ' ' || e.type || ' ' || e.subject_type || ' '
                        || (e.data - 'update_id')::text || ' '
                        || (e.data ->> 'update_id' = $1::uuid::text)::text ORDER BY e.org_id)
       FROM events e WHERE e.subject_id = $1::uuid) AS events,
      (SELECT array_agg(w.org_id::text || ' ' || d.status ORDER BY w.org_id)
       FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
       JOIN webhooks w ON w.id = d.webhook_id
       WHERE e.subject_id = $1::uuid) AS deliveries,
      (SELECT array_agg(a.action || ' ' || a.case_ids::text || ' ' || a.categories::text)
       FROM audit_log a WHERE a.request_id = $2::text) AS audit
"""


async def _update_post(ctx: SeedContext) -> Prepared:
    """A lead shelter's case with a care team of ``UPDATE_MEMBERS`` partners, each on it through
    an accepted referral sharing demographics and medical, each covered by the survivor's consent
    for medical (so each is entitled to the update's category), each with one active webhook
    subscription to ``case.update_added``; all through the domain services."""
    lead_org = await ctx.organization(
        kind=OrganizationKind.NGO_SHELTER,
        services=(ServiceKind.SHELTER, ServiceKind.COUNSELING),
        capacity=[CapacityEntry(ServiceKind.SHELTER, 3, 12)],
        genders=["female"],
    )
    lead = await ctx.client(lead_org.id)
    await ctx.revoked_tokens(lead, 200)
    case = await ctx.case(lead, fictional_intake("BENCH-WRITE-0001"))
    services = (ServiceKind.MEDICAL, ServiceKind.COUNSELING, ServiceKind.MEDICAL)
    kinds = (
        OrganizationKind.MEDICAL_PROVIDER,
        OrganizationKind.NGO_SHELTER,
        OrganizationKind.MEDICAL_PROVIDER,
    )
    for i in range(UPDATE_MEMBERS):
        org = await ctx.organization(
            kind=kinds[i % len(kinds)],
            services=(services[i % len(services)],),
            languages=("th", "my", "en"),
        )
        member = await ctx.client(org.id)
        await ctx.consent(
            lead,
            case.id,
            ConsentInput(
                granted_by=[Granter.SURVIVOR],
                categories=[UPDATE_CATEGORY],
                purpose="Medical follow-up by the care team",
                obtained_at=datetime.now(UTC) - timedelta(days=1),
                recipient_org_id=org.id,
            ),
        )
        referral = await ctx.referral(
            lead,
            ReferralInput(
                case_id=case.id,
                to_org_id=org.id,
                service=services[i % len(services)],
                urgency=Urgency.ROUTINE,
                reason=_REFERRAL_REASONS[i % len(_REFERRAL_REASONS)],
                shared_categories=[Category.DEMOGRAPHICS, UPDATE_CATEGORY],
            ),
        )
        await ctx.act(member, referral.row.id, Action.ACCEPT)
        await ctx.webhook(member, f"http://127.0.0.1:9/bench-hook-{i}", ["case.update_added"])
    return Prepared(
        path=f"/v1/cases/{case.id}/updates",
        headers={
            "Authorization": f"Bearer {ctx.token(lead)}",
            "Content-Type": "application/json",
        },
        method="POST",
        body=orjson.dumps(UPDATE_BODY),
        status=201,
        effects=UPDATE_EFFECTS,
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            name="org-me",
            path="GET /v1/organizations/me",
            description=(
                "Authenticated read of the caller's organisation: token check (token_status, "
                "once per token every AFTERCARE_TOKEN_STATUS_SECONDS) + organisation with "
                "capacity (organizations.get)"
            ),
            setup=_organization_me,
        ),
        Scenario(
            name="case-read",
            path="GET /v1/cases/{id}",
            description=(
                "The lead organisation reads its case: token check (token_status) + case with "
                "the access policy's facts and its hash-chained audit row in one statement "
                "(cases.read_audited: the decision remembered from the first read, the facts "
                "unchanged); data key unwrapped, identity fields decrypted"
            ),
            setup=_case_read,
        ),
        Scenario(
            name="inbox",
            path=f"GET /v1/referrals?direction=incoming&limit={INBOX_PAGE}",
            description=(
                f"The receiver's inbox, first page of {INBOX_PAGE} (of {INBOX_REFERRALS:,}, most "
                "pending): token check (token_status) + keyset page of referrals with the "
                "cases' preview columns (referrals.page) + one hash-chained audit row naming "
                "the previewed cases (audit.append)"
            ),
            setup=_inbox,
            same_bytes=True,
        ),
        Scenario(
            name="inbox-deep",
            path=f"GET /v1/referrals?direction=incoming&limit={INBOX_PAGE}&cursor=…",
            description=(
                f"The same inbox, the page after {INBOX_DEEP:,} items (cursor captured by walking "
                "the pages once): the same three statements, the page query starting at the "
                "cursor"
            ),
            setup=_inbox_deep,
            same_bytes=True,
            deep_of="inbox",
        ),
        Scenario(
            name="care-plan",
            path="GET /v1/cases/{id}/care-plan",
            description=(
                f"The lead reads a care plan of {CARE_PLAN_GOAL_COUNT} goals (two progress "
                f"entries each) and {CARE_PLAN_SERVICE_COUNT} service records: token check "
                "(token_status) + in one statement (care_plan.case_care_plan: the decision "
                "remembered from the first read, the facts unchanged), the case with the "
                "policy's facts, goals with their progress, services still scheduled, "
                "attended/missed per category and the audit row; titles, descriptions, notes "
                "decrypted"
            ),
            setup=_care_plan,
        ),
        Scenario(
            name="update-post",
            path="POST /v1/cases/{id}/updates",
            description=(
                f"The lead posts a {UPDATE_CATEGORY} update to a case whose {UPDATE_MEMBERS} "
                "care-team members are entitled to it, one webhook each: in one transaction, "
                "token check (token_status) + case locked with the policy's facts "
                "(cases.load_for FOR UPDATE) + the update, its summary and details sealed "
                "(updates.insert, the case marked updated in the same statement) + "
                "audit.append + the case's audience "
                f"(events.audience) + {UPDATE_MEMBERS} events and {UPDATE_MEMBERS} deliveries "
                "(events.append)"
            ),
            setup=_update_post,
            volatile=("id", "created_at", "updated_at"),
        ),
    )
}
