"""Strict JSON request bodies: what a partner sends is read as exactly one JSON text, validated by
pydantic's strict JSON rules.

FastAPI on its own reads a body with ``json.loads`` (which accepts ``NaN``, ``Infinity``, ``1e400``
as infinity, lone surrogates and duplicate keys, the last one silently winning) and validates the
parsed dict in pydantic's *lax Python* mode (``"1990"`` is an integer, ``631152000`` a date,
``"yes"`` a boolean). Routes of :class:`StrictJSONRoute` instead:

- parse with :func:`loads` — RFC 8259 and nothing more (orjson), plus no duplicate object keys
  and no integer a JSON implementation could not hold exactly (I-JSON);
- validate the body against its model in pydantic's strict *JSON* mode: dates, timestamps, UUIDs
  and enums are their JSON strings, integers are JSON integers, booleans ``true``/``false``.

Either failure is REST's 422 ``validation_error`` (``loc`` starts with ``"body"``); the rejected
value is never repeated. FastAPI's own (lax) validation then runs on what already passed.

A body sent as anything but JSON (``application/json`` or ``application/*+json``; also no
``Content-Type`` at all, and curl's ``-d`` default, a form) is 415 ``unsupported_media_type``,
with ``Accept-Post`` (or ``Accept-Patch``) naming what is read: a client that forgot the header
learns that, not that its object "should be a valid dictionary".
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from pydantic import TypeAdapter, ValidationError

from app.api.deps import ContextFor
from app.api.lean import LeanRoute
from app.api.problems import problem_response

MAX_SAFE_INTEGER = 2**53 - 1


class InvalidJSON(ValueError):
    """The body is not one strict JSON text. ``msg`` names the fault, never the content."""

    def __init__(self, msg: str, pos: int = 0) -> None:
        super().__init__(msg)
        self.msg = msg
        self.pos = pos


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise InvalidJSON("duplicate object key")
        obj[key] = value
    return obj


def _exact_integer(digits: str) -> int:
    # Integers must be exact in every JSON implementation (I-JSON, RFC 7493 §2.2); checked on the
    # text, before a model could coerce a huge one to a float.
    if len(digits) > 17 or abs(value := int(digits)) > MAX_SAFE_INTEGER:
        raise InvalidJSON("integer out of range")
    return value


def _number(text: str) -> int | float:
    # JSON has one number type: `34787.0` is the integer 34787 (JSON Schema's "integer" says so
    # too), so a whole number written with a fraction or exponent is read as that integer.
    value = float(text)
    if value.is_integer() and abs(value) <= MAX_SAFE_INTEGER:
        return int(value)
    return value


def loads(body: bytes | str) -> Any:
    """One JSON text, strictly: no ``NaN``/``Infinity``, no number overflowing to infinity, no
    lone surrogates or invalid UTF-8, nesting below 1024 levels (orjson's rules), no object with
    the same key twice, and no integer beyond ±(2**53 - 1)."""
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(exc.msg, exc.pos) from None
    try:
        return json.loads(
            body, object_pairs_hook=_unique_keys, parse_int=_exact_integer, parse_float=_number
        )
    except InvalidJSON:
        raise
    except RecursionError:  # orjson allows 1024 levels, the stdlib parser fewer
        raise InvalidJSON("nested too deeply") from None
    except ValueError:  # anything else the stdlib parser refuses
        raise InvalidJSON("not a JSON text") from None


def _is_json(content_type: str | None) -> bool:
    """The media types FastAPI reads as JSON (``application/json``, ``application/*+json``)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


# What a 415 names as read, by method: the header (RFC 5789 §2.2 for PATCH, W3C LDP §7.1 for
# POST) and its value. The OpenAPI document describes these headers from here.
ACCEPTED_BY_METHOD = {
    "POST": ("Accept-Post", "application/json"),
    "PATCH": ("Accept-Patch", "application/json, application/merge-patch+json"),
}


def _unsupported_media_type(method: str) -> Response:
    accepted = ACCEPTED_BY_METHOD.get(method)
    return problem_response(
        415,
        "unsupported_media_type",
        detail="Send the body as application/json (Content-Type: application/json)",
        headers=dict([accepted]) if accepted else None,
    )


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


def _invalid_json(exc: InvalidJSON) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "json_invalid", "loc": ("body", exc.pos), "msg": f"Invalid JSON: {exc.msg}"}]
    )


class StrictJSONRoute(LeanRoute):
    """An API route whose JSON body is parsed by :func:`loads` and validated strictly (a route
    without a body may take the lean path, :class:`app.api.lean.LeanRoute`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        field = self.body_field
        adapter: TypeAdapter[Any] | None = None
        if field is not None and not isinstance(field.field_info, Form):
            annotation = field.field_info.annotation
            adapter = TypeAdapter(annotation if annotation is not None else Any)

        # The caller's context dependency, if the route has one: its token, limit and scopes
        # are checked before the body is read, so that nobody without them gets up to
        # AFTERCARE_MAX_BODY_BYTES of JSON parsed and validated (and a 422 instead of a 401).
        guard = next(
            (d.call for d in self.dependant.dependencies if isinstance(d.call, ContextFor)), None
        )

        async def refused_body(request: Request) -> Response | None:
            """415 for a body not sent as JSON; 422 (raised) for one that is not valid."""
            assert adapter is not None
            if not _is_json(request.headers.get("content-type")):
                if await request.body():
                    return _unsupported_media_type(request.method)
                return None
            body = await request.body()
            if not body:
                return None
            try:
                parsed = await request.json()
            except InvalidJSON as exc:
                raise _invalid_json(exc) from None
            if b"." in body or b"e" in body or b"E" in body:
                try:  # whole numbers as integers (`_number`)
                    body = orjson.dumps(parsed)
                except TypeError:  # orjson writes at most 254 levels of nesting
                    raise _invalid_json(InvalidJSON("nested too deeply")) from None
            try:
                adapter.validate_json(body, strict=True)
            except ValidationError as exc:
                errors = exc.errors(include_url=False, include_input=False)
                raise RequestValidationError(
                    [{**e, "loc": ("body", *e["loc"])} for e in errors]
                ) from None
            return None

        async def strict_handler(request: Request) -> Response:
            request = StrictJSONRequest(request.scope, request.receive)
            if adapter is None:
                return await handler(request)
            if guard is None:
                refused = await refused_body(request)
            else:
                await guard.refuse_early(request)
                try:
                    refused = await refused_body(request)
                except RequestValidationError:
                    await guard.refuse_revoked(request)  # a revoked token: 401 before 422
                    raise
                if refused is not None:
                    await guard.refuse_revoked(request)
            if refused is not None:
                return refused
            return await handler(request)

        return strict_handler
