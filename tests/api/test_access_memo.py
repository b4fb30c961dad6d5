"""A repeated case read appends its audit row in the statement that reads the case
(app.domain.facts.AccessMemo): one round trip, and the audit log says what it said before."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from structlog.testing import capture_logs

from app.db.database import Database
from app.db.query import Query
from app.db.repositories import cases as case_repo
from app.domain import cases as cases_module
from app.domain.access import CaseAccess, Role
from app.domain.audit import audit_row, verify_chains
from app.domain.cases import CaseService
from app.domain.context import RequestContext
from app.domain.facts import AccessMemo
from app.domain.vocabulary import Category
from tests.api.test_goals import create_goal, goal_body, on_care_team
from tests.api.test_services import create_service, service_body
from tests.factories import Factory, Partner, add_member
from tests.graphql.helpers import data_of, gql
from tests.helpers import StatementCounter, assert_problem, consent, iso, open_case

CASES = "/v1/cases"


async def reads(
    database: Database, org_id: uuid.UUID, case_id: str, action: str = "case.read"
) -> list[list[str]]:
    """The categories of the organisation's ``action`` audit rows of the case, oldest first."""
    async with database.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT categories FROM audit_log WHERE org_id = $1 AND action = $3"
            " AND $2 = ANY(case_ids) ORDER BY occurred_at, chain, seq",
            org_id,
            uuid.UUID(case_id),
            action,
        )
    return [list(r["categories"]) for r in rows]


async def counted(
    database: Database, client: httpx.AsyncClient, url: str, partner: Partner
) -> tuple[httpx.Response, int, list[str]]:
    """The response to ``partner``'s GET of ``url``, and the statements it cost."""
    counter = StatementCounter()
    database.statement_hook = counter
    try:
        response = await client.get(url, headers=partner.headers)
    finally:
        database.statement_hook = None
    return response, counter.count, counter.statements


async def chains_verify(database: Database) -> None:
    session = database.session(transactional=False)
    try:
        result = await verify_chains(session)
    finally:
        await session.close()
    assert result.ok, result.first_break


async def leave_care_team(database: Database, case_id: str, partner: Partner) -> None:
    async with database.pool.acquire() as conn:
        await conn.execute(
            "UPDATE case_members SET left_at = now() WHERE case_id = $1 AND org_id = $2",
            uuid.UUID(case_id),
            partner.org.id,
        )


def memo(app: FastAPI) -> AccessMemo:
    found: AccessMemo = app.state.ctx.access_memo
    return found


async def test_a_repeated_read_is_one_statement_and_audited_alike(
    client: httpx.AsyncClient, lead: Partner, database: Database
) -> None:
    case = await open_case(client, lead)
    url = f"{CASES}/{case['id']}"
    first = await client.get(url, headers=lead.headers)
    counter = StatementCounter()
    database.statement_hook = counter
    second = await client.get(url, headers=lead.headers)
    database.statement_hook = None
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    # token check; the case, its policy facts and its audit row in one statement
    assert counter.count == 2, counter.statements
    assert "INSERT INTO audit_log" in counter.statements[1]
    audited = await reads(database, lead.org.id, case["id"])
    assert audited == [sorted(first.json()["visible_categories"])] * 2
    await chains_verify(database)


