"""Endpoints declared by kind: what each kind of endpoint answers is written here once.

A router's endpoints are declared through its :class:`Routes`, one decorator a kind::

    routes = Routes("care plan")  # its APIRouter: routes.router
    router = routes.router

    @routes.read("/v1/cases/{case_id}/goals/{goal_id}", GoalOut.of)
    async def get_goal(case_id: UUID, goal_id: UUID, ctx: CasesReadCtx) -> Goal:
        \"\"\"One goal\"\"\"
        return await CarePlanService(ctx).get_goal(case_id, goal_id)

The endpoint's docstring is its summary in the OpenAPI document (and in Swagger UI and ReDoc),
so the text a partner reads is the one a maintainer reads beside the code.

An endpoint returns the domain's answer and its kind renders it: the second argument is the
response model's ``of`` (its class is the response model), and the kind answers with
``of(value)`` (a page of them for ``page``), adding the ``ETag`` when the rendered model has a
``version``. An endpoint whose answer needs more (the time it was rendered at, a header of its
own) names the model class instead and returns its ``Response``. The kinds:

==========  =======  ===========================================================================
kind        method   answers
==========  =======  ===========================================================================
create      POST     201 with ``Location`` (and ``ETag`` for a versioned resource); the
                     endpoint returns what it made (``Created``) and the kind makes it
                     idempotent: ``Idempotency-Key`` (:mod:`app.api.idempotency`), 409 while
                     a request with the same key is still being answered
read        GET      200 (with the resource's ``ETag`` where it has a version, and then 304 for
                     a current ``If-None-Match``)
page        GET      200 with a page of ``item`` (``PageOut``: ``items``, ``next_cursor``); the
                     endpoint takes ``paging: Paging`` (the ``limit`` and ``cursor`` query
                     parameters, which the kind reads) and returns a domain ``Page``
edit        PATCH    200 with the new ``ETag``; ``If-Match`` required (428 without, 412 stale):
                     the kind reads the header and passes the versions it accepts as the
                     endpoint's ``expected_version``
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
from typing import Any, TypeVar, overload
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.responses import Response

from app.api.conditional import IfMatch, expected_version
from app.api.idempotency import Created, Idempotent, IdempotentRequest
from app.api.json_body import StrictJSONRoute
from app.api.pagination import DEFAULT_PAGE_SIZE, Cursor, Limit, PageOut, Paging
from app.api.problems import problem_responses
from app.api.responses import page_response, plain_resource_response, resource_response
from app.domain.pagination import Page

Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Any]])
Value = TypeVar("Value")
# An endpoint returning a domain value (rendered by its kind) or a domain page of them.
Answers = Callable[..., Awaitable[Value]]
Pages = Callable[..., Awaitable[Page[Value]]]


def summary_of(endpoint: Callable[..., Any]) -> str:
    """The endpoint's docstring, its lines joined: one sentence, shown as the summary."""
    doc = inspect.getdoc(endpoint)
    if not doc:
        raise TypeError(f"{endpoint.__name__}: an endpoint's docstring is its summary")
    return " ".join(doc.split())


Make = TypeVar("Make", bound=Callable[..., Awaitable[Created]])
# Renders a created resource afresh for a replay: (the caller's context, the case) → JSON body.
Rerender = Callable[[Any, UUID], Awaitable[bytes]]
Again = Callable[[Any, UUID, UUID], Awaitable[object]]


def _as(
    endpoint: Callable[..., Any],
    signature: inspect.Signature,
    call: Callable[..., Awaitable[Response]],
    parameters: list[inspect.Parameter],
) -> Callable[..., Awaitable[Response]]:
    """``call``, as FastAPI should see it: ``endpoint``'s name, docstring and module, and its
    ``signature`` with these parameters (what FastAPI reads from the request)."""
    call.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=Response
    )
    call.__name__ = call.__qualname__ = endpoint.__name__
    call.__doc__ = endpoint.__doc__
    call.__module__ = endpoint.__module__
    return call


