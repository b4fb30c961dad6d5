"""Endpoint kinds (app/api/routes.py) and what the OpenAPI document says of each kind."""

from __future__ import annotations

import inspect
import json
from typing import Any
from uuid import UUID

import pytest
from starlette.responses import Response

from app.api.idempotency import Created, Idempotent
from app.api.routes import Routes
from app.schema_export import OPENAPI_PATH

DOCUMENT: dict[str, Any] = json.loads(OPENAPI_PATH.read_text())
OPERATIONS = [
    (method, path, op)
    for path, item in DOCUMENT["paths"].items()
    for method, op in item.items()
    if method in ("get", "post", "put", "patch", "delete")
]


def test_a_kind_sets_method_status_model_and_the_docstring_as_summary() -> None:
    routes = Routes("things", prefix="/v1/things")

    @routes.act("/{thing_id}/poke", None, 409, status=202)
    async def poke(thing_id: UUID) -> Response:
        """Poke a thing, which it may
        not like"""
        return Response(status_code=202)

    route = routes.router.routes[-1]
    assert route.methods == {"POST"}  # type: ignore[attr-defined]
    assert route.path == "/v1/things/{thing_id}/poke"  # type: ignore[attr-defined]
    assert route.status_code == 202  # type: ignore[attr-defined]
    assert route.summary == "Poke a thing, which it may not like"  # type: ignore[attr-defined]
    assert set(route.responses) == {401, 403, 404, 409, 422}  # type: ignore[attr-defined]


def test_a_create_is_made_idempotent_by_its_kind() -> None:
    routes = Routes("things", prefix="/v1/things")

    @routes.create("", None)
    async def create_thing(name: str, ctx: object) -> Created:
        """Make a thing"""
        raise AssertionError("not called here")

    route = routes.router.routes[-1]
    assert route.name == "create_thing"  # type: ignore[attr-defined]
    assert route.status_code == 201  # type: ignore[attr-defined]
    assert 409 in route.responses  # type: ignore[attr-defined]
    parameters = inspect.signature(route.endpoint).parameters  # type: ignore[attr-defined]
    assert list(parameters) == ["name", "ctx", "idem"]
    assert parameters["idem"].annotation is Idempotent

    async def no_context(name: str) -> Created:
        """Make a thing without knowing who asks"""
        raise AssertionError("not called here")

    with pytest.raises(TypeError, match="ctx"):
        routes.create("/other", None)(no_context)


def test_an_endpoint_without_a_docstring_is_refused() -> None:
    routes = Routes("things", not_found=False)

    async def anonymous() -> Response:
        return Response()

    with pytest.raises(TypeError, match="docstring"):
        routes.read("", None)(anonymous)


def test_every_operation_has_a_summary_and_no_repeated_description() -> None:
    for method, path, op in OPERATIONS:
        assert op.get("summary"), (method, path)
        assert op.get("description") != op["summary"], (method, path)


def test_every_idempotent_create_documents_its_409() -> None:
    creates = [
        (method, path, op)
        for method, path, op in OPERATIONS
        if any(p["name"] == "Idempotency-Key" for p in op.get("parameters", []))
    ]
    assert len(creates) >= 11
    for method, path, op in creates:
        assert method == "post" and "201" in op["responses"], path
        assert "idempotency_in_flight" in op["responses"]["409"]["description"], path
        assert {"Location", "Idempotent-Replayed"} <= set(op["responses"]["201"]["headers"]), path


def test_every_if_match_operation_documents_412_and_428() -> None:
    for method, path, op in OPERATIONS:
        if any(p["name"] == "If-Match" for p in op.get("parameters", [])):
            assert {"412", "428"} <= set(op["responses"]), (method, path)
