"""A case write that waits for the case row lock decides on what the holder left.

Every case write locks the case row first (`cases.load_locked`). In READ COMMITTED a
`SELECT … FOR UPDATE` that waited rechecks only the row it locked: the data key it joins and the
policy's facts would still come from the snapshot taken before the wait. These tests hold the
case in another transaction (an identity erasure, a consent revocation), start a write that
queues behind it, commit, and check that the write used the new key and the new facts.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI

from app.db.database import Database, Session
from app.db.repositories import cases as case_repo
from app.db.repositories import consents as consent_repo
from tests.factories import Partner, add_member
from tests.helpers import assert_problem, behind_the_case, consent, erasure, waiting_for_a_lock

CASES = "/v1/cases"


def update(**kw: Any) -> dict[str, Any]:
    return {
        "kind": "service_delivered",
        "category": "medical",
        "occurred_at": "2026-11-20T10:00:00Z",
        "summary": "Wound dressing changed; follow-up in a week.",
        **kw,
    }


async def ctid(database: Database, case_id: uuid.UUID) -> str:
    async with database.pool.acquire() as conn:
        found: str = await conn.fetchval("SELECT ctid::text FROM cases WHERE id = $1", case_id)
        return found


class TestAWriteQueuedBehindTheCase:
    async def test_behind_an_erasure_it_seals_with_the_new_key(
        self,
        client: httpx.AsyncClient,
        database: Database,
        app: FastAPI,
        case: dict[str, Any],
        lead: Partner,
    ) -> None:
        """Before: the update waited for the erasure, then sealed its summary with the data key
        the erasure destroyed, so it read back as erased; the text was lost."""
        case_id = uuid.UUID(case["id"])
        url = f"{CASES}/{case['id']}/updates"
        posted = await behind_the_case(
            database,
            lead,
            case_id,
            erasure(app.state.ctx.key_wrapper, case_id),
            client.post(url, json=update(), headers=lead.headers),
        )
        assert posted.status_code == 201, posted.text
        assert posted.json()["summary"] == update()["summary"]
        items = (await client.get(url, headers=lead.headers)).json()["items"]
        assert [i["summary"] for i in items] == [update()["summary"]]

    async def test_behind_a_revocation_it_is_decided_on_the_revoked_facts(
        self,
        client: httpx.AsyncClient,
        database: Database,
        case: dict[str, Any],
        lead: Partner,
        member: Partner,
    ) -> None:
        """Before: a member's medical update waited for the lead's revocation of the consent
        that let it write medical, then was stored on the facts from before the revocation."""
        case_id = uuid.UUID(case["id"])
        url = f"{CASES}/{case['id']}/updates"
        await add_member(database, case_id, member.org.id, ["medical"])
        given = await consent(client, lead, case["id"], member, ["medical"])

        async def revoke(session: Session) -> None:
            assert await consent_repo.revoke(session, uuid.UUID(given["id"]), case_id, None)
            await case_repo.touch(session, case_id)  # as ConsentService.revoke does

        posted = await behind_the_case(
            database,
            lead,
            case_id,
            revoke,
            client.post(url, json=update(), headers=member.headers),
        )
        assert_problem(posted, 422, "validation_error")
        assert (await client.get(url, headers=lead.headers)).json()["items"] == []

    async def test_behind_a_lead_transfer_the_former_lead_writes_as_a_member(
        self,
        client: httpx.AsyncClient,
        database: Database,
        case: dict[str, Any],
        lead: Partner,
        member: Partner,
    ) -> None:
        """A transfer makes the receiver the lead and the former lead a member. The former
        lead's write queued behind it was rechecked against the new lead and the memberships
        from before (it had none): no row, a 404. Now it is read again and written as the
        member's report back in `general`."""
        case_id = uuid.UUID(case["id"])
        url = f"{CASES}/{case['id']}/updates"

        async def transfer(session: Session) -> None:
            await case_repo.set_lead(session, case_id, member.org.id)
            await case_repo.add_member(
                session,
                id=uuid.uuid4(),
                case_id=case_id,
                org_id=lead.org.id,
                categories=["general"],
                referral_id=None,
            )
            await case_repo.touch(session, case_id)  # as the accept's timeline entry does

        body = update(category="general", kind="note", summary="Handed over today")
        posted = await behind_the_case(
            database, lead, case_id, transfer, client.post(url, json=body, headers=lead.headers)
        )
        assert posted.status_code == 201, posted.text
        items = (await client.get(url, headers=member.headers)).json()["items"]
        assert [i["summary"] for i in items] == ["Handed over today"]


