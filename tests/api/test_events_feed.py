"""The change feed: GET /v1/events (keyset order, types, next_cursor, long polling, retention)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

from app.db.database import Database
from tests.factories import Factory, Partner, add_member
from tests.helpers import (
    assert_forbidden,
    assert_problem,
    assert_unauthorized,
    consent,
    events_settled,
)

CASES = "/v1/cases"
EVENTS = "/v1/events"


def update_body(category: str = "general", **kw: Any) -> dict[str, Any]:
    return {
        "kind": "note",
        "category": category,
        "occurred_at": "2026-11-20T10:00:00Z",
        "summary": "Checked in by phone.",
        **kw,
    }


async def post_update(
    client: httpx.AsyncClient, partner: Partner, case_id: str, category: str = "general"
) -> dict[str, Any]:
    response = await client.post(
        f"{CASES}/{case_id}/updates", json=update_body(category), headers=partner.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def care_team(
    client: httpx.AsyncClient, database: Database, lead: Partner, case_id: str, member: Partner
) -> None:
    await add_member(database, uuid.UUID(case_id), member.org.id, ["medical"])
    await consent(client, lead, case_id, member, ["medical"])


async def quiet_feed(
    client: httpx.AsyncClient,
    database: Database,
    lead: Partner,
    member: Partner,
    case: dict[str, Any],
) -> str:
    """``member`` on the case's care team and every event so far settled: the cursor a long poll
    of the member's feed waits from."""
    await care_team(client, database, lead, case["id"], member)
    await events_settled(database)
    cursor: str = (await client.get(EVENTS, headers=member.headers)).json()["next_cursor"]
    return cursor


