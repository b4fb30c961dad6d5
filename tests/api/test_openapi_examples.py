"""The request examples of ``openapi/openapi.json`` are true (app.api.openapi.REQUEST_EXAMPLES):
every request body has one, each is accepted by its operation's request model, and posted in turn
through the app (one case's journey, with the ids of what was made before) each is answered with
its documented success, carrying exactly the headers the document lists for that answer."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import orjson
import pytest
from fastapi.params import Form
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from app.api.openapi import REQUEST_EXAMPLES, operation_id
from app.api.schemas.oauth import TokenOut
from app.main import create_app
from app.schema_export import OPENAPI_PATH
from app.settings import Settings
from tests.factories import Factory, Partner
from tests.helpers import api_routes

DOC: dict[str, Any] = orjson.loads(OPENAPI_PATH.read_bytes())
OPERATIONS: dict[str, tuple[str, str, dict[str, Any]]] = {
    op["operationId"]: (path, method, op)
    for path, item in DOC["paths"].items()
    for method, op in item.items()
}
WITH_BODY = sorted(i for i, (_, _, op) in OPERATIONS.items() if "requestBody" in op)
# Headers of any HTTP answer, which the document does not list.
TRANSPORT_HEADERS = frozenset({"content-type", "content-length"})


def the_example(op_id: str) -> tuple[str, Any]:
    """The committed document's example of the operation's body, and its media type."""
    ((media, content),) = OPERATIONS[op_id][2]["requestBody"]["content"].items()
    return media, copy.deepcopy(content["example"])


@pytest.fixture(scope="module")
def routes() -> dict[str, APIRoute]:
    """The app's routes by operation id (built as app.schema_export builds the document)."""
    from app.domain.keys import KeyRing

    class _NoKeys(KeyRing):
        def __init__(self) -> None:
            pass

    app = create_app(
        Settings(database_url="postgresql://unused/unused"), keyring=_NoKeys(), configure_logs=False
    )
    return {operation_id(route): route for route in api_routes(app.routes)}


def test_every_request_body_has_an_example() -> None:
    assert sorted(REQUEST_EXAMPLES) == WITH_BODY
    for op_id in WITH_BODY:
        assert the_example(op_id)[1] == REQUEST_EXAMPLES[op_id], op_id


@pytest.mark.parametrize("op_id", WITH_BODY)
def test_each_example_is_accepted_by_its_request_model(
    op_id: str, routes: dict[str, APIRoute]
) -> None:
    """Validated as the app validates a body: JSON in pydantic's strict JSON mode
    (app.api.json_body); form fields against the form parameters the endpoint declares."""
    media, example = the_example(op_id)
    field = routes[op_id].body_field
    assert field is not None, op_id
    model = field.field_info.annotation
    assert model is not None, op_id
    if media == "application/json":
        assert not isinstance(field.field_info, Form)
        adapter: TypeAdapter[Any] = TypeAdapter(model)
        adapter.validate_json(orjson.dumps(example), strict=True)
    else:
        assert media == "application/x-www-form-urlencoded"
        assert set(example) <= set(model.model_fields), op_id
        assert all(isinstance(value, str) and value for value in example.values()), op_id


# -- posted through the app -----------------------------------------------------------------------
async def _public_address(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]  # the example's webhook host, resolved without the network