async def test_changed_facts_are_decided_again_before_the_row_is_written(
    client: httpx.AsyncClient, lead: Partner, member: Partner, database: Database
) -> None:
    """A consent revoked after the decision was remembered: the read's statement sees other
    facts and appends nothing; the row written is the one for what the policy says now."""
    case = await open_case(client, lead)
    await add_member(database, uuid.UUID(case["id"]), member.org.id, ["medical", "identity"])
    granted = await consent(client, lead, case["id"], member, ["medical", "identity"])
    url = f"{CASES}/{case['id']}"
    for _ in range(2):
        body = (await client.get(url, headers=member.headers)).json()
        assert body["visible_categories"] == ["demographics", "identity", "medical"]
    revoked = await client.post(
        f"{url}/consents/{granted['id']}/revoke",
        json={"reason": "survivor withdrew"},
        headers=lead.headers,
    )
    assert revoked.status_code == 200
    counter = StatementCounter()
    database.statement_hook = counter
    body = (await client.get(url, headers=member.headers)).json()
    database.statement_hook = None
    assert body["visible_categories"] == ["demographics"]
    assert "given_name" not in body["survivor"]
    # token; the read whose append did not happen; the append of the new decision
    assert counter.count == 3, counter.statements
    assert await reads(database, member.org.id, case["id"]) == [
        ["demographics", "identity", "medical"],
        ["demographics", "identity", "medical"],
        ["demographics"],
    ]
    # ... and that decision is the one remembered now.
    counter.reset()
    database.statement_hook = counter
    assert (await client.get(url, headers=member.headers)).status_code == 200
    database.statement_hook = None
    assert counter.count == 2, counter.statements
    assert (await reads(database, member.org.id, case["id"]))[-1] == ["demographics"]
    await chains_verify(database)


async def test_a_member_who_left_gets_404_and_no_audit_row(
    client: httpx.AsyncClient, lead: Partner, member: Partner, database: Database, app: FastAPI
) -> None:
    case = await open_case(client, lead)
    await add_member(database, uuid.UUID(case["id"]), member.org.id, ["identity"])
    url = f"{CASES}/{case['id']}"
    assert (await client.get(url, headers=member.headers)).status_code == 200
    assert len(memo(app)) == 1
    await leave_care_team(database, case["id"], member)
    gone = await client.get(url, headers=member.headers)
    missing = await client.get(f"{CASES}/{uuid.uuid4()}", headers=member.headers)
    assert_problem(gone, 404, "not_found")
    assert gone.json() == missing.json()
    assert await reads(database, member.org.id, case["id"]) == [["demographics"]]
    assert len(memo(app)) == 0
    await chains_verify(database)