class TestFeed:
    async def test_no_token_401_and_missing_scope_403(
        self, client: httpx.AsyncClient, factory: Factory
    ) -> None:
        assert_unauthorized(await client.get(EVENTS))
        partner = await factory.partner(scopes=["cases:read"])
        assert_forbidden(await client.get(EVENTS, headers=partner.headers), "events:read")

    async def test_bad_input_is_422(self, client: httpx.AsyncClient, lead: Partner) -> None:
        for query in (
            {"types": "case.nonsense"},
            {"limit": 0},
            {"limit": 101},
            {"wait": 31},
            {"wait": -1},
            {"after": "not-a-cursor"},
        ):
            response = await client.get(EVENTS, params=query, headers=lead.headers)
            assert_problem(response, 422, "validation_error")
            assert response.json()["errors"][0]["loc"][:2] == ["query", next(iter(query))], query

    async def test_empty_feed_still_gives_a_cursor(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        response = await client.get(EVENTS, headers=lead.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["items"] == []
        assert body["next_cursor"]
        assert response.headers["cache-control"] == "no-store"
        again = await client.get(
            EVENTS, params={"after": body["next_cursor"]}, headers=lead.headers
        )
        assert again.status_code == 200 and again.json()["items"] == []

    async def test_members_hear_of_updates_in_their_categories_only_and_actor_hears_nothing(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        member: Partner,
        stranger: Partner,
        case: dict[str, Any],
    ) -> None:
        await care_team(client, database, lead, case["id"], member)
        medical = await post_update(client, lead, case["id"], "medical")
        await post_update(client, lead, case["id"], "legal")  # the member may not see legal
        own = await post_update(client, member, case["id"], "medical")

        await events_settled(database)
        member_feed = (await client.get(EVENTS, headers=member.headers)).json()["items"]
        added = [e for e in member_feed if e["type"] == "case.update_added"]
        assert [e["subject"] for e in added] == [{"type": "case_update", "id": medical["id"]}]
        assert added[0]["case_id"] == case["id"]
        assert added[0]["data"] == {"category": "medical", "update_id": medical["id"]}
        assert set(added[0]) == {"id", "type", "occurred_at", "subject", "case_id", "data"}

        lead_feed = (await client.get(EVENTS, headers=lead.headers)).json()["items"]
        assert [e["subject"]["id"] for e in lead_feed if e["type"] == "case.update_added"] == [
            own["id"]
        ]
        assert (await client.get(EVENTS, headers=stranger.headers)).json()["items"] == []

    async def test_pages_in_order_with_cursor_and_types_filter(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        member: Partner,
        case: dict[str, Any],
    ) -> None:
        await care_team(client, database, lead, case["id"], member)
        posted = [(await post_update(client, lead, case["id"], "medical"))["id"] for _ in range(5)]
        await events_settled(database)
        seen: list[str] = []
        after: str | None = None
        for _ in range(5):
            params: dict[str, Any] = {"limit": 2, "types": "case.update_added"}
            if after:
                params["after"] = after
            body = (await client.get(EVENTS, params=params, headers=member.headers)).json()
            seen += [e["subject"]["id"] for e in body["items"]]
            after = body["next_cursor"]
            assert after
        assert seen == posted
        other = await client.get(
            EVENTS, params={"types": ["case.closed", "referral.created"]}, headers=member.headers
        )
        assert other.json()["items"] == []

    async def test_long_poll_wakes_when_an_event_commits(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        member: Partner,
        case: dict[str, Any],
    ) -> None:
        start = await quiet_feed(client, database, lead, member, case)

        async def poll() -> tuple[float, dict[str, Any]]:
            began = time.monotonic()
            response = await client.get(
                EVENTS, params={"after": start, "wait": 10}, headers=member.headers
            )
            return time.monotonic() - began, response.json()

        waiting = asyncio.create_task(poll())
        await asyncio.sleep(0.5)
        assert not waiting.done()
        update = await post_update(client, lead, case["id"], "medical")
        took, body = await asyncio.wait_for(waiting, 10)
        assert [e["subject"]["id"] for e in body["items"]] == [update["id"]]
        assert took < 3

    async def test_a_token_revoked_while_its_long_poll_waits_gets_no_events(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        member: Partner,
        case: dict[str, Any],
    ) -> None:
        start = await quiet_feed(client, database, lead, member, case)
        waiting = asyncio.create_task(
            client.get(EVENTS, params={"after": start, "wait": 10}, headers=member.headers)
        )
        await asyncio.sleep(0.5)
        revoked = await client.post(
            "/oauth/revoke",
            data={"token": member.token},
            auth=(member.client.client_id, member.secret),
        )
        assert revoked.status_code == 200
        await post_update(client, lead, case["id"], "medical")
        answer = await asyncio.wait_for(waiting, 10)
        assert_unauthorized(answer)

    async def test_long_poll_times_out_with_an_empty_page(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        began = time.monotonic()
        response = await client.get(EVENTS, params={"wait": 1}, headers=lead.headers)
        assert response.status_code == 200
        assert response.json()["items"] == []
        assert 0.9 <= time.monotonic() - began < 5

    async def test_cursor_past_retention_is_410(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        member: Partner,
        case: dict[str, Any],
    ) -> None:
        await care_team(client, database, lead, case["id"], member)
        await post_update(client, lead, case["id"], "medical")
        await events_settled(database)
        first = (await client.get(EVENTS, params={"limit": 1}, headers=member.headers)).json()
        await post_update(client, lead, case["id"], "medical")
        session = database.session(transactional=True)
        try:
            from datetime import UTC, datetime, timedelta

            from app.db.repositories import events as repo

            assert await repo.prune(session, datetime.now(UTC) + timedelta(days=1)) >= 2
            await session.commit()
        finally:
            await session.close()
        response = await client.get(
            EVENTS, params={"after": first["next_cursor"]}, headers=member.headers
        )
        assert_problem(response, 410, "cursor_expired")
        assert (await client.get(EVENTS, headers=member.headers)).status_code == 200


async def test_a_reader_never_steps_past_an_event_that_commits_later(
    client: httpx.AsyncClient, database: Database, lead: Partner
) -> None:
    """Transaction A writes an event first (smaller seq) but commits after B. A feed read in
    between must not show B's event, or its cursor would pass A's for good."""
    from uuid import uuid4

    from app.db.repositories import events as repo

    def event(label: str) -> dict[str, Any]:
        return {
            "id": uuid4(),
            "org_id": lead.org.id,
            "type": "case.closed",
            "subject_type": "case",
            "subject_id": uuid4(),
            "case_id": None,
            "data": {"status": label},
        }

    start = (await client.get(EVENTS, headers=lead.headers)).json()["next_cursor"]
    a, b = database.session(transactional=True), database.session(transactional=True)
    try:
        await repo.append(a, [event("first")])
        await repo.append(b, [event("second")])
        await b.commit()
        between = (await client.get(EVENTS, params={"after": start}, headers=lead.headers)).json()
        assert between["items"] == []
        await a.commit()
    finally:
        await a.close()
        await b.close()
    await events_settled(database)
    after = (
        await client.get(EVENTS, params={"after": between["next_cursor"]}, headers=lead.headers)
    ).json()
    assert [e["data"]["status"] for e in after["items"]] == ["first", "second"]
