"""The transition routes and mutations are declared from the state machine's table: one REST
route and one GraphQL mutation per row, with the row's note validated alike on both."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from app.api.graphql.schema import schema_sdl
from app.domain.referral_rules import TRANSITIONS, Party, Transition
from app.schema_export import render_openapi
from tests.api.test_referrals import REF, act, refer
from tests.factories import Factory
from tests.graphql.helpers import gql, only_error
from tests.helpers import assert_problem, open_case

NOTED = [t for t in TRANSITIONS.values() if t.note is not None]


def _id(rule: Transition) -> str:
    return rule.action.value


@pytest.fixture(scope="module")
def documents() -> tuple[dict[str, Any], str]:
    return orjson.loads(render_openapi()), schema_sdl()


@pytest.mark.parametrize("rule", TRANSITIONS.values(), ids=_id)
def test_every_transition_has_a_route_and_a_mutation(
    documents: tuple[dict[str, Any], str], rule: Transition
) -> None:
    openapi, sdl = documents
    action = rule.action.value
    operation = openapi["paths"][f"{REF}/{{referral_id}}/{action}"]["post"]
    assert operation["summary"] == rule.summary
    assert operation["operationId"] == f"{action}Referral"
    assert operation["security"] == [
        {"OAuth2ClientCredentials": ["referrals:write"]},
        {"bearerAuth": []},
    ]
    assert operation["requestBody"].get("required", False) is (rule.note is not None)

    note = f", {rule.note.value}: String!" if rule.note is not None else ""
    if rule.code is not None:  # the coded reason or outcome: optional, its default when null
        kind = "ReasonCode" if rule.code.value == "reason_code" else "OutcomeCode"
        camel = "reasonCode" if rule.code.value == "reason_code" else "outcomeCode"
        note += f", {camel}: {kind} = null"
    assert f"  {action}Referral(id: UUID!{note}): Referral\n" in sdl
    assert f"{rule.description} Needs scope `referrals:write`." in sdl


@pytest.mark.parametrize("rule", NOTED, ids=_id)
async def test_an_empty_note_is_a_validation_error_over_rest_and_graphql(
    client: httpx.AsyncClient, factory: Factory, rule: Transition
) -> None:
    lead = await factory.partner(name="Table Shelter", services=["shelter"])
    clinic = await factory.partner(
        name="Table Clinic", kind="medical_provider", services=["medical"]
    )
    case = await open_case(client, lead)
    referral = await refer(client, lead, case, clinic, shared_categories=["demographics"])
    who = lead if rule.party is Party.SENDER else clinic
    assert rule.note is not None
    note = rule.note.value

    response = await act(client, who, referral, rule.action.value, **{note: ""})
    problem = assert_problem(response, 422, "validation_error")
    assert [e["loc"] for e in problem["errors"]] == [["body", note]]

    document = (
        f'mutation ($id: UUID!) {{ {rule.action.value}Referral(id: $id, {note}: "") {{ id }} }}'
    )
    result = await gql(client, who, document, {"id": referral["id"]})
    error = only_error(result, "validation_error")
    assert error["extensions"]["errors"][0]["loc"] == [note]

    unchanged = await client.get(f"{REF}/{referral['id']}", headers=lead.headers)
    assert unchanged.json()["status"] == "pending"