def idempotent(
    make: Callable[..., Awaitable[Created]], rerender: Rerender | None, again: Again | None = None
) -> Callable[..., Awaitable[Response]]:
    """The endpoint FastAPI calls for a creating ``make(..., ctx, ...)``: ``make``'s parameters
    and ``idem`` (the ``Idempotency-Key``), answering through :meth:`IdempotentRequest.create`."""
    signature = inspect.signature(make, eval_str=True)
    parameters = signature.parameters
    if "ctx" not in parameters:
        raise TypeError(f"{make.__name__}: a creating endpoint takes the caller's `ctx`")

    async def endpoint(idem: IdempotentRequest, **arguments: Any) -> Response:
        ctx = arguments["ctx"]
        return await idem.create(
            ctx,
            lambda: make(**arguments),
            rerender=functools.partial(rerender, ctx) if rerender is not None else None,
            again=functools.partial(again, ctx) if again is not None else None,
        )

    idem = inspect.Parameter("idem", inspect.Parameter.KEYWORD_ONLY, annotation=Idempotent)
    return _as(make, signature, endpoint, [*parameters.values(), idem])


# A page's query parameters, after the endpoint's own (see Paging).
_PAGING = [
    inspect.Parameter(
        "limit", inspect.Parameter.KEYWORD_ONLY, annotation=Limit, default=DEFAULT_PAGE_SIZE
    ),
    inspect.Parameter("cursor", inspect.Parameter.KEYWORD_ONLY, annotation=Cursor, default=None),
]


