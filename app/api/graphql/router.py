"""``/graphql`` over HTTP: authentication, the unit of work, and the development IDE.

- ``POST /graphql`` (``application/json``, one operation per request): the bearer token is
  verified exactly as for REST (``app.api.deps.request_context``) before anything is parsed or
  executed; a missing or bad token is REST's 401 with ``WWW-Authenticate``. Batches (a JSON
  array), documents without an operation to run, and documents with several operations but no
  ``operationName`` are refused with 400. Executed operations answer 200 with ``data`` and
  ``errors``; when an error says the database is unavailable, with ``Retry-After`` as REST's 503.
- A response over the cap (``limits.py``) is one ``query_too_costly`` error instead, and a
  mutation's writes are rolled back: the client can ask for less and try again.
- Queries over ``GET`` are not served: ``GET /graphql`` is the GraphiQL IDE in development (its
  assets come from ``static/``, never a CDN) and 405 otherwise; ``/graphql/ide/*`` exists only
  in development.
- The unit of work is one session per request: reads run in autocommit (as REST ``GET``s do); a
  mutation begins the transaction and runs in a savepoint of it, so a failed mutation rolls back
  alone. Everything is committed before the response is sent; an exception rolls back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import FileResponse, HTMLResponse, Response
from strawberry.exceptions import MissingQueryError
from strawberry.http import process_result
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from app.api import json_body
from app.api.context import AppContext
from app.api.deps import LeanDependency, UnitOfWork, bearer_token_of, request_context
from app.api.graphql.context import build_context
from app.api.graphql.limits import (
    QUERY_TOO_COSTLY,
    AmbiguousOperation,
    Limits,
    response_too_large,
)
from app.api.graphql.schema import build_schema
from app.api.lean import LeanRoute, reads_its_own_query
from app.api.problems import problem_response
from app.db.database import Session
from app.db.serialized import SerializedSession
from app.domain.context import RequestContext
from app.settings import Settings

PATH = "/graphql"
STATIC = Path(__file__).parent / "static"
IDE_ASSETS = {
    "graphiql.min.js": "text/javascript",
    "graphiql.min.css": "text/css",
    "react.production.min.js": "text/javascript",
    "react-dom.production.min.js": "text/javascript",
    "ide.js": "text/javascript",
}
IDE_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_OPERATIONS = (OperationType.QUERY, OperationType.MUTATION)
RETRY_AFTER = {"Retry-After": "1"}  # as REST's 503 (app/api/problems.py)
T = TypeVar("T")


def _open_session(request: Request) -> SerializedSession:
    app: AppContext = request.app.state.ctx
    return SerializedSession(app.db, transactional=False)


_unit_of_work = UnitOfWork(_open_session)
_unit_of_work_cm = asynccontextmanager(_unit_of_work.__call__)


class _Caller(LeanDependency):
    """The request's unit of work and context in one flat dependency (as REST's
    ``require_scopes``): no sub-dependencies for FastAPI to resolve on every request, and
    runnable on the lean path (``app.api.lean``)."""

    async def __call__(
        self, request: Request
    ) -> AsyncIterator[tuple[RequestContext, SerializedSession]]:
        token = bearer_token_of(request)
        async with _unit_of_work_cm(request) as session:
            assert isinstance(session, SerializedSession)  # what _open_session opens
            yield await request_context(request, session, token), session

    async def run(self, request: Request, endpoint: Callable[[Any], Awaitable[T]]) -> T:
        token = bearer_token_of(request)

        async def work(session: Session) -> T:
            assert isinstance(session, SerializedSession)  # what _open_session opens
            return await endpoint((await request_context(request, session, token), session))

        return await _unit_of_work.run(request, work)


Caller = Annotated[tuple[RequestContext, SerializedSession], Depends(_Caller(), scope="function")]


@dataclass(frozen=True, slots=True)
class _Operation:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None


def _bad_request(detail: str) -> Response:
    return problem_response(400, "bad_request", title="Bad GraphQL request", detail=detail)


async def _operation(request: Request) -> _Operation | Response:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        return problem_response(
            415, "unsupported_media_type", detail="Send the operation as application/json"
        )
    try:
        data = json_body.loads(await request.body())  # strict: no NaN, no duplicate keys
    except json_body.InvalidJSON:
        return _bad_request("The body is not valid JSON")
    if isinstance(data, list):
        return _bad_request("Batching is not supported: send one operation per request")
    if not isinstance(data, dict):
        return _bad_request("The body must be a JSON object with `query`")
    query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
    if not isinstance(query, str):
        return _bad_request("`query` must be a string")
    if variables is not None and not isinstance(variables, dict):
        return _bad_request("`variables` must be an object")
    if name is not None and not isinstance(name, str):
        return _bad_request("`operationName` must be a string")
    return _Operation(query, variables, name)


async def _answer(result: ExecutionResult, session: SerializedSession, max_bytes: int) -> Response:
    codes = {(e.extensions or {}).get("code") for e in result.errors or ()}
    body = orjson.dumps(process_result(result))
    if len(body) > max_bytes:  # the executor's count is an estimate: this is the cap
        codes.add(QUERY_TOO_COSTLY)
        body = orjson.dumps({"data": None, "errors": [response_too_large(max_bytes).formatted]})
    if QUERY_TOO_COSTLY in codes:
        await session.rollback()  # the answer is an error: no mutation keeps its effect
    headers = RETRY_AFTER if "service_unavailable" in codes else None
    return Response(body, media_type="application/json", headers=headers)


def graphql_router(settings: Settings) -> APIRouter:
    """The ``/graphql`` routes for these settings (no IDE or introspection in production)."""
    development = settings.is_development
    max_bytes = settings.graphql_max_response_bytes
    limits = Limits(
        max_cost=settings.graphql_max_cost,
        max_response_bytes=max_bytes,
        max_details_bytes=settings.max_details_bytes,
    )
    schema = build_schema(production=not development, limits=limits)
    # GraphQL documents itself (openapi/schema.graphql), so it stays out of the OpenAPI document.
    router = APIRouter(tags=["graphql"], include_in_schema=False, route_class=LeanRoute)

    @router.post(PATH)
    @reads_its_own_query
    async def graphql(request: Request, caller: Caller) -> Response:
        ctx, session = caller
        operation = await _operation(request)
        if isinstance(operation, Response):
            return operation
        context = build_context(request, ctx, session)
        try:
            result = await schema.execute(
                operation.query,
                variable_values=operation.variables,
                context_value=context,
                operation_name=operation.operation_name,
                allowed_operation_types=_OPERATIONS,
            )
        except AmbiguousOperation as exc:
            return _bad_request(exc.as_http_error_reason())
        except (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError):
            return _bad_request("The document has no operation to run (or an unsupported one)")
        return await _answer(result, session, max_bytes)

    if development:
        page = (STATIC / "ide.html").read_text()

        @router.get(PATH)
        @reads_its_own_query
        async def graphql_ide(request: Request) -> Response:
            if "text/html" not in request.headers.get("accept", ""):
                return problem_response(
                    405,
                    "method_not_allowed",
                    detail="Queries over GET are not served: POST application/json",
                    headers={"Allow": "POST"},
                )
            return HTMLResponse(page, headers=IDE_SECURITY_HEADERS)

        @router.get(PATH + "/ide/{name}")
        async def graphql_ide_asset(name: str) -> Response:
            media_type = IDE_ASSETS.get(name)
            if media_type is None:
                return problem_response(404, "not_found", detail="Not found")
            return FileResponse(
                STATIC / name,
                media_type=media_type,
                headers={
                    "Cache-Control": "public, max-age=3600",
                    "X-Content-Type-Options": "nosniff",
                },
            )

    return router
