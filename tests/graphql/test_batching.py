"""No N+1: a page of cases with their referrals and timelines costs the same statements whatever
its size, loaders are per request, and batched reads are audited like REST's lists."""

from __future__ import annotations

import gc
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from app.api.graphql.context import build_context
from app.api.schemas.cases import CaseCreate
from app.db.database import Database
from app.db.query import Query
from app.db.serialized import SerializedSession
from app.domain.cases import CaseInput, CaseService
from app.domain.context import RequestContext
from app.domain.principal import Principal
from app.domain.referrals import ReferralInput, ReferralService
from app.domain.scopes import ALL_SCOPES
from app.domain.updates import UpdateInput, UpdateService
from app.domain.vocabulary import Category, ServiceKind, UpdateKind, Urgency
from tests.factories import Factory, Partner, case_body
from tests.graphql.helpers import data_of, error_codes, gql
from tests.helpers import StatementCounter, open_case

PAGE = """
query Page($first: Int!) {
  cases(first: $first) {
    edges { node {
      id
      referrals { edges { node { id status } } }
      updates(first: 10) { edges { node { id summary } } }
    } }
  }
}
"""


def principal_of(partner: Partner) -> Principal:
    return Principal(
        client_id=partner.client.client_id,
        org_id=partner.org.id,
        scopes=ALL_SCOPES,
        jti=uuid.uuid4(),
        expires_at=int(time.time()) + 600,
    )


async def seed_cases(factory: Factory, lead: Partner, receiver: Partner, count: int) -> None:
    """``count`` cases, each with a referral to ``receiver`` and two timeline notes, written
    through the domain services (much faster than ``count`` HTTP round trips)."""
    session = factory.database.session(transactional=True)
    ctx = RequestContext(session, principal_of(lead), factory.ctx.key_wrapper)
    try:
        for i in range(count):
            intake = CaseCreate.model_validate(case_body(external_ref=f"BATCH-{i}"))
            view = await CaseService(ctx).create(
                CaseInput(
                    external_ref=intake.external_ref,
                    gender="female",
                    identity=intake.to_identity(),
                    languages=["th"],
                    needs=["shelter"],
                )
            )
            await ReferralService(ctx).create(
                ReferralInput(
                    case_id=view.id,
                    to_org_id=receiver.org.id,
                    service=ServiceKind.COUNSELING,
                    urgency=Urgency.ROUTINE,
                    reason="Support sessions",
                    shared_categories=[Category.DEMOGRAPHICS],
                )
            )
            for n in range(2):
                await UpdateService(ctx).post(
                    view.id,
                    UpdateInput(
                        kind=UpdateKind.NOTE,
                        category=Category.MEDICAL,
                        occurred_at=datetime.now(UTC),
                        summary=f"check-up {n}",
                    ),
                )
        await session.commit()
    finally:
        await session.close()


@pytest.fixture
async def receiver(factory: Factory) -> Partner:
    return await factory.partner(name="Batch Counselling", kind="counseling_provider")


async def test_a_page_of_cases_costs_constant_statements(
    client: httpx.AsyncClient,
    database: Database,
    factory: Factory,
    lead: Partner,
    receiver: Partner,
) -> None:
    await seed_cases(factory, lead, receiver, 50)
    counter = StatementCounter()
    database.statement_hook = counter
    counts = {}
    for first in (5, 50):
        counter.reset()
        data = data_of(await gql(client, lead, PAGE, {"first": first}))
        edges = data["cases"]["edges"]
        assert len(edges) == first
        for edge in edges:
            node = edge["node"]
            assert [r["node"]["status"] for r in node["referrals"]["edges"]] == ["pending"]
            # the referral's "sent" entry in general, then the two notes
            assert len(node["updates"]["edges"]) == 3
        counts[first] = counter.count
    assert counts[5] == counts[50], counter.statements
    # token check; the page of cases and its audit row; per nested list one page query and one
    # audit row: the lists are read for the cases as loaded, not loaded again.
    assert counts[50] == 7, counter.statements


async def test_a_request_leaves_nothing_for_the_cycle_collector(
    client: httpx.AsyncClient, factory: Factory, lead: Partner, receiver: Partner
) -> None:
    """What a request loads is freed when it ends: nothing of it waits in a reference cycle for
    a full collection (whose cost grows with what waits: a tenth of a busy server's time, with
    graphql-core's executor holding its own helpers)."""
    await seed_cases(factory, lead, receiver, 10)
    data_of(await gql(client, lead, PAGE, {"first": 10}))  # warm: caches, prepared statements
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            data_of(await gql(client, lead, PAGE, {"first": 10}))
        found = gc.collect()
    finally:
        gc.enable()
    # a page of 10 cases with their referrals and notes is well over a thousand objects; what
    # the test client and the event loop leave behind on their side is a few dozen
    assert found < 100, found