def clock_at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """The case service's clock (what its reads decide at) reads ``moment`` from now on."""

    class Clock(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Clock:
            return cast("Clock", moment.astimezone(tz))

    monkeypatch.setattr(cases_module, "datetime", Clock)


async def test_a_consent_ending_ends_the_remembered_decision(
    client: httpx.AsyncClient,
    lead: Partner,
    member: Partner,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The facts stay the same, but the time passes a consent's expiry: the remembered
    decision is not used from then on."""
    case = await open_case(client, lead)
    await add_member(database, uuid.UUID(case["id"]), member.org.id, ["identity"])
    ends = datetime.now(UTC) + timedelta(hours=1)
    await consent(client, lead, case["id"], member, ["identity"], expires_at=iso(ends))
    url = f"{CASES}/{case['id']}"
    for _ in range(2):
        before = (await client.get(url, headers=member.headers)).json()
        assert before["visible_categories"] == ["demographics", "identity"]
    clock_at(monkeypatch, ends)
    after, count, statements = await counted(database, client, url, member)
    assert after.json()["visible_categories"] == ["demographics"]
    assert count == 3, statements  # decided again: token, the case, the audit row
    assert await reads(database, member.org.id, case["id"]) == [
        ["demographics", "identity"],
        ["demographics", "identity"],
        ["demographics"],
    ]


async def test_a_consent_starting_ends_the_remembered_decision(
    client: httpx.AsyncClient,
    lead: Partner,
    member: Partner,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = await open_case(client, lead)
    await add_member(database, uuid.UUID(case["id"]), member.org.id, ["identity"])
    starts = datetime.now(UTC) + timedelta(minutes=2)  # within the clock skew a consent may have
    await consent(client, lead, case["id"], member, ["identity"], obtained_at=iso(starts))
    url = f"{CASES}/{case['id']}"
    for _ in range(2):
        before = (await client.get(url, headers=member.headers)).json()
        assert before["visible_categories"] == ["demographics"]
    clock_at(monkeypatch, starts)
    after = (await client.get(url, headers=member.headers)).json()
    assert after["visible_categories"] == ["demographics", "identity"]
    assert await reads(database, member.org.id, case["id"]) == [
        ["demographics"],
        ["demographics"],
        ["demographics", "identity"],
    ]


async def test_each_token_scope_set_has_its_own_decision(
    client: httpx.AsyncClient, lead: Partner, factory: Factory, database: Database
) -> None:
    case = await open_case(client, lead)
    url = f"{CASES}/{case['id']}"
    narrow = {"Authorization": f"Bearer {factory.token(lead.client, 'cases:read')}"}
    wide: dict[str, Any] = (await client.get(url, headers=lead.headers)).json()
    for _ in range(2):
        body = (await client.get(url, headers=narrow)).json()
        assert body["visible_categories"] == ["demographics", "identity", "exploitation", "general"]
    audited = await reads(database, lead.org.id, case["id"])
    assert audited[0] == sorted(wide["visible_categories"])
    assert audited[1] == audited[2] == ["demographics", "exploitation", "general", "identity"]


async def test_off_every_read_decides_then_appends(
    client: httpx.AsyncClient, lead: Partner, database: Database, app: FastAPI
) -> None:
    app.state.ctx.access_memo = None
    case = await open_case(client, lead)
    url = f"{CASES}/{case['id']}"
    counter = StatementCounter()
    for _ in range(2):
        counter.reset()
        database.statement_hook = counter
        assert (await client.get(url, headers=lead.headers)).status_code == 200
        database.statement_hook = None
        assert counter.count == 3, counter.statements


class TestCarePlan:
    """The care plan (`GET /v1/cases/{id}/care-plan`) uses the same remembered decisions."""

    async def test_a_repeated_plan_is_one_statement_and_the_same_plan(
        self, client: httpx.AsyncClient, lead: Partner, database: Database, app: FastAPI
    ) -> None:
        case = await open_case(client, lead)
        for category in ("medical", "legal"):
            await create_goal(client, lead, case["id"], goal_body(lead, category=category))
        await create_service(client, lead, case["id"], service_body(lead))
        url = f"{CASES}/{case['id']}/care-plan"
        app.state.ctx.access_memo = None
        without, count, _ = await counted(database, client, url, lead)
        assert without.status_code == 200 and count == 3
        app.state.ctx.access_memo = AccessMemo()
        first, count, _ = await counted(database, client, url, lead)
        assert count == 3
        again, count, statements = await counted(database, client, url, lead)
        assert count == 2, statements
        assert "CROSS JOIN LATERAL" in statements[1] and "INSERT INTO audit_log" in statements[1]
        assert without.json() == first.json() == again.json()
        assert len(again.json()["goals"]) == 2 and len(again.json()["services"]) == 1
        audited = await reads(database, lead.org.id, case["id"], "care_plan.read")
        assert len(audited) == 3 and audited[0] == audited[1] == audited[2]
        await chains_verify(database)

    async def test_a_case_read_remembers_the_decision_for_the_plan(
        self, client: httpx.AsyncClient, lead: Partner, database: Database
    ) -> None:
        case = await open_case(client, lead)
        assert (await client.get(f"{CASES}/{case['id']}", headers=lead.headers)).is_success
        plan, count, _ = await counted(database, client, f"{CASES}/{case['id']}/care-plan", lead)
        assert plan.status_code == 200 and count == 2

    async def test_a_revoked_consent_is_decided_again_before_the_plan_is_answered(
        self, client: httpx.AsyncClient, lead: Partner, clinic: Partner, database: Database
    ) -> None:
        case = await open_case(client, lead)
        await on_care_team(client, database, lead, case["id"], clinic)
        await create_goal(client, lead, case["id"], goal_body(clinic))  # medical
        url = f"{CASES}/{case['id']}/care-plan"
        for _ in range(2):
            plan, _, _ = await counted(database, client, url, clinic)
            assert [g["category"] for g in plan.json()["goals"]] == ["medical"]
        consents = (
            await client.get(f"{CASES}/{case['id']}/consents", headers=lead.headers)
        ).json()["items"]
        for c in consents:
            revoked = await client.post(
                f"{CASES}/{case['id']}/consents/{c['id']}/revoke",
                json={"reason": "survivor withdrew"},
                headers=lead.headers,
            )
            assert revoked.status_code == 200
        plan, count, statements = await counted(database, client, url, clinic)
        assert plan.status_code == 200
        assert plan.json()["goals"] == [] and plan.json()["attendance"] == {}
        # token; the read whose append did not happen; the plan read again with its audit row
        assert count == 3, statements
        assert await reads(database, clinic.org.id, case["id"], "care_plan.read") == [
            ["medical"],
            ["medical"],
            [],
        ]
        await chains_verify(database)


async def test_a_wrong_remembered_decision_is_caught_and_the_policy_answers(
    client: httpx.AsyncClient,
    lead: Partner,
    member: Partner,
    database: Database,
    app: FastAPI,
) -> None:
    """Cannot happen (equal facts, scopes and time decide alike), but if a remembered decision
    were wrong: its row is appended, the read's own decision is what is answered, a row for it
    follows, and the disagreement is logged."""
    case = await open_case(client, lead)
    case_id = uuid.UUID(case["id"])
    await add_member(database, case_id, member.org.id, ["identity"])
    await consent(client, lead, case["id"], member, ["identity"])
    url = f"{CASES}/{case['id']}"
    assert (await client.get(url, headers=member.headers)).status_code == 200
    principal = app.state.ctx.verify_token(member.token)
    now = datetime.now(UTC)
    remembered = memo(app).get(principal, case_id, now)
    assert remembered is not None
    wider = remembered.visible | {Category.MEDICAL}
    forged = CaseAccess(Role.CARE_TEAM, wider, frozenset())
    memo(app).put(principal, case_id, remembered.digest, forged, [], now)
    with capture_logs() as logged:
        body = (await client.get(url, headers=member.headers)).json()
    assert body["visible_categories"] == ["demographics", "identity"]
    assert await reads(database, member.org.id, case["id"]) == [
        ["demographics", "identity"],
        ["demographics", "identity", "medical"],  # the wrong decision's row, appended...
        ["demographics", "identity"],  # ... and the read's own
    ]
    assert [e["case_id"] for e in logged if e["event"] == "access_memo_disagreed"] == [case["id"]]
    # The memo holds the policy's decision again.
    again = memo(app).get(principal, case_id, datetime.now(UTC))
    assert again is not None and again.visible == remembered.visible


async def test_a_read_whose_facts_changed_appends_nothing_and_locks_nothing(
    client: httpx.AsyncClient, lead: Partner, database: Database
) -> None:
    case = await open_case(client, lead)
    session = database.session(transactional=True)
    try:
        row = await case_repo.read_audited(
            session,
            lead.org.id,
            uuid.UUID(case["id"]),
            expected_digest=b"\0" * 32,
            audit=audit_row(lead.org.id, "c", None, None, "case.read", [], []),
        )
        assert row is not None and not row.audited
        # No head locked (a row lock would have given the transaction an id), nothing written.
        assert await session.fetchval(_XID) is None
    finally:
        await session.rollback()
        await session.close()


_XID = Query("SELECT pg_current_xact_id_if_assigned()")


async def test_a_worker_marking_a_consent_does_not_change_the_facts(
    client: httpx.AsyncClient, lead: Partner, member: Partner, database: Database
) -> None:
    """The consents are in the digest in the order of their ids, whatever moves their rows."""
    case = await open_case(client, lead)
    await add_member(database, uuid.UUID(case["id"]), member.org.id, ["identity", "medical"])
    await consent(client, lead, case["id"], member, ["identity"])
    await consent(client, lead, case["id"], member, ["medical"])
    url = f"{CASES}/{case['id']}"
    assert (await client.get(url, headers=member.headers)).status_code == 200
    async with database.pool.acquire() as conn:
        for _ in range(3):  # new row versions, later in the table than the other consent's
            await conn.execute(
                "UPDATE consents SET activation_processed_at = now() WHERE case_id = $1"
                " AND id = (SELECT id FROM consents WHERE case_id = $1 ORDER BY id LIMIT 1)",
                uuid.UUID(case["id"]),
            )
    response, count, statements = await counted(database, client, url, member)
    assert response.status_code == 200
    assert count == 2, statements


async def test_a_transaction_does_not_use_remembered_decisions(
    client: httpx.AsyncClient, lead: Partner, database: Database, app: FastAPI
) -> None:
    """A transactional session, even before its first statement (its BEGIN is lazy), loads the
    case with its row lock: no remembered decision."""
    case = await open_case(client, lead)
    case_id = uuid.UUID(case["id"])
    assert (await client.get(f"{CASES}/{case['id']}", headers=lead.headers)).status_code == 200
    principal = app.state.ctx.verify_token(lead.token)
    now = datetime.now(UTC)
    assert memo(app).get(principal, case_id, now) is not None
    for transactional in (True, False):
        session = database.session(transactional=transactional)
        try:
            ctx = RequestContext(
                session, principal, app.state.ctx.key_wrapper, access_memo=memo(app)
            )
            found = CaseService(ctx).remembered(case_id, now)
            assert (found is None) is transactional
        finally:
            await session.close()


async def test_a_graphql_case_uses_the_remembered_decision(
    client: httpx.AsyncClient, lead: Partner, database: Database
) -> None:
    case = await open_case(client, lead)
    query = "query ($id: UUID!) { case(id: $id) { id visibleCategories } }"
    counts = []
    for _ in range(2):
        counter = StatementCounter()
        database.statement_hook = counter
        result = data_of(await gql(client, lead, query, {"id": case["id"]}))
        database.statement_hook = None
        counts.append(counter.count)
        assert result["case"]["id"] == case["id"]
    assert counts[1] == counts[0] - 1, counts
    audited = await reads(database, lead.org.id, case["id"])
    assert len(audited) == 2 and audited[0] == audited[1]


async def test_care_plan_of_a_member_who_left_is_404_without_a_row(
    client: httpx.AsyncClient, lead: Partner, clinic: Partner, database: Database
) -> None:
    case = await open_case(client, lead)
    await on_care_team(client, database, lead, case["id"], clinic)
    url = f"{CASES}/{case['id']}/care-plan"
    assert (await client.get(url, headers=clinic.headers)).status_code == 200
    await leave_care_team(database, case["id"], clinic)
    gone = await client.get(url, headers=clinic.headers)
    missing = await client.get(f"{CASES}/{uuid.uuid4()}/care-plan", headers=clinic.headers)
    assert_problem(gone, 404, "not_found")
    assert gone.json() == missing.json()
    assert await reads(database, clinic.org.id, case["id"], "care_plan.read") == [["medical"]]


async def test_a_lead_transfer_between_reads_is_decided_again(
    client: httpx.AsyncClient, lead: Partner, member: Partner, database: Database
) -> None:
    """The lead is in the digest: after a transfer, the old lead (not on the care team) gets
    the 404 of a missing case and no row, the new one its lead's view, audited as such."""
    case = await open_case(client, lead)
    case_id = uuid.UUID(case["id"])
    await add_member(database, case_id, member.org.id, ["identity"])
    url = f"{CASES}/{case['id']}"
    for partner in (lead, member, lead, member):
        assert (await client.get(url, headers=partner.headers)).status_code == 200
    async with database.pool.acquire() as conn:
        await conn.execute(
            "UPDATE cases SET lead_org_id = $2 WHERE id = $1", case_id, member.org.id
        )
    assert_problem(await client.get(url, headers=lead.headers), 404, "not_found")
    body = (await client.get(url, headers=member.headers)).json()
    assert body["role"] == "lead"
    assert len(await reads(database, lead.org.id, case["id"])) == 2
    assert (await reads(database, member.org.id, case["id"]))[-1] == sorted(
        body["visible_categories"]
    )
    await chains_verify(database)
