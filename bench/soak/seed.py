"""The soak's data, seeded through the domain services (as ``bench/scenarios.py`` does).

``PARTNERS`` fictional organisations, each with an OAuth client (its secret is kept for the load
tool, which gets its tokens at ``POST /oauth/token``), a webhook subscription to every event
type (pointing at the local receiver, so the outbox and the worker run), and ``CASES`` cases it
leads. Each case has one consent (survivor, and guardian for a minor) covering ``general``,
``medical`` and ``counseling`` for every kind of recipient, so any partner may be referred any
of the soak's referrals; ``GOALS`` goals; and two referrals to two other partners: the first
accepted (the receiver on the care team, so updates have an audience), the second pending (in
the receiver's inbox, for the load to answer).

With ``history_referrals`` and ``history_goals`` each case also gets that many more referrals
(sent to other partners and declined by them: closed, in no inbox) and goals, as the soak itself
adds them. The lists the soak reads (a GraphQL page's first 10 referrals of each case, a care
plan's goals) then start as full as they end, so the capacity the soak's rate comes from is
measured on the data it runs against (``bench/README.md`` "Soak").

What the load tool needs is returned as a JSON-able plan (``Plan``): per partner its org id,
credentials, cases (with their ETag for ``If-Match``), and the referrals left to answer
(pending, by receiver) or to withdraw (accepted, by sender).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from app.domain.care_plan import CarePlanService, GoalInput
from app.domain.clients import ClientService
from app.domain.consents import ConsentInput
from app.domain.referral_rules import Action
from app.domain.referrals import ReferralInput
from app.domain.scopes import ALL_SCOPES
from app.domain.vocabulary import (
    CarePlanCategory,
    Category,
    Granter,
    OrganizationKind,
    ServiceKind,
    Urgency,
)
from bench.scenarios import SeedContext, varied_intake

PARTNERS = 20
CASES = 25  # per partner
GOALS = 3  # per case
# What ten minutes of the soak add to a case at about 300 requests/s (4 % referral creations
# and 3 % goals over 500 cases: about 15 referrals and 11 goals each).
HISTORY_REFERRALS = 10
HISTORY_GOALS = 10
CONSENTED = [Category.GENERAL, Category.MEDICAL, Category.COUNSELING]
SHARED = ["demographics", "general", "medical"]  # what the load's referrals share
REFERRAL_SERVICES = ("counseling", "medical", "legal")  # none takes a place (no capacity)
_KINDS = list(OrganizationKind)
_SERVICES = (ServiceKind.COUNSELING, ServiceKind.MEDICAL, ServiceKind.LEGAL)
_GOAL_TITLES = (
    "Sleep through the night",
    "Enrolled in the vocational sewing course",
    "Regular meals and clothing for the first weeks",
)


@dataclass
class PartnerPlan:
    org_id: str
    client_id: str
    client_secret: str
    cases: dict[str, str] = field(default_factory=dict)  # case id -> ETag
    pending_in: list[str] = field(default_factory=list)  # referrals to it, to answer
    accepted_out: list[str] = field(default_factory=list)  # its referrals, accepted


@dataclass
class Plan:
    partners: list[PartnerPlan]
    # referral id -> (sender org id, receiver org id), for every referral in the lists above
    referrals: dict[str, tuple[str, str]]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def seed(
    ctx: SeedContext,
    receiver_url: str,
    *,
    partners: int = PARTNERS,
    cases: int = CASES,
    goals: int = GOALS,
    history_referrals: int = 0,
    history_goals: int = 0,
    rng: random.Random | None = None,
) -> Plan:
    rng = rng or random.Random(14)
    plans: list[PartnerPlan] = []
    clients = []
    for i in range(partners):
        org = await ctx.organization(
            kind=_KINDS[i % len(_KINDS)],
            services=(_SERVICES[i % 3], _SERVICES[(i + 1) % 3]),
        )
        session = ctx.database.session(transactional=True)
        try:
            created = await ClientService(session).create(
                org_id=org.id, name="soak client", scopes=sorted(ALL_SCOPES)
            )
            await session.commit()
        finally:
            await session.close()
        clients.append(created.client)
        plans.append(PartnerPlan(str(org.id), created.client.client_id, created.client_secret))
        await ctx.webhook(created.client, receiver_url, ["*"])

    referrals: dict[str, tuple[str, str]] = {}
    now = datetime.now(UTC)
    n = 0
    for p, (plan, client) in enumerate(zip(plans, clients, strict=True)):
        others = [k for k in range(partners) if k != p]
        for _ in range(cases):
            n += 1
            intake = varied_intake(n)
            case = await ctx.case(client, intake)
            plan.cases[str(case.id)] = f'"{case.version}"'
            await ctx.consent(
                client,
                case.id,
                ConsentInput(
                    granted_by=[Granter.SURVIVOR, Granter.GUARDIAN],
                    categories=CONSENTED,
                    purpose="Care by the partners of the fictional soak exchange",
                    obtained_at=now - timedelta(hours=1),
                    recipient_kinds=[str(k) for k in _KINDS],
                ),
            )
            session = ctx.database.session(transactional=True)
            try:
                care_plan = CarePlanService(ctx.request_context(session, client))
                for g in range(goals + history_goals):
                    await care_plan.create_goal(
                        case.id,
                        GoalInput(
                            category=(CarePlanCategory.GENERAL, CarePlanCategory.MEDICAL)[g % 2],
                            title=_GOAL_TITLES[g % len(_GOAL_TITLES)],
                            owner_org_id=UUID(plan.org_id),
                            target_date=(now + timedelta(days=30 + g)).date(),
                        ),
                    )
                await session.commit()
            finally:
                await session.close()
            for r, to in enumerate(rng.sample(others, 2)):
                referral = await ctx.referral(
                    client,
                    ReferralInput(
                        case_id=case.id,
                        to_org_id=UUID(plans[to].org_id),
                        service=_SERVICES[(n + r) % 3],
                        urgency=Urgency.ROUTINE,
                        reason="Follow-up care agreed with the survivor",
                        shared_categories=[Category(c) for c in SHARED],
                        respond_by=now + timedelta(days=30),
                    ),
                )
                rid = str(referral.row.id)
                referrals[rid] = (plan.org_id, plans[to].org_id)
                if r == 0:
                    await ctx.act(clients[to], referral.row.id, Action.ACCEPT)
                    plan.accepted_out.append(rid)
                else:
                    plans[to].pending_in.append(rid)
            for h in range(history_referrals):
                to = others[(n + h) % len(others)]
                closed = await ctx.referral(
                    client,
                    ReferralInput(
                        case_id=case.id,
                        to_org_id=UUID(plans[to].org_id),
                        service=_SERVICES[(n + h) % 3],
                        urgency=Urgency.ROUTINE,
                        reason="Earlier referral of the fictional soak exchange",
                        shared_categories=[Category.DEMOGRAPHICS],
                    ),
                )
                await ctx.act(
                    clients[to], closed.row.id, Action.DECLINE, reason="No place this month"
                )
    return Plan(plans, referrals)
