"""/graphql over HTTP: tokens as REST checks them, scope and domain errors with REST's codes,
masked surprises, one operation per POST, and the unit of work."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from app.db.errors import DatabaseUnavailable
from app.domain.cases import CaseService
from tests.conftest import LOG_STREAM
from tests.factories import PLANTED, Factory, Partner
from tests.graphql.helpers import GRAPHQL, data_of, gql, only_error
from tests.helpers import assert_problem, assert_unauthorized, open_case

CREATE = "mutation ($input: CreateCaseInput!) { createCase(input: $input) { id } }"


# Overrides the shared `lead`: its name is asserted below.
@pytest.fixture
async def lead(factory: Factory) -> Partner:
    return await factory.partner(name="Transport Lead")


class TestAuthentication:
    async def test_anonymous_is_401_before_anything_runs(self, client: httpx.AsyncClient) -> None:
        response = await client.post(GRAPHQL, json={"query": "{ me { id } }"})
        assert_unauthorized(response)

    async def test_anonymous_with_a_broken_body_is_still_401(
        self, client: httpx.AsyncClient
    ) -> None:
        assert_unauthorized(await client.post(GRAPHQL, content=b"[not json"))

    @pytest.mark.parametrize("authorization", ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer "])
    async def test_bad_token_is_401(self, client: httpx.AsyncClient, authorization: str) -> None:
        response = await client.post(
            GRAPHQL, json={"query": "{ me { id } }"}, headers={"Authorization": authorization}
        )
        assert_unauthorized(response)

    async def test_revoked_token_is_401(self, client: httpx.AsyncClient, lead: Partner) -> None:
        revoke = await client.post(
            "/oauth/revoke",
            data={"token": lead.token},
            auth=(lead.client.client_id, lead.secret),
        )
        assert revoke.status_code == 200
        assert_unauthorized(
            await client.post(GRAPHQL, json={"query": "{ me { id } }"}, headers=lead.headers)
        )


class TestScopes:
    async def test_missing_scope_nulls_the_field_with_insufficient_scope(
        self, client: httpx.AsyncClient, factory: Factory
    ) -> None:
        reader = await factory.partner(scopes=["cases:read"])
        result = await gql(client, reader, "{ me { id } referrals { edges { node { id } } } }")
        assert result["data"]["me"]["id"] == str(reader.org.id)
        assert result["data"]["referrals"] is None
        error = only_error(result, "insufficient_scope")
        assert error["path"] == ["referrals"]
        assert error["extensions"]["requiredScopes"] == ["referrals:read"]

    async def test_nested_field_scope(
        self, client: httpx.AsyncClient, factory: Factory, lead: Partner
    ) -> None:
        case = await open_case(client, lead)
        token = factory.token(lead.client, "cases:read")
        result = await gql(
            client,
            {"Authorization": f"Bearer {token}"},
            "query ($id: UUID!) { case(id: $id) { id referrals { edges { node { id } } } } }",
            {"id": case["id"]},
        )
        assert result["data"]["case"] == {"id": case["id"], "referrals": None}
        assert only_error(result, "insufficient_scope")["path"] == ["case", "referrals"]

    async def test_missing_scope_on_a_mutation_changes_nothing(
        self, client: httpx.AsyncClient, factory: Factory, lead: Partner
    ) -> None:
        token = factory.token(lead.client, "cases:read")
        result = await gql(
            client,
            {"Authorization": f"Bearer {token}"},
            'mutation { createCase(input: {externalRef: "X-1", survivor: {gender: female, '
            "estimatedBirthYear: 1990}}) { id } }",
        )
        assert result["data"]["createCase"] is None
        assert only_error(result, "insufficient_scope")["extensions"]["requiredScopes"] == [
            "cases:write"
        ]
        listed = data_of(await gql(client, lead, "{ cases { edges { node { id } } } }"))
        assert listed["cases"]["edges"] == []


class TestNotFound:
    async def test_missing_and_invisible_objects_are_the_same_not_found(
        self, client: httpx.AsyncClient, factory: Factory, lead: Partner
    ) -> None:
        case = await open_case(client, lead)
        stranger = await factory.partner(name="Transport Stranger")
        query = "query ($id: UUID!) { case(id: $id) { id } }"
        answers = []
        for who, case_id in ((lead, str(uuid.uuid4())), (stranger, case["id"])):
            result = await gql(client, who, query, {"id": case_id})
            assert result["data"] == {"case": None}
            error = only_error(result, "not_found")
            assert error["path"] == ["case"]
            answers.append(error["message"])
        assert answers[0] == answers[1]

    async def test_unknown_organization_and_referral(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        missing = str(uuid.uuid4())
        result = await gql(
            client,
            lead,
            "query ($id: UUID!) { organization(id: $id) { id } referral(id: $id) { id } }",
            {"id": missing},
        )
        assert result["data"] == {"organization": None, "referral": None}
        assert sorted(e["extensions"]["code"] for e in result["errors"]) == [
            "not_found",
            "not_found",
        ]


class TestErrors:
    async def test_unexpected_errors_are_masked_and_logged_by_type_only(
        self,
        client: httpx.AsyncClient,
        lead: Partner,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        case = await open_case(client, lead)

        async def explode(self: Any, case_id: Any) -> Any:
            raise RuntimeError("Planted-Givenname-Xq7 leaked in a message")

        monkeypatch.setattr(CaseService, "get", explode)
        LOG_STREAM.seek(0, 2)
        start = LOG_STREAM.tell()
        query = "query ($id: UUID!) { me { id } case(id: $id) { id } }"
        result = await gql(client, lead, query, {"id": case["id"]})
        assert result["data"]["me"]["id"] == str(lead.org.id)
        error = only_error(result, "internal_error")
        assert error["message"] == "Unexpected error"
        assert "Planted" not in json.dumps(result)
        LOG_STREAM.seek(start)
        logged = LOG_STREAM.read()
        assert "RuntimeError" in logged and "unhandled_error" in logged
        assert "Planted" not in logged and "Traceback" not in logged

    @pytest.mark.parametrize(
        ("query", "variables"),
        [
            ('{ case(id: "Planted-Givenname-Xq7") { id } }', None),
            ("query ($id: UUID!) { case(id: $id) { id } }", {"id": "Planted-Givenname-Xq7"}),
            (CREATE, {"input": {"externalRef": "x", "survivor": {"givenName": PLANTED[0]}}}),
            (CREATE, {"input": {"externalRef": "x", "survivor": {"gender": PLANTED[0]}}}),
            (
                CREATE,
                {
                    "input": {
                        "externalRef": "x",
                        "survivor": {"gender": "female", "dateOfBirth": PLANTED[0]},
                    }
                },
            ),
            (CREATE, {"input": {"externalRef": 5, "survivor": {"gender": "female"}}}),
            (
                'mutation { createCase(input: {externalRef: "x", survivor: {gender: Planted}}) '
                "{ id } }",
                None,
            ),
            ('{ cases(first: "Planted-Givenname-Xq7") { edges { cursor } } }', None),
            ('{ cases(updatedSince: "Planted-Givenname-Xq7") { edges { cursor } } }', None),
            ('{ case(id: "x") Planted-Givenname-Xq7 }', None),
        ],
    )
    async def test_document_errors_do_not_repeat_rejected_values(
        self,
        client: httpx.AsyncClient,
        lead: Partner,
        query: str,
        variables: dict[str, Any] | None,
    ) -> None:
        result = await gql(client, lead, query, variables)
        assert result.get("data") is None
        assert {e["extensions"]["code"] for e in result["errors"]} == {"validation_error"}
        assert "Planted" not in json.dumps(result), result
        assert "5" not in result["errors"][0]["message"].split(":")[-1]

    async def test_bad_page_arguments_are_validation_errors(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        for args, loc in (
            ("first: 101", ["first"]),
            ("first: 0", ["first"]),
            ('after: "x"', ["after"]),
        ):
            result = await gql(client, lead, "{ cases(" + args + ") { edges { cursor } } }")
            assert result["data"] == {"cases": None}
            error = only_error(result, "validation_error")
            assert error["extensions"]["errors"][0]["loc"] == loc


class TestHTTP:
    async def test_batches_are_refused(self, client: httpx.AsyncClient, lead: Partner) -> None:
        response = await client.post(
            GRAPHQL,
            json=[{"query": "{ me { id } }"}, {"query": "{ me { name } }"}],
            headers=lead.headers,
        )
        assert_problem(response, 400, "bad_request")
        assert "Batching" in response.json()["detail"]

    async def test_body_must_be_a_json_operation(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        assert_problem(
            await client.post(GRAPHQL, content=b"{ me { id } }", headers=lead.headers),
            415,
            "unsupported_media_type",
        )
        json_headers = lead.headers_with(**{"Content-Type": "application/json"})
        for body in (
            b"{",
            b'"query"',
            b'{"query": 1}',
            b'{"query": "{ me { id } }", "variables": []}',
        ):
            assert_problem(
                await client.post(GRAPHQL, content=body, headers=json_headers), 400, "bad_request"
            )

    async def test_queries_over_get_are_not_served(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        response = await client.get(
            GRAPHQL,
            params={"query": "{ me { id } }"},
            headers=lead.headers_with(Accept="application/json"),
        )
        assert_problem(response, 405, "method_not_allowed")
        assert response.headers["allow"] == "POST"

    async def test_subscriptions_are_not_supported(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        response = await client.post(
            GRAPHQL, json={"query": "subscription { me { id } }"}, headers=lead.headers
        )
        assert_problem(response, 400, "bad_request")

    async def test_several_operations_without_operation_name_is_400(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        """The first operation used to run silently; the GraphQL spec makes it a request
        error (refused with 400 like a document without an operation to run)."""
        document = "query A { me { id } } query B { me { name } } mutation C { __typename }"
        response = await client.post(GRAPHQL, json={"query": document}, headers=lead.headers)
        body = assert_problem(response, 400, "bad_request")
        assert "operationName" in body["detail"]
        anonymous_too = "{ me { id } } query B { me { name } }"
        response = await client.post(GRAPHQL, json={"query": anonymous_too}, headers=lead.headers)
        assert_problem(response, 400, "bad_request")
        named = data_of(await gql(client, lead, document, operationName="B"))
        assert named == {"me": {"name": "Transport Lead"}}
        response = await client.post(
            GRAPHQL, json={"query": document, "operationName": "D"}, headers=lead.headers
        )
        assert_problem(response, 400, "bad_request")

    async def test_database_unavailable_in_graphql_carries_retry_after(
        self, client: httpx.AsyncClient, lead: Partner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """As REST's 503: the database went away after the token was checked."""

        async def unavailable(self: Any, **kw: Any) -> Any:
            raise DatabaseUnavailable

        monkeypatch.setattr(CaseService, "list", unavailable)
        response = await client.post(
            GRAPHQL,
            json={"query": "{ me { id } cases { edges { cursor } } }"},
            headers=lead.headers,
        )
        assert response.status_code == 200
        assert only_error(response.json(), "service_unavailable")["path"] == ["cases"]
        assert response.headers["retry-after"] == "1"
        fine = await client.post(GRAPHQL, json={"query": "{ me { id } }"}, headers=lead.headers)
        assert "retry-after" not in fine.headers

    async def test_sibling_fields_share_one_unit_of_work(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        """Root fields resolve concurrently on one connection; statements take turns."""
        case = await open_case(client, lead)
        aliases = " ".join(
            f'c{i}: case(id: "{case["id"]}") {{ id updates {{ edges {{ cursor }} }} }}'
            for i in range(6)
        )
        data = data_of(await gql(client, lead, "{ me { id } " + aliases + " }"))
        assert all(data[f"c{i}"]["id"] == case["id"] for i in range(6))

    async def test_responses_carry_the_request_id(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        response = await client.post(
            GRAPHQL,
            json={"query": "{ me { id } }"},
            headers=lead.headers_with(**{"X-Request-ID": "partner-req-0001"}),
        )
        assert response.headers["x-request-id"] == "partner-req-0001"
        assert not any(p in response.text for p in PLANTED)
