"""The committed OpenAPI document's conventions (app.api.openapi): named operations, one Problem,
security, headers and status codes."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from app.api.openapi import NO_LOCATION, OPERATION_IDS, RULES
from app.schema_export import OPENAPI_PATH

DOC: dict[str, Any] = orjson.loads(OPENAPI_PATH.read_bytes())
OPERATIONS = [
    (path, method, op) for path, item in DOC["paths"].items() for method, op in item.items()
]


def test_every_operation_has_a_unique_camel_case_verb_id() -> None:
    ids = [op["operationId"] for _, _, op in OPERATIONS]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(OPERATION_IDS.values())
    verbs = ("get", "list", "create", "update", "replace", "delete", "accept", "decline", "start")
    for op_id in ids:
        assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)+", op_id), op_id
    assert {i for i in ids if i.startswith(verbs)}
    assert set(RULES) <= set(ids)


def test_errors_reference_the_one_problem_schema() -> None:
    assert "HTTPValidationError" not in DOC["components"]["schemas"]
    for path, method, op in OPERATIONS:
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            content = response["content"]
            if path.startswith("/oauth/") and "application/json" in content:
                assert content["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/OAuthError"
                }
            else:
                assert content == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, (method, path, status)


def test_security_public_routes_and_client_authentication() -> None:
    assert "security" not in DOC  # each operation says
    schemes = DOC["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["clientBasic"]["scheme"] == "basic"
    for path, _, op in OPERATIONS:
        if path in ("/healthz", "/readyz", "/metrics") or path.startswith("/.well-known/"):
            assert op["security"] == []
        elif path.startswith("/oauth/"):
            assert op["security"] == [{"clientBasic": []}, {}]
        else:
            # A bearer token from the client credentials grant, with the scopes it needs.
            assert op["security"] in ([{"bearerAuth": []}], op["security"])
            (scheme,) = op["security"][0]
            assert scheme in ("bearerAuth", "OAuth2ClientCredentials")


@pytest.mark.parametrize(("path", "method"), [(p, m) for p, m, _ in OPERATIONS])
def test_headers_and_status_codes(path: str, method: str) -> None:
    op = DOC["paths"][path][method]
    responses = op["responses"]
    for status, response in responses.items():
        assert "X-Request-ID" in response["headers"]
        if status in ("429", "503"):
            assert "Retry-After" in response["headers"]
        if status == "401":
            assert "WWW-Authenticate" in response["headers"]
        if status == "201":
            assert "Idempotent-Replayed" in response["headers"]
            # Location where the server sends one (a GET of the made resource exists).
            assert ("Location" in response["headers"]) is (op["operationId"] not in NO_LOCATION)
    if path.startswith("/v1/"):
        assert {"401", "403", "429", "503"} <= set(responses)
    if "requestBody" in op and path.startswith("/oauth/"):
        # RFC 6749 errors only: an unreadable form is 400 invalid_request, never 415 or 422
        assert {"400", "413"} <= set(responses) and not {"415", "422"} & set(responses)
        for status in ("400", "401", "413", "429"):
            assert "application/json" in responses[status]["content"], status
    elif "requestBody" in op:
        assert {"400", "413", "415", "422"} <= set(responses)
    for param in op.get("parameters", []):
        assert {"type": "null"} not in param["schema"].get("anyOf", [])
        if param["name"] == "If-Match":
            assert param["required"] is (method != "delete")
            assert {"412", "428"} <= set(responses)
    if method == "get" and "ETag" in responses["200"]["headers"]:
        assert "304" in responses
        assert any(p["name"] == "If-None-Match" for p in op["parameters"])


def test_info_servers_examples_and_links() -> None:
    assert DOC["info"]["license"]["name"]
    assert DOC["info"]["contact"]["email"]
    assert DOC["servers"]
    create_case = DOC["paths"]["/v1/cases"]["post"]
    assert create_case["requestBody"]["content"]["application/json"]["example"]
    links = create_case["responses"]["201"]["links"]
    assert links["getCase"] == {
        "operationId": "getCase",
        "parameters": {"case_id": "$response.body#/id"},
    }
