"""The access policy's SQL facts (app.db.policy_facts), run against the real schema."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest

from app.db import policy_facts
from app.db.database import Database, Session
from app.db.policy_facts import FIELDS, POLICY_FACTS
from app.db.policy_facts import policy_facts as render
from app.db.query import Query
from app.db.repositories import cases as case_repo
from app.db.repositories import events as events_repo
from app.db.repositories import followups, legal, placements
from app.db.repositories.cases import CaseRow
from tests.factories import Factory, Partner, add_member
from tests.helpers import consent, open_case

# The fragment rendered for other aliases and another parameter than the default `c`, `o`, $1:
# the case is $1 here and the caller $2.
_FACTS = Query(
    f"""
    SELECT {render("k", org="me", caller="$2")}
    FROM cases k JOIN organizations me ON me.id = $2
    WHERE k.id = $1
    """,
    ("case_id", "org_id"),
)


@pytest.fixture
async def session(database: Database) -> AsyncIterator[Session]:
    session = database.session(transactional=False)
    yield session
    await session.close()


async def facts(session: Session, case_id: str, org: Partner) -> dict[str, Any]:
    row = await session.fetchrow(_FACTS, case_id=UUID(case_id), org_id=org.org.id)
    assert row is not None
    assert tuple(row.keys()) == FIELDS
    return dict(row)


async def revoked_kind_consent(
    client: httpx.AsyncClient, lead: Partner, case_id: str, member: Partner, expires_at: str
) -> None:
    """A `counseling` consent addressed to every medical provider, expiring at ``expires_at``,
    then revoked: a fact about each organisation of that kind that must still be read."""
    by_kind = await consent(
        client,
        lead,
        case_id,
        member,
        ["counseling"],
        recipient_org_id=None,
        recipient_kinds=["medical_provider"],
        expires_at=expires_at,
    )
    revoked = await client.post(
        f"/v1/cases/{case_id}/consents/{by_kind['id']}/revoke",
        json={"reason": "withdrawn"},
        headers=lead.headers,
    )
    assert revoked.status_code == 200, revoked.text


async def test_policy_facts_for_lead_member_kind_and_stranger(
    client: httpx.AsyncClient, factory: Factory, database: Database, session: Session
) -> None:
    lead = await factory.partner(name="Lead Shelter")
    member = await factory.partner(name="Care Team Clinic", kind="medical_provider")
    same_kind = await factory.partner(name="Other Clinic", kind="medical_provider")
    stranger = await factory.partner(name="Stranger NGO", kind="legal_partner")
    case = await open_case(client, lead)
    await add_member(database, UUID(case["id"]), member.org.id, ["medical", "demographics"])
    await add_member(database, UUID(case["id"]), member.org.id, ["medical", "counseling"])
    await consent(client, lead, case["id"], member, ["medical"])
    await revoked_kind_consent(client, lead, case["id"], member, "2026-12-01T09:00:00Z")

    # The lead: not a member, needs no consent.
    assert await facts(session, case["id"], lead) == {
        "member_categories": None,
        "consents": [],
        "caller_kind": "ngo_shelter",
    }

    # A care-team member: the union of its active memberships' categories, and the consents
    # addressed to it by id and by kind, revoked ones too (the policy judges them).
    got = await facts(session, case["id"], member)
    assert sorted(got["member_categories"]) == ["counseling", "demographics", "medical"]
    assert got["caller_kind"] == "medical_provider"
    by_category = {tuple(c["categories"]): c for c in got["consents"]}
    assert set(by_category) == {("medical",), ("counseling",)}
    assert by_category[("medical",)]["recipient_org_id"] == str(member.org.id)
    assert by_category[("medical",)]["revoked_at"] is None
    assert by_category[("medical",)]["expires_at"] is None
    assert by_category[("counseling",)]["recipient_org_id"] is None
    assert by_category[("counseling",)]["recipient_kinds"] == ["medical_provider"]
    assert by_category[("counseling",)]["revoked_at"] is not None
    assert by_category[("counseling",)]["expires_at"].startswith("2026-12-01")

    # Same kind, not on the care team: only the consent addressed to its kind, no membership.
    got = await facts(session, case["id"], same_kind)
    assert got["member_categories"] is None
    assert [c["categories"] for c in got["consents"]] == [["counseling"]]

    # A stranger: nothing.
    assert await facts(session, case["id"], stranger) == {
        "member_categories": None,
        "consents": [],
        "caller_kind": "legal_partner",
    }


async def test_a_member_that_left_and_one_without_shared_categories(
    client: httpx.AsyncClient, factory: Factory, database: Database, session: Session
) -> None:
    lead = await factory.partner(name="Lead Shelter")
    left = await factory.partner(name="Former Clinic", kind="medical_provider")
    bare = await factory.partner(name="Bare Member", kind="community_care")
    case = await open_case(client, lead)
    case_id = UUID(case["id"])
    await add_member(database, case_id, left.org.id, ["medical"])
    await add_member(database, case_id, bare.org.id, [])
    write = database.session(transactional=True)
    try:
        await case_repo.remove_member(write, case_id, left.org.id)
        await write.commit()
    finally:
        await write.close()
    assert (await facts(session, case["id"], left))["member_categories"] is None
    # A member with no shared category is still a member: [] (NULL means "not a member").
    assert (await facts(session, case["id"], bare))["member_categories"] == []


async def test_case_rows_carry_the_facts_as_typed_fields(
    client: httpx.AsyncClient, factory: Factory, database: Database, session: Session
) -> None:
    lead = await factory.partner(name="Lead Shelter")
    member = await factory.partner(name="Care Team Clinic", kind="medical_provider")
    case = await open_case(client, lead)
    case_id = UUID(case["id"])
    await add_member(database, case_id, member.org.id, ["medical"])
    await consent(client, lead, case["id"], member, ["medical"])
    row = await case_repo.load_for(session, member.org.id, case_id)
    assert isinstance(row, CaseRow)
    assert (row.member_categories, row.caller_kind) == (["medical"], "medical_provider")
    assert [c["categories"] for c in row.consents] == [["medical"]]
    assert await case_repo.load_for(session, (await factory.partner()).org.id, case_id) is None
    # The row type declares the facts last, in the fragment's order.
    names = [f.name for f in dataclasses.fields(CaseRow)]
    assert tuple(names[-len(FIELDS) :]) == FIELDS


async def test_a_locked_load_brings_the_audience_the_events_statement_reads(
    client: httpx.AsyncClient, factory: Factory, database: Database, session: Session
) -> None:
    """`cases.load_locked` selects the case's audience (who hears of a write) with the row: the
    same organisations and facts, in the same order, as `events.audience` reads on its own,
    whoever loads the case."""
    lead = await factory.partner(name="Lead Shelter")
    member = await factory.partner(name="Care Team Clinic", kind="medical_provider")
    bare = await factory.partner(name="Bare Member", kind="community_care")
    left = await factory.partner(name="Former Clinic", kind="medical_provider")
    await factory.partner(name="Other Clinic", kind="medical_provider")  # not on the team
    case = await open_case(client, lead)
    case_id = UUID(case["id"])
    await add_member(database, case_id, member.org.id, ["medical", "demographics"])
    await add_member(database, case_id, bare.org.id, [])
    await add_member(database, case_id, left.org.id, ["medical"])
    await consent(client, lead, case["id"], member, ["medical"])
    await revoked_kind_consent(client, lead, case["id"], member, "2030-12-01T09:00:00Z")
    write = database.session(transactional=True)
    try:
        await case_repo.remove_member(write, case_id, left.org.id)
        await write.commit()
    finally:
        await write.close()

    expected = await events_repo.audience(session, case_id)
    assert [r.org_id for r in expected] == sorted([lead.org.id, member.org.id, bare.org.id])
    for caller in (lead, member):
        locked = database.session(transactional=True)
        try:
            await locked.begin()
            row = await case_repo.load_locked(locked, caller.org.id, case_id)
            assert row is not None
            assert events_repo.audience_rows(row.lead_org_id, row.audience) == expected
        finally:
            await locked.close()


def test_the_four_repositories_select_the_one_fragment() -> None:
    assert render() == POLICY_FACTS
    statements = [
        case_repo._LOAD_FOR,
        case_repo._LOAD_MANY_FOR,
        case_repo.list_query(None, False, False, False),
        legal.testimony_query(False, False),
        placements.overdue_query(False),
        placements.overdue_query(True),
        followups._DUE,
    ]
    for statement in statements:
        assert POLICY_FACTS in statement.sql
    assert policy_facts.__doc__
