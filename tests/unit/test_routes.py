"""Endpoint kinds (app/api/routes.py) and what the OpenAPI document says of each kind."""

from __future__ import annotations

import inspect
import json
from typing import Any
from uuid import UUID

import orjson
import pytest
from starlette.responses import Response

from app.api.conditional import IfMatch, Versions
from app.api.idempotency import Created, Idempotent
from app.api.pagination import Cursor, Limit, PageOut, Paging
from app.api.routes import Routes
from app.api.schemas.common import ResponseModel
from app.domain.errors import PreconditionRequired
from app.domain.pagination import Page
from app.schema_export import OPENAPI_PATH

DOCUMENT: dict[str, Any] = json.loads(OPENAPI_PATH.read_text())
OPERATIONS = [
    (method, path, op)
    for path, item in DOCUMENT["paths"].items()
    for method, op in item.items()
    if method in ("get", "post", "put", "patch", "delete")
]


class _Thing(ResponseModel):
    name: str
    version: int

    @classmethod
    def of(cls, name: str) -> _Thing:
        return cls(name=name, version=len(name))


class _Note(ResponseModel):
    text: str

    @classmethod
    def of(cls, text: str) -> _Note:
        return cls(text=text)


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
        routes.read("", _Thing)(anonymous)


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
        # (Location, where one is sent, is checked against what the server sends:
        # tests/api/test_openapi_examples.py)
        assert "Idempotent-Replayed" in op["responses"]["201"]["headers"], path


def test_every_if_match_operation_documents_412_and_428() -> None:
    for method, path, op in OPERATIONS:
        if any(p["name"] == "If-Match" for p in op.get("parameters", [])):
            assert {"412", "428"} <= set(op["responses"]), (method, path)


async def test_a_kind_renders_what_the_endpoint_returns_with_a_versioned_models_etag() -> None:
    routes = Routes("things", prefix="/v1/things")

    @routes.read("/{name}", _Thing.of)
    async def get_thing(name: str) -> str:
        """One thing"""
        return name

    @routes.act("/{name}/note", _Note.of, status=202)
    async def note_thing(name: str) -> str:
        """Note a thing"""
        return f"noted {name}"

    read, act = routes.router.routes[-2:]
    assert read.response_model is _Thing  # type: ignore[attr-defined]
    answer = await read.endpoint(name="kite")  # type: ignore[attr-defined]
    assert answer.status_code == 200 and answer.headers["ETag"] == '"4"'
    assert orjson.loads(answer.body) == {"name": "kite", "version": 4}
    noted = await act.endpoint(name="kite")  # type: ignore[attr-defined]
    assert noted.status_code == 202 and "ETag" not in noted.headers  # no version, no tag
    assert orjson.loads(noted.body) == {"text": "noted kite"}


async def test_a_page_kind_renders_each_item() -> None:
    routes = Routes("things", prefix="/v1/things")

    asked: list[Paging] = []

    @routes.page("", _Thing.of)
    async def list_things(paging: Paging, prefix: str = "") -> Page[str]:
        """Things"""
        asked.append(paging)
        return Page(items=[prefix + "a", prefix + "bb"], next_cursor="next")

    route = routes.router.routes[-1]
    assert route.response_model is PageOut[_Thing]  # type: ignore[attr-defined]
    # The page's own query parameters, then the kind's limit and cursor.
    parameters = inspect.signature(route.endpoint).parameters  # type: ignore[attr-defined]
    assert list(parameters) == ["prefix", "limit", "cursor"]
    assert (parameters["limit"].annotation, parameters["cursor"].annotation) == (Limit, Cursor)
    answer = await route.endpoint(prefix="x", limit=2, cursor="c1")  # type: ignore[attr-defined]
    assert asked == [{"limit": 2, "cursor": "c1"}]
    assert orjson.loads(answer.body) == {
        "items": [{"name": "xa", "version": 2}, {"name": "xbb", "version": 3}],
        "next_cursor": "next",
    }

    async def unpaged() -> Page[str]:
        """Things, all of them"""
        return Page(items=[], next_cursor=None)

    with pytest.raises(TypeError, match="paging"):
        routes.page("/all", _Thing.of)(unpaged)


async def test_an_edit_takes_the_versions_if_match_accepts() -> None:
    routes = Routes("things", prefix="/v1/things")
    seen: list[Versions] = []

    @routes.edit("/{name}", _Thing.of, 409)
    async def patch_thing(name: str, expected_version: Versions) -> str:
        """Change a thing"""
        seen.append(expected_version)
        return name

    route = routes.router.routes[-1]
    parameters = inspect.signature(route.endpoint).parameters  # type: ignore[attr-defined]
    assert list(parameters) == ["name", "if_match"]
    assert parameters["if_match"].annotation == IfMatch
    assert parameters["if_match"].default is None  # missing: 428 from the kind, not 422
    await route.endpoint(name="kite", if_match='"3", "4"')  # type: ignore[attr-defined]
    await route.endpoint(name="kite", if_match="*")  # type: ignore[attr-defined]
    assert seen == [frozenset({3, 4}), None]
    with pytest.raises(PreconditionRequired):
        await route.endpoint(name="kite", if_match=None)  # type: ignore[attr-defined]
    assert seen == [frozenset({3, 4}), None]  # not called

    async def unconditional(name: str) -> str:
        """Change a thing without saying which version"""
        return name

    with pytest.raises(TypeError, match="expected_version"):
        routes.edit("/other", _Thing.of)(unconditional)


def test_a_kind_renders_only_with_a_response_models_of() -> None:
    routes = Routes("things", not_found=False)

    async def get_thing() -> str:
        """One thing"""
        return "kite"

    with pytest.raises(TypeError, match="response model"):
        routes.read("", lambda name: _Thing.of(str(name)))(get_thing)