async def test_batched_reads_are_audited_like_rest_lists(
    client: httpx.AsyncClient,
    database: Database,
    factory: Factory,
    lead: Partner,
    receiver: Partner,
) -> None:
    await seed_cases(factory, lead, receiver, 6)
    session = database.session(transactional=False)
    start = await session.fetchval(
        Query("SELECT coalesce(max(occurred_at), '-infinity') FROM audit_log")
    )
    data_of(await gql(client, lead, PAGE, {"first": 6}))
    rows = await session.fetch(
        Query(
            "SELECT action, case_ids, categories FROM audit_log "
            "WHERE occurred_at > $1 AND org_id = $2 ORDER BY occurred_at, chain, seq",
            ("after", "org"),
        ),
        after=start,
        org=lead.org.id,
    )
    await session.close()
    actions = [r["action"] for r in rows]
    assert actions == ["case.list", "referral.list", "update.list"], actions
    assert all(len(r["case_ids"]) == 6 for r in rows)
    # The counselling referrals the lead sent (the service's category); their timeline entries
    # (the same category) and the medical updates.
    assert rows[1]["categories"] == ["counseling"]
    assert rows[2]["categories"] == ["counseling", "medical"]


async def test_loaders_are_fresh_per_request(
    client: httpx.AsyncClient, factory: Factory, lead: Partner, receiver: Partner
) -> None:
    """One organisation's loaded cases never answer another's request."""
    case = await open_case(client, lead)
    query = "query ($id: UUID!) { case(id: $id) { id } }"
    variables = {"id": case["id"]}
    assert data_of(await gql(client, lead, query, variables))["case"]["id"] == case["id"]
    other = await gql(client, receiver, query, variables)
    assert other["data"]["case"] is None
    assert other["errors"][0]["extensions"]["code"] == "not_found"
    # and the context builds new loaders every time
    request = Request({"type": "http", "method": "POST", "headers": [], "app": None})
    session = SerializedSession(factory.database, transactional=False)
    ctx = RequestContext(
        session, principal_of(lead), factory.ctx.key_wrapper, max_details_bytes=1024
    )
    first = build_context(request, ctx, session)
    second = build_context(request, ctx, session)
    assert first.loaders.case_by_id is not second.loaders.case_by_id
    assert first.loaders.updates_by_case is not second.loaders.updates_by_case


CARE_PAGE = """
query Page($first: Int!) {
  cases(first: $first) {
    edges { node {
      id
      goals(first: 5) { edges { node { id title status progress { status } } } }
      services(first: 5) { edges { node { id status notes codes { system code } } } }
    } }
  }
}
"""


async def seed_care_plans(factory: Factory, lead: Partner, count: int) -> None:
    """``count`` cases, each with two goals (one with a progress entry) and three service
    records, written through the domain services."""
    from app.domain.care_plan import (
        CarePlanService,
        GoalInput,
        ProgressInput,
        ServiceCode,
        ServiceInput,
    )
    from app.domain.vocabulary import (
        CarePlanCategory,
        GoalStatus,
        ServiceStatus,
        ServiceType,
    )

    session = factory.database.session(transactional=True)
    ctx = RequestContext(session, principal_of(lead), factory.ctx.key_wrapper)
    try:
        for i in range(count):
            intake = CaseCreate.model_validate(case_body(external_ref=f"CARE-{i}"))
            view = await CaseService(ctx).create(
                CaseInput(
                    external_ref=intake.external_ref,
                    gender="female",
                    identity=intake.to_identity(),
                )
            )
            plans = CarePlanService(ctx)
            for category in (CarePlanCategory.MEDICAL, CarePlanCategory.LEGAL):
                goal = await plans.create_goal(
                    view.id,
                    GoalInput(category=category, title="A goal", owner_org_id=lead.org.id),
                )
            await plans.record_progress(
                view.id,
                goal.id,
                ProgressInput(GoalStatus.ON_HOLD, datetime.now(UTC), note="waiting"),
            )
            for _ in range(3):
                await plans.create_service(
                    view.id,
                    ServiceInput(
                        service=ServiceKind.MEDICAL,
                        category=CarePlanCategory.MEDICAL,
                        type=ServiceType.APPOINTMENT,
                        status=ServiceStatus.SCHEDULED,
                        provider_org_id=lead.org.id,
                        scheduled_at=datetime.now(UTC),
                        notes="bring the letter",
                        codes=(ServiceCode("ICD-10", "T74.2"),),
                    ),
                )
        await session.commit()
    finally:
        await session.close()


