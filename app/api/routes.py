"""Endpoints declared by kind: what each kind of endpoint answers is written here once.

A router's endpoints are declared through its :class:`Routes`, one decorator a kind::

    routes = Routes("care plan")  # its APIRouter: routes.router
    router = routes.router

    @routes.read("/v1/cases/{case_id}/goals/{goal_id}", GoalOut)
    async def get_goal(case_id: UUID, goal_id: UUID, ctx: CasesReadCtx) -> Response:
        \"\"\"One goal\"\"\"

The endpoint's docstring is its summary in the OpenAPI document (and in Swagger UI and ReDoc),
so the text a partner reads is the one a maintainer reads beside the code. The kinds:

==========  =======  ===========================================================================
kind        method   answers
==========  =======  ===========================================================================
create      POST     201 with ``Location`` (and ``ETag`` for a versioned resource); the
                     endpoint returns what it made (``Created``) and the kind makes it
                     idempotent: ``Idempotency-Key`` (:mod:`app.api.idempotency`), 409 while
                     a request with the same key is still being answered
read        GET      200 (with the resource's ``ETag`` where it has a version, and then 304 for
                     a current ``If-None-Match``)
page        GET      200 with a page of ``item`` (``PageOut``: ``items``, ``next_cursor``)
edit        PATCH    200 with the new ``ETag``; ``If-Match`` required (428 without, 412 stale)
replace     PUT      as ``edit``
act         POST     a change of state (close, revoke, record, retry): 200 (or ``status``)
delete      DELETE   204
==========  =======  ===========================================================================

401, 403, 422, 429 and 503 (and 400/413/415 for a body, 412/428 for ``If-Match``, the headers of
each status) are added to every operation by :mod:`app.api.openapi`; a kind adds what is
particular to it, and ``errors`` what is particular to one endpoint (404 on a router whose
operations do not all look a resource up, 410 for an expired cursor).

Names are FastAPI's: the function's name makes the ``operationId``, so declaring an endpoint
here or with ``router.post`` gives the same document.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

from fastapi import APIRouter
from starlette.responses import Response

from app.api.idempotency import Created, Idempotent, IdempotentRequest
from app.api.json_body import StrictJSONRoute
from app.api.pagination import PageOut
from app.api.problems import problem_responses

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Any]])


def summary_of(endpoint: Callable[..., Any]) -> str:
    """The endpoint's docstring, its lines joined: one sentence, shown as the summary."""
    doc = inspect.getdoc(endpoint)
    if not doc:
        raise TypeError(f"{endpoint.__name__}: an endpoint's docstring is its summary")
    return " ".join(doc.split())


Make = TypeVar("Make", bound=Callable[..., Awaitable[Created]])
# Renders a created resource afresh for a replay: (the caller's context, the case) → JSON body.
Rerender = Callable[[Any, UUID], Awaitable[bytes]]


def idempotent(
    make: Callable[..., Awaitable[Created]], rerender: Rerender | None
) -> Callable[..., Awaitable[Response]]:
    """The endpoint FastAPI calls for a creating ``make(..., ctx, ...)``: ``make``'s parameters
    and ``idem`` (the ``Idempotency-Key``), answering through :meth:`IdempotentRequest.create`."""
    signature = inspect.signature(make, eval_str=True)
    if "ctx" not in signature.parameters:
        raise TypeError(f"{make.__name__}: a creating endpoint takes the caller's `ctx`")

    async def endpoint(idem: IdempotentRequest, **arguments: Any) -> Response:
        ctx = arguments["ctx"]
        return await idem.create(
            ctx,
            lambda: make(**arguments),
            rerender=functools.partial(rerender, ctx) if rerender is not None else None,
        )

    idem = inspect.Parameter("idem", inspect.Parameter.KEYWORD_ONLY, annotation=Idempotent)
    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), idem], return_annotation=Response
    )
    endpoint.__name__ = endpoint.__qualname__ = make.__name__
    endpoint.__doc__ = make.__doc__
    endpoint.__module__ = make.__module__
    return endpoint


class Routes:
    """The endpoints of one partner-facing router, declared by kind (see the module docstring).

    Every operation of the router answers 401, 403 and 422, and 404 unless ``not_found`` is
    false (a router whose operations do not all look up a resource by id, where those that do
    add 404 themselves); its JSON bodies are parsed strictly (:class:`StrictJSONRoute`)."""

    __slots__ = ("router",)

    def __init__(self, tag: str, *, prefix: str = "", not_found: bool = True) -> None:
        statuses = (401, 403, 404, 422) if not_found else (401, 403, 422)
        self.router = APIRouter(
            prefix=prefix,
            tags=[tag],
            responses=problem_responses(*statuses),
            route_class=StrictJSONRoute,
        )

    def create(
        self, path: str, out: Any, *errors: int, rerender: Rerender | None = None
    ) -> Callable[[Make], Make]:
        """A creating ``POST``. The endpoint makes the resource and returns what it made
        (:class:`~app.api.idempotency.Created`); the kind makes it idempotent: it takes the
        ``Idempotency-Key`` header and runs the endpoint only when the request is not a retry
        (:meth:`IdempotentRequest.create`; ``rerender(ctx, case_id)`` renders a replay afresh
        for a resource holding survivor data). 409: a request with the same key is still being
        answered."""

        def register(make: Make) -> Make:
            self._add("POST", path, out, 201, (409, *errors))(idempotent(make, rerender))
            return make

        return register

    def read(self, path: str, out: Any, *errors: int) -> Callable[[Endpoint], Endpoint]:
        return self._add("GET", path, out, 200, errors)

    def page(self, path: str, item: Any, *errors: int) -> Callable[[Endpoint], Endpoint]:
        return self._add("GET", path, PageOut[item], 200, errors)

    def edit(self, path: str, out: Any, *errors: int) -> Callable[[Endpoint], Endpoint]:
        return self._add("PATCH", path, out, 200, errors)

    def replace(self, path: str, out: Any, *errors: int) -> Callable[[Endpoint], Endpoint]:
        return self._add("PUT", path, out, 200, errors)

    def act(
        self, path: str, out: Any, *errors: int, status: int = 200
    ) -> Callable[[Endpoint], Endpoint]:
        return self._add("POST", path, out, status, errors)

    def delete(self, path: str, *errors: int) -> Callable[[Endpoint], Endpoint]:
        return self._add("DELETE", path, None, 204, errors)

    def _add(
        self, method: str, path: str, out: Any, status: int, errors: tuple[int, ...]
    ) -> Callable[[Endpoint], Endpoint]:
        def register(endpoint: Endpoint) -> Endpoint:
            self.router.add_api_route(
                path,
                endpoint,
                methods=[method],
                status_code=status,
                response_model=out,
                summary=summary_of(endpoint),
                responses=problem_responses(*sorted(set(errors))) if errors else None,
            )
            return endpoint

        return register