def answering(
    endpoint: Callable[..., Awaitable[Any]],
    render: Callable[[Any], BaseModel | dict[str, Any]] | None,
    status: int,
    *,
    page: bool = False,
    conditional: bool = False,
) -> Callable[..., Awaitable[Response]]:
    """The endpoint FastAPI calls for ``endpoint``. With ``render`` (a response model's ``of``),
    ``endpoint`` returns a domain value and ``render`` makes its model (for ``page``, each
    item's), or with the model's ``plain`` what the model would serialise to, answered with
    the ``ETag`` of a model with a ``version``; without, ``endpoint`` returns its own response.
    A ``page`` endpoint's ``paging`` comes from the ``limit`` and ``cursor`` query parameters.
    With ``conditional``, ``endpoint``'s ``expected_version`` comes from the ``If-Match`` header
    (428 when missing, 412 when it names no version), read after the request is validated (a
    bad body is 422 first)."""
    model = getattr(render, "__self__", None)
    if render is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{endpoint.__name__}: render with a response model's `of`")
    signature = inspect.signature(endpoint, eval_str=True)
    parameters = list(signature.parameters.values())
    if page:
        if not any(p.name == "paging" for p in parameters):
            raise TypeError(f"{endpoint.__name__}: a page takes `paging` (limit and cursor)")
        parameters = [p for p in parameters if p.name != "paging"]
        parameters += _PAGING
    if conditional:
        if not any(p.name == "expected_version" for p in parameters):
            raise TypeError(f"{endpoint.__name__}: a conditional edit takes `expected_version`")
        parameters = [p for p in parameters if p.name != "expected_version"]
        parameters.append(
            inspect.Parameter(
                "if_match", inspect.Parameter.KEYWORD_ONLY, annotation=IfMatch, default=None
            )
        )

    async def call(**arguments: Any) -> Response:
        if page:
            arguments["paging"] = Paging(
                limit=arguments.pop("limit"), cursor=arguments.pop("cursor")
            )
        if conditional:
            arguments["expected_version"] = expected_version(arguments.pop("if_match"))
        value = await endpoint(**arguments)
        if render is None:
            return value  # type: ignore[no-any-return]
        if page:
            return page_response(value, model, render)  # type: ignore[arg-type]
        rendered = render(value)
        if isinstance(rendered, dict):  # a model's `plain`: what the model serialises to
            return plain_resource_response(rendered, status)
        return resource_response(rendered, status)

    return _as(endpoint, signature, call, parameters)


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
        self,
        path: str,
        out: Any,
        *errors: int,
        rerender: Rerender | None = None,
        again: Again | None = None,
    ) -> Callable[[Make], Make]:
        """A creating ``POST``. The endpoint makes the resource and returns what it made
        (:class:`~app.api.idempotency.Created`); the kind makes it idempotent: it takes the
        ``Idempotency-Key`` header and runs the endpoint only when the request is not a retry
        (:meth:`IdempotentRequest.create`; ``rerender(ctx, case_id)`` renders a replay afresh
        for a resource holding survivor data; ``again(ctx, case_id, made_id)`` reads what was
        made as its ``GET`` would, so a replay is refused as that read would be). 409: a request
        with the same key is still being answered."""

        def register(make: Make) -> Make:
            self._add("POST", path, out, 201, (409, *errors))(idempotent(make, rerender, again))
            return make

        return register

    @overload
    def read(
        self, path: str, out: type[BaseModel], *errors: int
    ) -> Callable[[Endpoint], Endpoint]: ...
    @overload
    def read(
        self, path: str, out: Callable[[Value], BaseModel | dict[str, Any]], *errors: int
    ) -> Callable[[Answers[Value]], Answers[Value]]: ...
    def read(self, path: str, out: Any, *errors: int) -> Callable[[Any], Any]:
        return self._add("GET", path, out, 200, errors)

    @overload
    def page(
        self, path: str, item: type[BaseModel], *errors: int
    ) -> Callable[[Endpoint], Endpoint]: ...
    @overload
    def page(
        self, path: str, item: Callable[[Value], BaseModel | dict[str, Any]], *errors: int
    ) -> Callable[[Pages[Value]], Pages[Value]]: ...
    def page(self, path: str, item: Any, *errors: int) -> Callable[[Any], Any]:
        return self._add("GET", path, item, 200, errors, page=True)

    @overload
    def edit(
        self, path: str, out: type[BaseModel], *errors: int
    ) -> Callable[[Endpoint], Endpoint]: ...
    @overload
    def edit(
        self, path: str, out: Callable[[Value], BaseModel], *errors: int
    ) -> Callable[[Answers[Value]], Answers[Value]]: ...
    def edit(self, path: str, out: Any, *errors: int) -> Callable[[Any], Any]:
        return self._add("PATCH", path, out, 200, errors, conditional=True)

    @overload
    def replace(
        self, path: str, out: type[BaseModel], *errors: int
    ) -> Callable[[Endpoint], Endpoint]: ...
    @overload
    def replace(
        self, path: str, out: Callable[[Value], BaseModel], *errors: int
    ) -> Callable[[Answers[Value]], Answers[Value]]: ...
    def replace(self, path: str, out: Any, *errors: int) -> Callable[[Any], Any]:
        return self._add("PUT", path, out, 200, errors, conditional=True)

    @overload
    def act(
        self, path: str, out: type[BaseModel] | None, *errors: int, status: int = 200
    ) -> Callable[[Endpoint], Endpoint]: ...
    @overload
    def act(
        self, path: str, out: Callable[[Value], BaseModel], *errors: int, status: int = 200
    ) -> Callable[[Answers[Value]], Answers[Value]]: ...
    def act(self, path: str, out: Any, *errors: int, status: int = 200) -> Callable[[Any], Any]:
        return self._add("POST", path, out, status, errors)

    def delete(self, path: str, *errors: int) -> Callable[[Endpoint], Endpoint]:
        return self._add("DELETE", path, None, 204, errors)

    def _add(
        self,
        method: str,
        path: str,
        out: Any,
        status: int,
        errors: tuple[int, ...],
        *,
        page: bool = False,
        conditional: bool = False,
    ) -> Callable[[Any], Any]:
        """Register the endpoint. ``out``: the response model (the endpoint answers itself), or
        its ``of`` (the kind renders the endpoint's value); see :func:`answering`."""
        renders = out is not None and not isinstance(out, type)
        model = getattr(out, "__self__", None) if renders else out

        def register(endpoint: Any) -> Any:
            self.router.add_api_route(
                path,
                answering(
                    endpoint, out if renders else None, status, page=page, conditional=conditional
                )
                if renders or conditional or page
                else endpoint,
                methods=[method],
                status_code=status,
                response_model=PageOut[model] if page else model,  # type: ignore[valid-type]
                summary=summary_of(endpoint),
                responses=problem_responses(*sorted(set(errors))) if errors else None,
            )
            return endpoint

        return register
