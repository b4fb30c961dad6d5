"""Domain validation errors name the field inside the input, without an HTTP root; REST and
GraphQL each put it under their own root (``where`` says which part of a request it is)."""

from __future__ import annotations

import inspect
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from graphql import GraphQLError
from starlette.requests import Request

from app.api.graphql.errors import shape_error
from app.api.problems import install_problem_handlers
from app.domain.errors import DomainError, ValidationFailed
from app.domain.pagination import decode_cursor


async def _rest_errors(exc: DomainError) -> list[dict[str, Any]]:
    app = FastAPI()
    install_problem_handlers(app)
    handler = app.exception_handlers[DomainError]
    response = handler(Request({"type": "http", "method": "POST", "headers": []}), exc)
    if inspect.isawaitable(response):
        response = await response
    errors: list[dict[str, Any]] = orjson.loads(response.body)["errors"]
    return errors


def _graphql_locs(exc: DomainError) -> list[Any]:
    shaped = shape_error(GraphQLError("x", original_error=exc))
    assert shaped.extensions is not None
    return [e["loc"] for e in shaped.extensions["errors"]]


async def test_domain_validation_errors_carry_no_http_root() -> None:
    exc = ValidationFailed("No such organization", loc=["to_org_id"])
    assert exc.where == "body"
    assert exc.extra["errors"] == [
        {"type": "value_error", "loc": ["to_org_id"], "msg": "No such organization"}
    ]
    assert await _rest_errors(exc) == [
        {"loc": ["body", "to_org_id"], "msg": "No such organization", "type": "value_error"}
    ]
    assert _graphql_locs(exc) == [["input", "toOrgId"]]


@pytest.mark.parametrize(
    ("where", "loc", "rest", "graphql"),
    [
        ("path", ["placement_id"], ["path", "placement_id"], ["path", "placement_id"]),
        ("header", ["Idempotency-Key"], ["header", "Idempotency-Key"], None),
        (None, ["first"], ["first"], ["first"]),
    ],
)
async def test_where_names_the_root(
    where: Any, loc: list[str], rest: list[str], graphql: list[str] | None
) -> None:
    exc = ValidationFailed("bad", loc=loc, where=where)
    assert [e["loc"] for e in await _rest_errors(exc)] == [rest]
    if graphql is not None:
        assert _graphql_locs(exc) == [graphql]


async def test_a_bad_cursor_is_the_querys() -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor("nonsense", "cases", (str,))
    assert [e["loc"] for e in await _rest_errors(caught.value)] == [["query", "cursor"]]
    assert _graphql_locs(caught.value) == [["after"]]
