"""The change feed in GraphQL: the same events, pages and cursors as GET /v1/events."""

from __future__ import annotations

from typing import Any

import httpx

from app.api.graphql.types.event import EventType as GraphQLEventType
from app.db.database import Database
from app.domain.events import EventType
from tests.api.test_events_feed import EVENTS, care_team, post_update
from tests.factories import Factory, Partner
from tests.graphql.helpers import data_of, gql, only_error
from tests.helpers import events_settled

FEED = """
query Feed($first: Int, $after: String, $types: [EventType!]) {
  events(first: $first, after: $after, types: $types) {
    edges { cursor node { id type occurredAt subject { type id } caseId data } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


def test_graphql_event_types_are_the_contracts() -> None:
    assert [t.value for t in GraphQLEventType] == [t.value for t in EventType]
    assert all(t.name == t.value.replace(".", "_") for t in GraphQLEventType)


async def test_events_match_the_rest_feed(
    client: httpx.AsyncClient,
    database: Database,
    lead: Partner,
    member: Partner,
    case: dict[str, Any],
) -> None:
    await care_team(client, database, lead, case["id"], member)
    posted = [(await post_update(client, lead, case["id"], "medical"))["id"] for _ in range(3)]
    await events_settled(database)
    rest = (await client.get(EVENTS, headers=member.headers)).json()["items"]

    first = data_of(await gql(client, member, FEED, {"first": 2}))["events"]
    assert first["pageInfo"]["hasNextPage"] is True
    rest_cursor = (await client.get(EVENTS, params={"limit": 2}, headers=member.headers)).json()[
        "next_cursor"
    ]
    assert first["pageInfo"]["endCursor"] == rest_cursor
    second = data_of(
        await gql(client, member, FEED, {"first": 2, "after": first["pageInfo"]["endCursor"]})
    )["events"]
    nodes = [e["node"] for e in first["edges"] + second["edges"]]
    assert [n["id"] for n in nodes] == [e["id"] for e in rest]
    added = [n for n in nodes if n["type"] == "case_update_added"]
    assert [n["subject"]["id"] for n in added] == posted
    assert added[0]["data"] == {"category": "medical", "update_id": posted[0]}
    # An empty page still says where to continue.
    assert second["pageInfo"]["endCursor"]
    filtered = data_of(await gql(client, member, FEED, {"types": ["case_closed"]}))["events"]
    assert filtered["edges"] == [] and filtered["pageInfo"]["endCursor"]


async def test_events_need_the_scope(client: httpx.AsyncClient, factory: Factory) -> None:
    partner = await factory.partner(scopes=["cases:read"])
    only_error(await gql(client, partner, FEED), "insufficient_scope")


async def test_a_bad_cursor_is_a_validation_error(client: httpx.AsyncClient, lead: Partner) -> None:
    only_error(await gql(client, lead, FEED, {"after": "nope"}), "validation_error")
