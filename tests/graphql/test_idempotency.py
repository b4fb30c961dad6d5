"""``idempotencyKey`` on the creating mutations: REST's ``Idempotency-Key`` semantics."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.db.database import Database
from tests.factories import Factory, Partner, add_member
from tests.graphql.helpers import data_of, gql, only_error
from tests.graphql.test_mutations import graphql_case
from tests.helpers import CASES, assert_problem, consent, iso, open_case

Body = dict[str, Any]
SOON = iso(datetime.now(UTC) + timedelta(days=1))


def _case(case: Body, clinic: Partner) -> Body:
    return {"input": graphql_case(external_ref=f"GQL-{uuid.uuid4().hex[:8]}")}


def _update(case: Body, clinic: Partner) -> Body:
    return {
        "caseId": case["id"],
        "input": {
            "kind": "service_delivered",
            "category": "medical",
            "occurredAt": "2026-11-20T10:00:00Z",
            "summary": "Wound dressing changed",
            "details": {"b": 1, "a": [1, 2]},
        },
    }


def _consent(case: Body, clinic: Partner) -> Body:
    return {
        "caseId": case["id"],
        "input": {
            "grantedBy": ["survivor"],
            "recipientOrgId": str(clinic.org.id),
            "categories": ["counseling"],
            "purpose": "counselling",
            "obtainedAt": "2026-11-01T09:00:00Z",
        },
    }


def _referral(case: Body, clinic: Partner) -> Body:
    return {
        "input": {
            "caseId": case["id"],
            "toOrgId": str(clinic.org.id),
            "service": "medical",
            "urgency": "high",
            "reason": "Infected wound needs treatment",
            "sharedCategories": ["demographics", "medical"],
        }
    }


def _goal(case: Body, clinic: Partner) -> Body:
    return {
        "caseId": case["id"],
        "input": {"category": "medical", "title": "Heal", "ownerOrgId": str(clinic.org.id)},
    }


def _service(case: Body, clinic: Partner) -> Body:
    return {
        "caseId": case["id"],
        "input": {
            "service": "medical",
            "category": "medical",
            "type": "appointment",
            "status": "scheduled",
            "scheduledAt": SOON,
            "providerOrgId": str(clinic.org.id),
        },
    }


# mutation -> (its argument types, the variables, the table a create adds a row to, an input
# field and another value for it)
MUTATIONS: dict[str, tuple[str, Callable[[Body, Partner], Body], str, tuple[str, str]]] = {
    "createCase": ("$input: CreateCaseInput!", _case, "cases", ("externalRef", "GQL-OTHER")),
    "createCaseUpdate": (
        "$caseId: UUID!, $input: CreateCaseUpdateInput!",
        _update,
        "case_updates",
        ("summary", "Other"),
    ),
    "recordConsent": (
        "$caseId: UUID!, $input: RecordConsentInput!",
        _consent,
        "consents",
        ("purpose", "other"),
    ),
    "createReferral": ("$input: CreateReferralInput!", _referral, "referrals", ("reason", "Other")),
    "createGoal": ("$caseId: UUID!, $input: CreateGoalInput!", _goal, "goals", ("title", "Other")),
    "createService": (
        "$caseId: UUID!, $input: CreateServiceInput!",
        _service,
        "service_records",
        ("type", "session"),
    ),
}


def _document(name: str, fields: str = "id") -> str:
    types = MUTATIONS[name][0]
    names = [a.split(":")[0] for a in types.split(", ")]
    arguments = ", ".join(f"{n[1:]}: {n}" for n in names)
    return (
        f"mutation ({types}, $key: String) {{ {name}({arguments}, idempotencyKey: $key) "
        f"{{ {fields} }} }}"
    )


async def _count(database: Database, table: str) -> int:
    async with database.pool.acquire() as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))


async def _setup(client: httpx.AsyncClient, lead: Partner, clinic: Partner) -> Body:
    case = await open_case(client, lead)
    await consent(client, lead, case["id"], clinic, ["medical"])
    return case


@pytest.mark.parametrize("name", list(MUTATIONS))
async def test_a_retry_returns_what_the_first_call_made(
    client: httpx.AsyncClient,
    database: Database,
    lead: Partner,
    clinic: Partner,
    name: str,
) -> None:
    case = await _setup(client, lead, clinic)
    if name in ("createGoal", "createService"):  # the clinic works on the case
        await add_member(database, uuid.UUID(case["id"]), clinic.org.id, ["medical"])
    _, make, table, (field, value) = MUTATIONS[name]
    variables = make(case, clinic)
    before = await _count(database, table)
    document = _document(name)

    first = data_of(await gql(client, lead, document, {**variables, "key": f"k-{name}"}))[name]
    # The same arguments written differently (another document, keys in another order).
    reordered = {k: dict(reversed(v.items())) if isinstance(v, dict) else v
                 for k, v in variables.items()}  # fmt: skip
    again = data_of(
        await gql(client, lead, _document(name, "id __typename"), {**reordered, "key": f"k-{name}"})
    )[name]

    assert again["id"] == first["id"]
    assert await _count(database, table) == before + 1
    # Other arguments with that key: reused, nothing made.
    other = {**variables, "input": {**variables["input"], field: value}}
    error = only_error(
        await gql(client, lead, document, {**other, "key": f"k-{name}"}), "idempotency_key_reused"
    )
    assert error["extensions"]["errors"][0]["loc"] == ["idempotencyKey"]
    assert await _count(database, table) == before + 1
    # Without a key every call makes one.
    data_of(await gql(client, lead, document, {**other, "key": None}))
    assert await _count(database, table) == before + 2


async def test_one_key_names_one_request_across_rest_and_graphql(
    client: httpx.AsyncClient, lead: Partner, clinic: Partner
) -> None:
    case = await _setup(client, lead, clinic)
    rest = await client.post(
        f"{CASES}/{case['id']}/updates",
        json={
            "kind": "note",
            "category": "general",
            "occurred_at": "2026-11-20T10:00:00Z",
            "summary": "x",
        },
        headers=lead.headers_with(**{"Idempotency-Key": "shared-key"}),
    )
    assert rest.status_code == 201, rest.text
    variables = {**_update(case, clinic), "key": "shared-key"}
    only_error(
        await gql(client, lead, _document("createCaseUpdate"), variables), "idempotency_key_reused"
    )
    made = data_of(
        await gql(client, lead, _document("createCaseUpdate"), {**variables, "key": "g"})
    )
    # ... and the other way round.
    retried = await client.post(
        f"{CASES}/{case['id']}/updates",
        json={"kind": "note", "category": "general", "occurred_at": "2026-11-20T10:00:00Z",
              "summary": "x"},
        headers=lead.headers_with(**{"Idempotency-Key": "g"}),
    )  # fmt: skip
    assert_problem(retried, 422, "idempotency_key_reused")
    assert made["createCaseUpdate"]["id"]


@pytest.mark.parametrize("key", ["", "with space", "x" * 256, "é", "k\n", "x" * 255 + "\n"])
async def test_a_malformed_key_is_refused_before_anything_is_made(
    client: httpx.AsyncClient, database: Database, lead: Partner, clinic: Partner, key: str
) -> None:
    case = await _setup(client, lead, clinic)
    before = await _count(database, "case_updates")
    variables = {**_update(case, clinic), "key": key}
    error = only_error(
        await gql(client, lead, _document("createCaseUpdate"), variables), "validation_error"
    )
    assert error["extensions"]["errors"][0]["loc"] == ["idempotencyKey"]
    assert await _count(database, "case_updates") == before


async def test_a_retry_reads_what_was_made_as_the_caller_may_see_it_now(
    client: httpx.AsyncClient, database: Database, factory: Factory, lead: Partner, clinic: Partner
) -> None:
    """Nothing is stored but the made resource's id: a retry reads it afresh (audited as that
    read), is not_found once the caller may not see the case, and after an erasure shows the
    erased text, never the text as first made."""
    case = await _setup(client, lead, clinic)
    await add_member(database, uuid.UUID(case["id"]), clinic.org.id, ["medical"])
    document = _document("createCaseUpdate", "id summary")
    variables = {**_update(case, clinic), "key": "clinic-1"}
    first = data_of(await gql(client, clinic, document, variables))["createCaseUpdate"]
    assert first["summary"] == "Wound dressing changed"
    erased = await client.delete(f"{CASES}/{case['id']}/survivor-identity", headers=lead.headers)
    assert erased.status_code == 204
    again = data_of(await gql(client, clinic, document, variables))["createCaseUpdate"]
    assert again == {"id": first["id"], "summary": "[erased]"}
    async with database.pool.acquire() as conn:  # the clinic's part in the care ends
        await conn.execute("DELETE FROM case_members WHERE org_id = $1", clinic.org.id)
    before = await _count(database, "case_updates")
    only_error(await gql(client, clinic, document, variables), "not_found")
    assert await _count(database, "case_updates") == before


async def test_a_retry_is_a_read_and_needs_the_read_scope(
    client: httpx.AsyncClient, factory: Factory, lead: Partner, clinic: Partner
) -> None:
    """What was made may have moved on (the receiver's decline reason): a token that may only
    write gets no more from a retry than from a read, insufficient_scope."""
    case = await _setup(client, lead, clinic)
    write_only = {"Authorization": f"Bearer {factory.token(lead.client, 'referrals:write')}"}
    variables = {**_referral(case, clinic), "key": "write-only"}
    document = _document("createReferral", "id statusReason")
    made = data_of(await gql(client, write_only, document, variables))["createReferral"]
    declined = await client.post(
        f"/v1/referrals/{made['id']}/decline",
        json={"reason": "No capacity this month"},
        headers=clinic.headers,
    )
    assert declined.status_code == 200, declined.text
    error = only_error(await gql(client, write_only, document, variables), "insufficient_scope")
    assert "No capacity" not in str(error)
    # With the read scope too, the retry reads the referral as it is now.
    both = {
        "Authorization": f"Bearer {factory.token(lead.client, 'referrals:write referrals:read')}"
    }
    again = data_of(await gql(client, both, document, variables))["createReferral"]
    assert again == {"id": made["id"], "statusReason": "No capacity this month"}


async def test_a_retry_after_the_deadline_reads_expired_without_storing_it(
    client: httpx.AsyncClient, database: Database, lead: Partner, clinic: Partner
) -> None:
    """A retry runs inside the mutation's transaction. It shows a referral past its deadline as
    expired but leaves the row as stored: writing it there would lock the referral before its
    case, the other way round from a transition. A REST read, outside a transaction, stores it.
    """
    case = await _setup(client, lead, clinic)
    variables = {**_referral(case, clinic), "key": "after-the-deadline"}
    document = _document("createReferral", "id status")
    made = data_of(await gql(client, lead, document, variables))["createReferral"]
    assert made["status"] == "pending"
    referral_id = uuid.UUID(made["id"])

    async def stored_status() -> str:
        async with database.pool.acquire() as conn:
            return str(
                await conn.fetchval("SELECT status FROM referrals WHERE id = $1", referral_id)
            )

    async with database.pool.acquire() as conn:
        await conn.execute(
            "UPDATE referrals SET respond_by = now() - interval '1 minute' WHERE id = $1",
            referral_id,
        )
    again = data_of(await gql(client, lead, document, variables))["createReferral"]
    assert again == {"id": made["id"], "status": "expired"}
    assert await stored_status() == "pending"
    read = await client.get(f"/v1/referrals/{made['id']}", headers=lead.headers)
    assert read.status_code == 200, read.text
    assert read.json()["status"] == "expired"
    assert await stored_status() == "expired"


async def test_arguments_json_cannot_carry_are_a_validation_error_not_a_500(
    client: httpx.AsyncClient, lead: Partner, clinic: Partner
) -> None:
    """A literal in the document can hold what no JSON body could (an integer over 64 bits in a
    JSON scalar): refused as invalid input, with a key or without, never a 500."""
    case = await _setup(client, lead, clinic)
    for key in ('"huge-1"', "null"):
        document = (
            f'mutation {{ createCaseUpdate(caseId: "{case["id"]}", idempotencyKey: {key}, '
            'input: {kind: note, category: general, occurredAt: "2026-11-20T10:00:00Z", '
            'summary: "x", details: {n: 1180591620717411303424}}) { id } }'
        )
        result = await gql(client, lead, document)
        assert [e["extensions"]["code"] for e in result["errors"]] == ["validation_error"], result