class TestEveryFactChangeMovesTheCaseRow:
    """What the locked load's recheck relies on: each change to the access policy's facts (the
    lead, a membership, a consent) or to the data key updates the case row in the same
    transaction, so a write that waited for it reads the case again."""

    async def test_fact_changes_move_the_case(
        self,
        client: httpx.AsyncClient,
        database: Database,
        case: dict[str, Any],
        lead: Partner,
        member: Partner,
    ) -> None:
        from tests.api.test_referrals import act, refer

        case_id = uuid.UUID(case["id"])
        before = await ctid(database, case_id)

        async def moved(what: str) -> None:
            nonlocal before
            now = await ctid(database, case_id)
            assert now != before, f"{what} did not update the case row"
            before = now

        given = await consent(client, lead, case["id"], member, ["general", "medical"])
        await moved("a consent")
        referral = await refer(client, lead, case, member, shared_categories=["medical"])
        await moved("a referral")
        for action, body in (
            ("accept", {}),
            ("start", {}),
            ("complete", {"outcome": "Treatment finished"}),
        ):
            response = await act(client, member, referral, action, **body)
            assert response.status_code == 200, response.text
            await moved(f"a referral's {action}")  # (accept: a member joins; complete: leaves)
        revoked = await client.post(
            f"{CASES}/{case['id']}/consents/{given['id']}/revoke",
            json={"reason": "withdrawn"},
            headers=lead.headers,
        )
        assert revoked.status_code == 200, revoked.text
        await moved("a revocation")
        erased = await client.delete(
            f"{CASES}/{case['id']}/survivor-identity", headers=lead.headers
        )
        assert erased.status_code == 204, erased.text
        await moved("an identity erasure (a new data key)")


async def test_a_write_caught_in_a_deadlock_is_a_503_that_changed_nothing(
    client: httpx.AsyncClient,
    database: Database,
    case: dict[str, Any],
    lead: Partner,
    member: Partner,
) -> None:
    """PostgreSQL breaks a deadlock by rolling one side back (40P01): for a request, that is a
    503 with ``Retry-After`` (nothing was stored; the same request can be sent again), not a
    500. Here a consent holds the case and waits for its recipient's row (the foreign key),
    which the other side holds while it asks for the case."""
    url = f"{CASES}/{case['id']}/consents"
    body = {
        "granted_by": ["survivor"],
        "recipient_org_id": str(member.org.id),
        "categories": ["medical"],
        "purpose": "medical follow-up",
        "obtained_at": "2026-11-01T09:00:00Z",
    }
    holding = database.session()
    try:
        conn = await holding.connection()
        # PostgreSQL checks for a deadlock once a wait has lasted deadlock_timeout (1 s): the
        # request, which waits first, finds the cycle. Where the role may, this side never
        # looks, so a slow host cannot turn it round.
        await conn.execute("SAVEPOINT tune")
        try:
            await conn.execute("SET LOCAL deadlock_timeout = '60s'")
        except asyncpg.InsufficientPrivilegeError:
            await conn.execute("ROLLBACK TO SAVEPOINT tune")
        await conn.execute("SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE", member.org.id)
        sent = asyncio.ensure_future(client.post(url, json=body, headers=lead.headers))
        await waiting_for_a_lock(database, sent)
        await conn.execute("SELECT 1 FROM cases WHERE id = $1 FOR UPDATE", uuid.UUID(case["id"]))
        answer = await sent
    finally:
        await holding.rollback()
        await holding.close()
    assert_problem(answer, 503, "service_unavailable")
    assert answer.headers["retry-after"] == "1"
    assert (await client.get(url, headers=lead.headers)).json()["items"] == []
    again = await client.post(url, json=body, headers=lead.headers)
    assert again.status_code == 201, again.text