async def test_a_page_of_cases_with_goals_and_services_costs_constant_statements(
    client: httpx.AsyncClient, database: Database, factory: Factory, lead: Partner
) -> None:
    await seed_care_plans(factory, lead, 50)
    counter = StatementCounter()
    database.statement_hook = counter
    counts = {}
    for first in (5, 50):
        counter.reset()
        data = data_of(await gql(client, lead, CARE_PAGE, {"first": first}))
        edges = data["cases"]["edges"]
        assert len(edges) == first
        for edge in edges:
            node = edge["node"]
            goals = [g["node"] for g in node["goals"]["edges"]]
            # (one transaction wrote them all: same created_at, so the id decides the order)
            assert sorted((g["progress"] for g in goals), key=len) == [
                [],
                [{"status": "on_hold"}],
            ]
            services = [s["node"] for s in node["services"]["edges"]]
            assert [s["notes"] for s in services] == ["bring the letter"] * 3
            assert services[0]["codes"] == [{"system": "ICD-10", "code": "T74.2"}]
        counts[first] = counter.count
    database.statement_hook = None
    assert counts[5] == counts[50], counter.statements
    # token check; the page of cases and its audit row; goals (with their progress) and their
    # audit row; services and their audit row.
    assert counts[50] == 7, counter.statements


class LaterCounter:
    """Counts the case lists answered through an awaitable (not loaded with the page)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from app.api.graphql.types.case import Case

        self.calls = 0
        original = Case._later

        def later(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(Case, "_later", staticmethod(later))
        self.resolved = 0  # resolver calls (the executor answers a loaded list without one)
        page = Case._page

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.resolved += 1
            return page(*args, **kwargs)

        monkeypatch.setattr(Case, "_page", counted)


FILTERED = """
query Page($first: Int!, $status: ReferralStatus) {
  cases(first: $first) {
    edges { node { id ...Lists } }
  }
}
fragment Lists on Case {
  referrals(status: $status) { edges { node { id status } } }
  updates(first: 10, category: counseling) { edges { node { id } } }
}
"""


async def test_a_page_loads_its_lists_before_it_is_completed(
    client: httpx.AsyncClient,
    database: Database,
    factory: Factory,
    lead: Partner,
    receiver: Partner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lists under a page of cases are loaded with the page (through fragments, variables
    and filters alike): no case answers its list through an awaitable of its own. Under a
    directive they are left to the resolvers, with the same answer and statements."""
    await seed_cases(factory, lead, receiver, 8)
    later = LaterCounter(monkeypatch)
    counter = StatementCounter()
    database.statement_hook = counter
    variables = {"first": 8, "status": "pending"}
    loaded = data_of(await gql(client, lead, FILTERED, variables))
    assert later.calls == 0
    assert later.resolved == 0  # answered by the executor from the loaded pages
    assert counter.count == 7, counter.statements
    counter.reset()
    directed = FILTERED.replace(
        "referrals(status: $status)", "referrals(status: $status) @include(if: true)"
    )
    assert data_of(await gql(client, lead, directed, variables)) == loaded
    assert later.calls == 8  # the referrals of each case, through the loader as before
    assert later.resolved == 8  # (updates, not under the directive, still without a call)
    assert counter.count == 7, counter.statements
    database.statement_hook = None
    edges = loaded["cases"]["edges"]
    assert all(len(e["node"]["referrals"]["edges"]) == 1 for e in edges)
    assert all(len(e["node"]["updates"]["edges"]) == 1 for e in edges)  # the "sent" entry


async def test_a_list_the_token_may_not_read_is_not_loaded_with_the_page(
    client: httpx.AsyncClient,
    database: Database,
    factory: Factory,
    lead: Partner,
    receiver: Partner,
) -> None:
    await seed_cases(factory, lead, receiver, 3)
    narrow = factory.token(lead.client, "cases:read")
    headers = {"Authorization": f"Bearer {narrow}"}
    counter = StatementCounter()
    database.statement_hook = counter
    result = await gql(client, headers, PAGE, {"first": 3})
    database.statement_hook = None
    assert error_codes(result) == ["insufficient_scope"] * 3
    assert all(e["node"]["referrals"] is None for e in result["data"]["cases"]["edges"])
    assert not any("FROM referrals" in s for s in counter.statements), counter.statements
