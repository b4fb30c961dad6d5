"""Case.legal and Case.placements: visible exactly as REST shows them, batched."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from app.db.database import Database
from tests.factories import Factory, add_member
from tests.helpers import StatementCounter, consent, open_case

QUERY = """
query($first: Int!) {
  cases(first: $first) { edges { node {
    id
    legal { testimonyStatus protectiveMeasures version documents { type status } }
    placements { edges { node { id setting } } }
  } } }
}
"""


async def gql(client: httpx.AsyncClient, headers: dict[str, str], first: int) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json={"query": QUERY, "variables": {"first": first}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_legal_and_placements_follow_the_policy_and_batch(
    client: httpx.AsyncClient, factory: Factory, database: Database
) -> None:
    lead = await factory.partner(name="Lead Shelter")
    lawyer = await factory.partner(name="Legal Aid", kind="legal_partner")
    cases = [await open_case(client, lead, external_ref=f"G-{i}") for i in range(6)]
    for c in cases:
        await client.put(
            f"/v1/cases/{c['id']}/legal",
            json={"testimony": {"status": "ready", "protective_measures": ["screen"]}},
            headers=lead.headers_with(**{"If-Match": '"0"'}),
        )
        await client.post(
            f"/v1/cases/{c['id']}/placements",
            json={"org_id": str(lead.org.id), "setting": "ngo_shelter",
                  "started_at": "2026-11-01T00:00:00Z"},
            headers=lead.headers,
        )  # fmt: skip
        await add_member(database, uuid.UUID(c["id"]), lawyer.org.id, ["legal", "placement"])
    await consent(client, lead, cases[0]["id"], lawyer, ["legal"])

    counter = StatementCounter()
    database.statement_hook = counter
    small = await gql(client, lead.headers, 2)
    few = counter.count
    counter.reset()
    body = await gql(client, lead.headers, 6)
    assert counter.count == few, counter.statements  # constant, whatever the page size
    assert "errors" not in body and "errors" not in small
    nodes = [e["node"] for e in body["data"]["cases"]["edges"]]
    assert all(n["legal"]["testimonyStatus"] == "ready" for n in nodes)
    assert all(n["legal"]["protectiveMeasures"] == ["screen"] for n in nodes)
    assert all(len(n["placements"]["edges"]) == 1 for n in nodes)

    member = (await gql(client, lawyer.headers, 10))["data"]["cases"]["edges"]
    by_id = {e["node"]["id"]: e["node"] for e in member}
    assert by_id[cases[0]["id"]]["legal"]["testimonyStatus"] == "ready"
    assert by_id[cases[1]["id"]]["legal"] is None  # no consent: REST answers 404
    assert all(n["placements"] is None for n in by_id.values())  # placement never consented
    rest = await client.get(f"/v1/cases/{cases[1]['id']}/legal", headers=lawyer.headers)
    assert rest.status_code == 404
