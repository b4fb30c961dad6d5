"""The lean path: an endpoint that only needs the caller's context and its path, query and header
parameters is called directly, without FastAPI's per-request machinery.

For every request FastAPI builds two ``AsyncExitStack``s, a telemetry context, an endpoint
description for error messages and a dependency cache, then walks the dependency tree
(``solve_dependencies``) to call one dependency; for the hot reads (a partner's organisation, a
case, the inbox) that machinery cost about as much CPU as the work itself. :func:`lean_app`
recognises, once when the route is built, an endpoint FastAPI would run in exactly these steps:

1. the one dependency, the caller's context (``ctx: CasesReadCtx``, a
   :class:`~app.api.deps.ContextFor`; GraphQL's ``Caller``: any
   :class:`~app.api.deps.LeanDependency`), is opened: bearer token read, unit of work opened,
   caller authenticated, scopes checked (401/403/429 raised from here, as before);
2. path, query and header parameters are validated by FastAPI's own
   ``request_params_to_args`` (the same 422 ``RequestValidationError``, the same ``loc``);
3. the endpoint is awaited and returns a :class:`~starlette.responses.Response`;
4. the unit of work commits (rolls back on any error), then the response is sent.

The endpoint may also take the ``Request`` (GraphQL reads its body itself). Anything else keeps
FastAPI's path: a body parameter, a second dependency, ``Response`` or background-task
parameters, cookies, an endpoint returning a model rather than a response, dependency overrides
(tests), OpenTelemetry's request spans. Errors propagate to the same
exception handlers (``ExceptionMiddleware`` above the router), so a problem response is the same
either way; tests run every route both ways (``tests/api/test_lean.py``).

Routing itself is the other half of FastAPI's per-request cost: the router walks its included
routers (each with its own matching, scope bookkeeping and version checks) to find the route.
:class:`LeanDispatch` sits in front of the router with the same routes flattened in the same
order and matched the same way (first full match wins, a method mismatch keeps looking); when
the route found is a lean one it is called directly, otherwise (or when nothing matched: 404,
405, slash redirects) the router takes the request as if the dispatcher were not there.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import params
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_flat_params, request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.deps import LeanDependency
from app.api.problems import add_words

# FastAPI puts its telemetry context here when OpenTelemetry instruments the app.
_TELEMETRY_KEY = "fastapi.telemetry"


def lean_app(dependant: Dependant) -> ASGIApp | None:
    """An ASGI app running ``dependant``'s endpoint as FastAPI would, or ``None`` when the
    endpoint needs more than the lean path does (see the module docstring)."""
    endpoint = dependant.call
    if endpoint is None or not inspect.iscoroutinefunction(endpoint):
        return None
    if len(dependant.dependencies) != 1:
        return None
    context = dependant.dependencies[0]
    call = context.call
    if (
        not isinstance(call, LeanDependency)
        or context.name is None
        or context.dependencies
        or context.path_params
        or context.query_params
        or context.header_params
        or context.cookie_params
        or context.body_params
    ):
        return None
    if (
        dependant.body_params
        or dependant.cookie_params
        or dependant.http_connection_param_name
        or dependant.websocket_param_name
        or dependant.background_tasks_param_name
        or dependant.response_param_name
        or dependant.security_scopes_param_name
    ):
        return None
    try:
        returns = typing.get_type_hints(endpoint).get("return")
    except NameError:  # annotations FastAPI itself resolves differently: leave it to FastAPI
        return None
    if not (isinstance(returns, type) and issubclass(returns, Response)):
        return None

    name = context.name
    request_name = dependant.request_param_name
    groups = [
        (fields, source)
        for fields, source in (
            (dependant.path_params, _path_params),
            (dependant.query_params, _query_params),
            (dependant.header_params, _headers),
        )
        if fields
    ]
    run_endpoint: Callable[..., Awaitable[Response]] = endpoint

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)

        async def with_context(value: Any) -> Response:
            values: dict[str, Any] = {name: value}
            if request_name:
                values[request_name] = request
            errors: list[Any] = []
            for fields, source in groups:
                found, failed = request_params_to_args(fields, source(request))
                values.update(found)
                errors += failed
            if errors:
                raise RequestValidationError(errors)
            return await run_endpoint(**values)

        response = await call.run(request, with_context)
        await response(scope, receive, send)

    return app


def lean_allowed(scope: Scope) -> bool:
    """Whether this request may take the lean path: not when the app's dependencies are
    overridden (tests) nor when OpenTelemetry follows FastAPI's request phases."""
    if scope.get(_TELEMETRY_KEY) is not None:
        return False
    return not getattr(scope.get("app"), "dependency_overrides", None)


