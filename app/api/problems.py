"""problem+json (RFC 9457) for every error the API returns — the one error renderer."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from app.db.errors import (
    ConstraintViolated,
    DatabaseUnavailable,
    TransactionAborted,
    ValueRejected,
)
from app.domain.errors import DomainError, ValidationFailed
from app.logging import log

PROBLEM_JSON = "application/problem+json"

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "invalid_token",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def problem_type(code: str) -> str:
    return f"urn:aftercare:problem:{code}"


def problem_response(
    status: int,
    code: str,
    *,
    title: str | None = None,
    detail: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        problem_body(status, code, title=title, detail=detail, extra=extra),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def problem_body(
    status: int,
    code: str,
    *,
    title: str | None = None,
    detail: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """The problem details document (RFC 9457) as sent: also written by the HTTP server for a
    request it cannot parse (``app.api.http_server``), where no response object exists."""
    phrase = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": problem_type(code),
        "title": title or phrase,
        "status": status,
        "detail": detail or title or phrase,
        "code": code,
    }
    if extra:
        body.update(extra)
    return orjson.dumps(body)


def _single(kind: Any) -> Any:
    """``kind`` without ``Annotated`` and ``| None``; None where it is a union of several."""
    while True:
        origin = get_origin(kind)
        if origin is Annotated:
            kind = get_args(kind)[0]
        elif origin in (Union, UnionType):
            options = [a for a in get_args(kind) if a is not type(None)]
            if len(options) != 1:
                return None
            kind = options[0]
        else:
            return kind


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


def fields_at(annotation: Any, path: Sequence[str | int]) -> list[str] | None:
    """The field names (as sent: aliases) of the object at ``path`` in a body of type
    ``annotation``, or None where the path leads through anything but models, lists and
    optionals (a union's branch, a mapping)."""
    kind = _single(annotation)
    for part in path:
        if isinstance(part, int) and get_origin(kind) in (list, tuple, Sequence):
            kind = _single(get_args(kind)[0]) if get_args(kind) else None
        elif isinstance(part, str) and _is_model(kind):
            named = {f.alias or n: f for n, f in kind.model_fields.items()}
            kind = _single(named[part].annotation) if part in named else None
        else:
            return None
    return [f.alias or n for n, f in kind.model_fields.items()] if _is_model(kind) else None


_WORDS: set[str] = set()  # the query parameters' names, registered by their routes


def add_words(names: Iterable[str]) -> None:
    """Names of the API's own beyond its models' fields (each route's query parameters)."""
    _WORDS.update(names)
    field_vocabulary.cache_clear()


@functools.cache
def field_vocabulary() -> frozenset[str]:
    """Every field name (as sent) of the API's own models and every query parameter's: words the
    hub chose, never a caller's data. Built on first use, when every model has been defined."""
    names: set[str] = set(_WORDS)
    todo: list[type[BaseModel]] = [BaseModel]
    while todo:
        for model in todo.pop().__subclasses__():
            todo.append(model)
            if model.__module__.startswith("app.api."):
                names.update(f.alias or n for n, f in model.model_fields.items())
    return frozenset(names)


def public_errors(
    errors: Sequence[Any],
    fields: Callable[[Sequence[str | int]], list[str] | None] = lambda _: None,
) -> list[dict[str, Any]]:
    """A validation failure's errors as a partner sees them: where and why, never the rejected
    input, which may be survivor data.

    That includes an unknown key's name, unless it is a word of the API's own
    (:func:`field_vocabulary`: ``status``, ``version``, a field that belongs elsewhere): a client
    that keys an object by a survivor's name would have the name repeated. Such keys are reported
    once per object, at the object that holds them, with the fields it does take (``fields``:
    the names at a path, where known)."""
    out: list[dict[str, Any]] = []
    unknown_at: set[tuple[str | int, ...]] = set()
    for err in errors:
        loc = [str(p) if not isinstance(p, int) else p for p in err.get("loc", ())]
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "extra_forbidden" and loc and loc[-1] not in field_vocabulary():
            loc = loc[:-1]
            if tuple(loc) in unknown_at:
                continue
            unknown_at.add(tuple(loc))
            names = fields(loc)
            noun = "query parameter" if loc == ["query"] else "field"
            msg = f"Unknown {noun} (its name is not repeated)"
            if names is not None:
                msg += f"; the {noun}s here are: {', '.join(names)}" if names else f"; no {noun}s"
        out.append({"loc": loc, "msg": msg, "type": err.get("type")})
    return out


def _route_fields(request: Request) -> Callable[[Sequence[str | int]], list[str] | None]:
    """The fields at a REST error location (``["body", …]``) in the route's body model, or the
    route's query parameters (``["query"]``)."""
    route = request.scope.get("route")
    field = getattr(route, "body_field", None)

    def at(loc: Sequence[str | int]) -> list[str] | None:
        if list(loc) == ["query"]:
            names = getattr(route, "query_names", None)
            return sorted(names) if names is not None else None
        if field is None or not loc or loc[0] != "body":
            return None
        return fields_at(field.field_info.annotation, loc[1:])

    return at


def _rooted(exc: DomainError) -> dict[str, Any]:
    """``exc.extra`` with a validation error's field paths under their HTTP root (``where``)."""
    if not isinstance(exc, ValidationFailed) or exc.where is None or "errors" not in exc.extra:
        return exc.extra
    root = exc.where
    errors = [{**e, "loc": [root, *e.get("loc", ())]} for e in exc.extra["errors"]]
    return {**exc.extra, "errors": errors}


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return problem_response(
        exc.status,
        exc.code,
        title=exc.title,
        detail=exc.detail,
        extra=_rooted(exc),
        headers=exc.headers,
    )


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    from app.api.oauth import is_oauth, unreadable

    if is_oauth(request.url.path):  # a form field that is not a plain value (a file)
        return unreadable("form parameters must be plain values")
    return problem_response(
        422,
        "validation_error",
        title="Invalid request",
        detail="The request did not pass validation; see errors",
        extra={"errors": public_errors(exc.errors(), _route_fields(request))},
    )


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODES_BY_STATUS.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else None
    if exc.status_code in (400, 413):
        from app.api.oauth import is_oauth, unreadable

        if is_oauth(request.url.path):
            # A form the token endpoints could not read (over 1,000 fields, or over the body
            # limit while it streamed): RFC 6749's error shape, which OAuth clients read there.
            return unreadable(detail or "unreadable form", exc.status_code)
    if exc.status_code == 404:
        detail = "Not found"
    headers = exc.headers
    if exc.status_code == 405:
        # Starlette names only the methods of the first route whose path matched; a path served
        # by several routes (GET and POST /v1/cases) allows all of theirs.
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return problem_response(exc.status_code, code, detail=detail, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this request's path (``HEAD`` with ``GET``), asked of
    the router itself: each method is tried against every route."""
    order = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
    routes = request.app.router.routes
    allowed = [
        method
        for method in order
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    if "GET" in allowed and "HEAD" not in allowed:
        allowed.insert(allowed.index("GET") + 1, "HEAD")
    return allowed


def _service_unavailable(detail: str) -> Response:
    """503: nothing was changed, and the same request may be sent again in a second."""
    return problem_response(
        503,
        "service_unavailable",
        title="Service unavailable",
        detail=detail,
        headers={"Retry-After": "1"},
    )


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database_unavailable", cause=type(exc.__cause__).__name__)
    return _service_unavailable("The database is unavailable; nothing was changed. Retry shortly.")


async def _transaction_aborted(request: Request, exc: Exception) -> Response:
    log.warning("transaction_aborted", sqlstate=getattr(exc, "sqlstate", None))
    return _service_unavailable(
        "The request collided with a concurrent one and was rolled back; nothing was "
        "changed. Retry shortly."
    )


async def _value_rejected(request: Request, exc: Exception) -> Response:
    return problem_response(
        422,
        "validation_error",
        title="Invalid request",
        detail="A value in the request is out of range or cannot be stored",
        extra={"errors": [{"loc": [], "msg": "value out of range", "type": "value_error"}]},
    )


async def _constraint_violated(request: Request, exc: Exception) -> Response:
    log.info("constraint_violated", constraint=getattr(exc, "constraint", None))
    return problem_response(
        409,
        "conflict",
        title="Conflict",
        detail="The request conflicts with the current state of the resource; fetch it again",
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(DatabaseUnavailable, _database_unavailable)
    app.add_exception_handler(TransactionAborted, _transaction_aborted)
    app.add_exception_handler(ValueRejected, _value_rejected)
    app.add_exception_handler(ConstraintViolated, _constraint_violated)


PROBLEM_RESPONSE_SCHEMA = {
    "description": "Problem details (RFC 9457)",
    "content": {
        PROBLEM_JSON: {
            "schema": {
                "type": "object",
                "required": ["type", "title", "status", "code"],
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                    "code": {"type": "string"},
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "loc": {"type": "array", "items": {}},
                                "msg": {"type": "string"},
                            },
                        },
                    },
                },
            }
        }
    },
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {**PROBLEM_RESPONSE_SCHEMA, "description": HTTPStatus(s).phrase} for s in statuses}
