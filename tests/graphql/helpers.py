"""Posting GraphQL operations the way a partner would."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import Partner

GRAPHQL = "/graphql"


async def gql(
    client: httpx.AsyncClient,
    who: Partner | dict[str, str] | None,
    query: str,
    variables: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Run one operation and return the body (asserting the HTTP exchange itself succeeded)."""
    headers = who.headers if isinstance(who, Partner) else (who or {})
    body: dict[str, Any] = {"query": query, **extra}
    if variables is not None:
        body["variables"] = variables
    response = await client.post(GRAPHQL, json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    result: dict[str, Any] = response.json()
    return result


def data_of(result: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in result, result["errors"]
    data: dict[str, Any] = result["data"]
    return data


def error_codes(result: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in result.get("errors", [])]


def only_error(result: dict[str, Any], code: str) -> dict[str, Any]:
    errors = result.get("errors", [])
    assert [e["extensions"]["code"] for e in errors] == [code], errors
    error: dict[str, Any] = errors[0]
    return error