def _path_params(request: Request) -> Any:
    return request.path_params


def _query_params(request: Request) -> Any:
    return request.query_params


def _headers(request: Request) -> Any:
    return request.headers


class LeanDispatch:
    """In front of ``router``: a request whose route takes the lean path is handed to it
    directly (see the module docstring); every other request goes to ``router``."""

    def __init__(self, router: ASGIApp, routes: list[BaseRoute]) -> None:
        self.router = router
        self.table = _flat_table(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.table and lean_allowed(scope):
            found = self._find(scope)
            if found is not None:
                route, params = found
                lean = getattr(route, "lean", None)
                if lean is not None:
                    scope["route"] = route
                    scope["endpoint"] = route.endpoint
                    scope["path_params"] = {**scope.get("path_params", {}), **params}
                    await lean(scope, receive, send)
                    return
        await self.router(scope, receive, send)

    def _find(self, scope: Scope) -> tuple[APIRoute, dict[str, Any]] | None:
        """The route the router would choose, with its converted path parameters; ``None``
        when it is not an API route or nothing matches fully (the router answers those)."""
        path = get_route_path(scope)
        method = scope["method"]
        for route in self.table:
            match = route.path_regex.match(path)
            if match is None:
                continue
            if route.methods and method not in route.methods:
                continue  # the router would keep looking for a full match too
            if not isinstance(route, APIRoute):
                return None
            convertors = route.param_convertors
            params = {
                key: convertors[key].convert(value) for key, value in match.groupdict().items()
            }
            return route, params
        return None


def _flat_table(routes: list[BaseRoute]) -> tuple[Route, ...]:
    """``routes`` with included routers opened, in matching order, up to the first route this
    dispatcher cannot match the way the router does (a mount, a host, an inclusion with a prefix
    or dependencies of its own): requests for it and whatever follows go to the router."""
    table: list[Route] = []

    def walk(routes: list[BaseRoute]) -> bool:
        for route in routes:
            original = getattr(route, "original_router", None)
            if original is not None:  # FastAPI's included router
                include = getattr(route, "include_context", None)
                if include is None or include.prefix or include.dependencies:
                    return False
                if getattr(original, "_low_priority_routes", None) or not walk(original.routes):
                    return False
            elif isinstance(route, WebSocketRoute):
                continue  # never matches an HTTP request
            elif isinstance(route, Route):  # APIRoute included
                table.append(route)
            else:
                return False
        return True

    walk(routes)
    return tuple(table)


READS_ITS_OWN_QUERY = "__reads_its_own_query__"
F = TypeVar("F", bound=Callable[..., Any])


def reads_its_own_query(endpoint: F) -> F:
    """Marks an endpoint that reads the request's query string itself, rather than through
    declared parameters: its route refuses no query parameter as unknown."""
    setattr(endpoint, READS_ITS_OWN_QUERY, True)
    return endpoint


class LeanRoute(APIRoute):
    """An API route that takes the lean path when its endpoint allows (:func:`lean_app`) and the
    request does (:func:`lean_allowed`); FastAPI's own path otherwise."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        # The query parameters it takes: any other is refused after authentication
        # (app.api.deps.request_context). None for an endpoint that reads the request's query
        # itself (`reads_its_own_query`: GraphQL).
        self.query_names: frozenset[str] | None = None
        if not getattr(endpoint, READS_ITS_OWN_QUERY, False):
            flat = get_flat_params(self.dependant)
            self.query_names = frozenset(
                f.alias for f in flat if isinstance(f.field_info, params.Query)
            )
            add_words(self.query_names)
        self.lean = lean_app(self.dependant)
        self._lean_methods = frozenset(self.methods or ())

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        lean = self.lean
        if lean is not None and scope["method"] in self._lean_methods and lean_allowed(scope):
            await lean(scope, receive, send)
            return
        await super().handle(scope, receive, send)