class Journey:
    """Posts the examples, checking each answer against the document."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.posted: set[str] = set()

    async def post(
        self,
        op_id: str,
        auth: Partner | tuple[str, str],
        path: dict[str, str] | None = None,
        ids: dict[str, str] | None = None,
        if_match: str | None = None,
    ) -> httpx.Response:
        """Send ``op_id``'s example, its fields named in ``ids`` replaced by real ids (each must
        be in the example), to the path with ``path`` filled in."""
        template, method, op = OPERATIONS[op_id]
        media, body = the_example(op_id)
        for name, value in (ids or {}).items():
            assert name in body, (op_id, name)
            body[name] = value
        headers = auth.headers if isinstance(auth, Partner) else {}
        if if_match is not None:
            headers = {**headers, "If-Match": if_match}
        sent = {"json": body} if media == "application/json" else {"data": body}
        response = await self.client.request(
            method.upper(),
            template.format(**(path or {})),
            headers=headers,
            auth=auth if isinstance(auth, tuple) else None,
            **sent,
        )
        status = str(response.status_code)
        assert status.startswith("2") and status in op["responses"], (op_id, response.text)
        self.headers_as_documented(op_id, response, op["responses"][status])
        if "location" in response.headers and isinstance(auth, Partner):
            await self.read(response.headers["location"], auth)  # what was made is read there
        self.posted.add(op_id)
        return response

    async def read(self, url: str, partner: Partner) -> httpx.Response:
        response = await self.client.get(url, headers=partner.headers)
        assert response.status_code == 200, (url, response.text)
        return response

    @staticmethod
    def headers_as_documented(label: str, response: httpx.Response, documented: Any) -> None:
        """The answer sends every header the document lists for it (but those of a replay) and
        no other."""
        listed = {name.lower() for name in documented.get("headers", {})}
        sent = set(response.headers.keys()) - TRANSPORT_HEADERS
        assert sent <= listed, (label, response.status_code, sorted(sent - listed))
        assert listed - {"idempotent-replayed"} <= sent, (label, sorted(listed - sent))


async def test_every_example_is_answered_as_documented(
    client: httpx.AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.domain.webhook_delivery.system_resolver", _public_address)
    lead = await factory.partner(name="Harbor Light Shelter (example)")
    receiver = await factory.partner(name="Riverside Women's Shelter (example)")
    family = await factory.organization(
        name="Hillside Host Families (example)", kind="community_care"
    )
    journey = Journey(client)

    # The token endpoints (the client authenticates with HTTP Basic, as the document shows).
    basic = (lead.client.client_id, lead.secret)
    issued = await journey.post("createToken", basic)
    assert TokenOut.model_validate(issued.json()).scope == "cases:read referrals:write"
    assert set(issued.json()) == set(TokenOut.model_fields)
    token = {"token": issued.json()["access_token"]}
    introspected = await journey.post("introspectToken", basic, ids=token)
    assert introspected.json()["active"] is True
    await journey.post("revokeToken", basic, ids=token)

    me = await journey.read("/v1/organizations/me", lead)
    await journey.post("updateMyOrganization", lead, if_match=me.headers["etag"])

    # A case, and what is recorded in it.
    opened = await journey.post("createCase", lead)
    case_id = opened.json()["id"]
    in_case = {"case_id": case_id}
    read = await journey.read(opened.headers["location"], lead)
    not_modified = await client.get(
        opened.headers["location"],
        headers=lead.headers_with(**{"If-None-Match": read.headers["etag"]}),
    )
    assert not_modified.status_code == 304
    Journey.headers_as_documented(
        "getCase", not_modified, OPERATIONS["getCase"][2]["responses"]["304"]
    )
    await journey.post("updateCase", lead, in_case, if_match=opened.headers["etag"])
    granted = await journey.post(
        "createConsent", lead, in_case, ids={"recipient_org_id": str(receiver.org.id)}
    )
    await journey.post("createUpdate", lead, in_case)
    legal = await journey.read(f"/v1/cases/{case_id}/legal", lead)
    await journey.post("replaceLegal", lead, in_case, if_match=legal.headers["etag"])

    # Placement: the home review approves the family that takes her; a visit; the exit.
    review = await journey.post("createHomeReview", lead, in_case)
    placed = await journey.post(
        "createPlacement",
        lead,
        in_case,
        ids={"org_id": str(family.id), "home_review_id": review.json()["id"]},
    )
    placement = {**in_case, "placement_id": placed.json()["id"]}
    await journey.post("createVisit", lead, placement)
    await journey.post("endPlacement", lead, placement)
    follow_up = await journey.post("scheduleFollowUp", lead, in_case)
    await journey.post("recordFollowUp", lead, {**in_case, "follow_up_id": follow_up.json()["id"]})

    # Care plan.
    lead_org = str(lead.org.id)
    goal = await journey.post("createGoal", lead, in_case, ids={"owner_org_id": lead_org})
    await journey.post("recordGoalProgress", lead, {**in_case, "goal_id": goal.json()["id"]})
    service = await journey.post(
        "createService",
        lead,
        in_case,
        ids={"provider_org_id": lead_org, "goal_id": goal.json()["id"]},
    )
    await journey.post(
        "updateService",
        lead,
        {**in_case, "service_id": service.json()["id"]},
        if_match=service.headers["etag"],
    )

    # Referrals, one for each way a referral ends.
    async def refer() -> dict[str, str]:
        made = await journey.post(
            "createReferral", lead, ids={"case_id": case_id, "to_org_id": str(receiver.org.id)}
        )
        return {"referral_id": made.json()["id"]}

    await journey.post("declineReferral", receiver, await refer())
    await journey.post("withdrawReferral", lead, await refer())
    for ending in ("failReferral", "completeReferral"):
        referral = await refer()
        for step in ("acceptReferral", "startReferral", ending):
            await journey.post(step, receiver, referral)

    await journey.post("revokeConsent", lead, {**in_case, "consent_id": granted.json()["id"]})
    await journey.post("closeCase", lead, in_case)

    hook = await journey.post("createWebhook", lead)
    await journey.post(
        "updateWebhook", lead, {"webhook_id": hook.json()["id"]}, if_match=hook.headers["etag"]
    )

    assert sorted(journey.posted) == WITH_BODY
