"""Happy paths of every query, pagination, filters and nested connections."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.test_referrals import act, refer
from tests.factories import Factory, Partner
from tests.graphql.helpers import data_of, gql, only_error
from tests.helpers import consent, open_case


# Overrides the shared `lead`: its name is asserted below.
@pytest.fixture
async def lead(factory: Factory) -> Partner:
    return await factory.partner(name="Query Lead Shelter", services=["shelter"])


# Overrides the shared `clinic`: its name and capacity are asserted below.
@pytest.fixture
async def clinic(factory: Factory) -> Partner:
    return await factory.partner(
        name="Query Clinic",
        kind="medical_provider",
        services=["medical"],
        capacity=[("medical", 3, 5)],
    )


async def test_me_and_organization(
    client: httpx.AsyncClient, lead: Partner, clinic: Partner
) -> None:
    data = data_of(
        await gql(
            client,
            lead,
            """query ($id: UUID!) {
                 me { id name kind country services }
                 organization(id: $id) {
                   id name kind services languages regions version createdAt updatedAt
                   populations { acceptsMinors acceptsAdults genders }
                   capacity { service available maximum updatedAt }
                 }
               }""",
            {"id": str(clinic.org.id)},
        )
    )
    assert data["me"] == {
        "id": str(lead.org.id),
        "name": "Query Lead Shelter",
        "kind": "ngo_shelter",
        "country": "TH",
        "services": ["shelter"],
    }
    org = data["organization"]
    assert org["kind"] == "medical_provider"
    assert [(c["service"], c["available"], c["maximum"]) for c in org["capacity"]] == [
        ("medical", 3, 5)
    ]
    rest = (await client.get(f"/v1/organizations/{clinic.org.id}", headers=lead.headers)).json()
    assert org["populations"]["acceptsAdults"] == rest["populations"]["accepts_adults"]
    assert org["version"] == rest["version"]


async def test_organizations_filters_and_pages(
    client: httpx.AsyncClient, factory: Factory, lead: Partner, clinic: Partner
) -> None:
    for i in range(3):
        await factory.organization(name=f"Query Directory {i}", kind="legal_partner")
    query = """query ($filter: OrganizationFilter, $first: Int!, $after: String) {
                 organizations(filter: $filter, first: $first, after: $after) {
                   edges { cursor node { name } }
                   pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
                 } }"""
    legal = {"kind": "legal_partner"}
    names: list[str] = []
    after = None
    pages = 0
    while True:
        page = data_of(
            await gql(client, lead, query, {"filter": legal, "first": 2, "after": after})
        )["organizations"]
        names += [e["node"]["name"] for e in page["edges"]]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert names == [f"Query Directory {i}" for i in range(3)]
    assert pages == 2
    # the same cursors as REST's
    rest = (
        await client.get(
            "/v1/organizations", params={"kind": "legal_partner", "limit": 2}, headers=lead.headers
        )
    ).json()
    first = data_of(await gql(client, lead, query, {"filter": legal, "first": 2}))
    assert first["organizations"]["pageInfo"]["endCursor"] == rest["next_cursor"]
    with_capacity = data_of(
        await gql(
            client,
            lead,
            query,
            {"filter": {"service": "medical", "hasCapacity": True}, "first": 10},
        )
    )
    assert [e["node"]["name"] for e in with_capacity["organizations"]["edges"]] == ["Query Clinic"]
    bad = await gql(client, lead, query, {"filter": {"country": "Thailand"}, "first": 2})
    assert bad["errors"][0]["extensions"]["code"] == "validation_error"
    assert bad["errors"][0]["extensions"]["errors"][0]["loc"] == ["filter", "country"]


async def test_case_with_everything_nested(
    client: httpx.AsyncClient, lead: Partner, clinic: Partner
) -> None:
    case = await open_case(client, lead)
    referral = await refer(client, lead, case, clinic, shared_categories=["medical"])
    data = data_of(
        await gql(
            client,
            lead,
            """query ($id: UUID!) { case(id: $id) {
                 id reference role externalRef visibleCategories ageBand isMinor
                 survivor { givenName gender languages contact { phone } }
                 exploitation { types country } needs riskLevel
                 leadOrganization { name }
                 referrals { edges { node { id status direction caseReference
                   toOrganization { name } fromOrganization { name } case { id } } } }
                 updates(category: medical) { edges { node { summary category kind } } }
                 consents { edges { node { status categories recipientOrgId grantedBy } } }
               } }""",
            {"id": case["id"]},
        )
    )["case"]
    assert data["reference"] == case["reference"]
    assert data["role"] == "lead"
    assert data["externalRef"] == "HL-2026-0001"
    assert data["ageBand"] == "25-34"
    assert data["survivor"]["givenName"] == "Planted-Givenname-Xq7"
    assert data["exploitation"] == {"types": ["labour"], "country": "TH"}
    assert data["leadOrganization"]["name"] == "Query Lead Shelter"
    node = data["referrals"]["edges"][0]["node"]
    assert node["id"] == referral["id"]
    assert node["status"] == "pending" and node["direction"] == "outgoing"
    assert node["toOrganization"]["name"] == "Query Clinic"
    assert node["fromOrganization"]["name"] == "Query Lead Shelter"
    assert node["case"] == {"id": case["id"]}
    assert [e["node"]["summary"] for e in data["updates"]["edges"]] == ["Referral for medical sent"]
    assert data["consents"]["edges"][0]["node"] == {
        "status": "active",
        "categories": ["medical"],
        "recipientOrgId": str(clinic.org.id),
        "grantedBy": ["survivor"],
    }


async def test_nested_pages_follow_cursors(client: httpx.AsyncClient, lead: Partner) -> None:
    case = await open_case(client, lead)
    for i in range(5):
        await client.post(
            f"/v1/cases/{case['id']}/updates",
            json={
                "kind": "note",
                "category": "counseling",
                "occurred_at": "2026-11-02T10:00:00Z",
                "summary": f"session {i}",
            },
            headers=lead.headers,
        )
    query = """query ($id: UUID!, $after: String) { case(id: $id) {
                 updates(first: 2, after: $after, category: counseling) {
                   edges { node { summary } } pageInfo { hasNextPage endCursor } } } }"""
    seen: list[str] = []
    after = None
    while True:
        page = data_of(await gql(client, lead, query, {"id": case["id"], "after": after}))
        updates = page["case"]["updates"]
        seen += [e["node"]["summary"] for e in updates["edges"]]
        if not updates["pageInfo"]["hasNextPage"]:
            break
        after = updates["pageInfo"]["endCursor"]
    assert seen == [f"session {i}" for i in range(5)]
    rest = (
        await client.get(
            f"/v1/cases/{case['id']}/updates",
            params={"limit": 2, "category": "counseling"},
            headers=lead.headers,
        )
    ).json()
    first = data_of(await gql(client, lead, query, {"id": case["id"]}))
    assert first["case"]["updates"]["pageInfo"]["endCursor"] == rest["next_cursor"]


async def test_cases_filters(client: httpx.AsyncClient, lead: Partner, clinic: Partner) -> None:
    mine = await open_case(client, lead, external_ref="Q-1")
    closed = await open_case(client, lead, external_ref="Q-2")
    await client.post(
        f"/v1/cases/{closed['id']}/close", json={"reason": "done"}, headers=lead.headers
    )
    own = await open_case(client, clinic, external_ref="Q-3")
    referral = await refer(client, lead, mine, clinic, shared_categories=["medical"])
    await act(client, clinic, referral, "accept")
    query = """query ($status: CaseStatus, $role: CaseRole, $since: DateTime) {
                 cases(status: $status, role: $role, updatedSince: $since) {
                   edges { node { id role } } } }"""

    async def ids(who: Partner, **variables: Any) -> list[str]:
        data = data_of(await gql(client, who, query, variables))
        return [e["node"]["id"] for e in data["cases"]["edges"]]

    assert await ids(lead, status="closed") == [closed["id"]]
    assert set(await ids(clinic)) == {mine["id"], own["id"]}
    assert await ids(clinic, role="care_team") == [mine["id"]]
    assert await ids(clinic, role="lead") == [own["id"]]
    assert await ids(lead, since="2199-01-01T00:00:00+14:00") == []
    assert set(await ids(lead, since="2000-01-01T00:00:00-07:00")) == {mine["id"], closed["id"]}


@pytest.mark.parametrize(
    "since",
    [
        "9999-12-31T23:59:59-14:00",  # past what a timestamp holds once in UTC
        "0001-01-01T00:00:00+14:00",
        "2500-01-01T00:00:00Z",
        "1800-01-01T00:00:00Z",
        "2026-12-05T01:00:00",  # no offset
        "2026-12-04",  # a day
    ],
)
async def test_cases_updated_since_is_checked_as_rest_checks_it(
    client: httpx.AsyncClient, lead: Partner, since: str
) -> None:
    rest = await client.get("/v1/cases", params={"updated_since": since}, headers=lead.headers)
    assert rest.status_code == 422, rest.text
    query = "query ($since: DateTime) { cases(updatedSince: $since) { edges { cursor } } }"
    result = await gql(client, lead, query, {"since": since})
    error = only_error(result, "validation_error")
    assert [e["loc"] for e in error["extensions"]["errors"]] == [["updatedSince"]]
    assert since not in error["message"] and result["data"] == {"cases": None}


async def test_referral_and_inbox(
    client: httpx.AsyncClient, lead: Partner, clinic: Partner
) -> None:
    case = await open_case(client, lead)
    referral = await refer(client, lead, case, clinic, shared_categories=["medical"])
    query = """query ($id: UUID!) {
                 referral(id: $id) { id status direction caseReference case { id }
                   preview { ageBand gender needs urgency isMinor exploitationTypes } }
                 incoming: referrals(direction: incoming, status: pending) {
                   edges { node { id } } }
                 outgoing: referrals(direction: outgoing) { edges { node { id } } } }"""
    received = data_of(await gql(client, clinic, query, {"id": referral["id"]}))
    assert received["referral"]["direction"] == "incoming"
    assert received["referral"]["caseReference"] is None
    assert received["referral"]["case"] is None
    assert received["referral"]["preview"] == {
        "ageBand": "25-34",
        "gender": "female",
        "needs": ["shelter", "medical", "legal"],
        "urgency": "high",
        "isMinor": False,
        "exploitationTypes": ["labour"],
    }
    assert [e["node"]["id"] for e in received["incoming"]["edges"]] == [referral["id"]]
    assert received["outgoing"]["edges"] == []
    sent = data_of(await gql(client, lead, query, {"id": referral["id"]}))
    assert sent["referral"]["preview"] is None
    assert sent["referral"]["caseReference"] == case["reference"]
    assert sent["referral"]["case"] == {"id": case["id"]}
    await act(client, clinic, referral, "accept")
    accepted = data_of(await gql(client, clinic, query, {"id": referral["id"]}))
    assert accepted["referral"]["case"] == {"id": case["id"]}
    assert accepted["referral"]["preview"] is None


async def test_consents_of_a_member_are_those_addressed_to_it(
    client: httpx.AsyncClient, factory: Factory, lead: Partner, clinic: Partner
) -> None:
    case = await open_case(client, lead)
    other = await factory.partner(name="Query Other")
    await consent(client, lead, case["id"], other, ["legal"])
    referral = await refer(client, lead, case, clinic, shared_categories=["medical"])
    await act(client, clinic, referral, "accept")
    query = (
        "query ($id: UUID!) { case(id: $id) { consents { edges { node { recipientOrgId } } } } }"
    )
    variables = {"id": case["id"]}
    as_lead = data_of(await gql(client, lead, query, variables))["case"]["consents"]["edges"]
    as_member = data_of(await gql(client, clinic, query, variables))["case"]["consents"]["edges"]
    assert len(as_lead) == 2
    assert [e["node"]["recipientOrgId"] for e in as_member] == [str(clinic.org.id)]


async def test_testimony_status(
    client: httpx.AsyncClient, factory: Factory, lead: Partner, clinic: Partner
) -> None:
    preparing = await open_case(client, lead, external_ref="T-1")
    await open_case(client, lead, external_ref="T-2")
    record = {
        "documents": [],
        "testimony": {"status": "in_preparation", "protective_measures": ["video_link"]},
        "prosecution": {"status": "charged"},
    }
    saved = await client.put(
        f"/v1/cases/{preparing['id']}/legal",
        json=record,
        headers=lead.headers_with(**{"If-Match": '"0"'}),
    )
    assert saved.status_code == 200, saved.text
    query = """query ($status: TestimonyStatus) {
                 testimonyStatus(status: $status, first: 10) {
                   edges { cursor node { caseId reference testimonyStatus protectiveMeasures
                                        nextSessionAt lastChange } }
                   pageInfo { hasNextPage } } }"""
    rows = data_of(await gql(client, lead, query))["testimonyStatus"]["edges"]
    rest = (await client.get("/v1/legal/testimony", headers=lead.headers)).json()["items"]
    assert [e["node"]["caseId"] for e in rows] == [r["case_id"] for r in rest]
    assert len(rows) == 2
    filtered = data_of(await gql(client, lead, query, {"status": "in_preparation"}))
    (only,) = filtered["testimonyStatus"]["edges"]
    assert only["node"]["reference"] == preparing["reference"]
    assert only["node"]["protectiveMeasures"] == ["video_link"]
    # a partner that may not see any case in legal gets an empty list, not an error
    assert data_of(await gql(client, clinic, query))["testimonyStatus"]["edges"] == []
    token = factory.token(lead.client, "cases:read")
    result = await gql(client, {"Authorization": f"Bearer {token}"}, query)
    assert result["data"] == {"testimonyStatus": None}
    assert result["errors"][0]["extensions"]["requiredScopes"] == ["legal:read"]
