"""JSON responses for models built field by field (absent = not visible to the caller)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from uuid import UUID

import orjson
from pydantic import BaseModel
from starlette.responses import Response

from app.api.conditional import etag
from app.api.pagination import PageOut
from app.domain.pagination import Page

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def model_response(
    model: BaseModel, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        model.__pydantic_serializer__.to_json(model, exclude_unset=True),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def version_tag(model: BaseModel) -> dict[str, str]:
    """The ``ETag`` header of a versioned resource's model (one with a ``version``: what
    ``If-Match`` names), else no header."""
    version = getattr(model, "version", None)
    return {"ETag": etag(version)} if version is not None else {}


def resource_response(model: BaseModel, status: int = 200) -> Response:
    """One resource, with its ``ETag`` when it is versioned (:func:`version_tag`)."""
    return model_response(model, status, headers=version_tag(model))


def page_response(
    page: Page[T], out: type[M], convert: Callable[[T], M | dict[str, Any]]
) -> Response:
    """A list response (``items`` and ``next_cursor``) for a domain page, each item projected
    by ``convert``: to its response model, or to what that model serialises to (a response
    model's ``plain``: a dict of its fields, left out where the model leaves them out), which
    orjson serialises with no model in between."""
    items = [convert(item) for item in page.items]
    if items and isinstance(items[0], dict):
        return view_response({"items": items, "next_cursor": page.next_cursor})
    return model_response(
        PageOut[out](items=items, next_cursor=page.next_cursor)  # type: ignore[valid-type]
    )


def _default(value: object) -> str:
    # asyncpg hands out its own UUID subclass, which orjson serialises only through here.
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def view_response(
    view: object, headers: Mapping[str, str] | None = None, status: int = 200
) -> Response:
    """A 200 straight from a domain view: frozen dataclasses whose fields are exactly the
    response model's, in its order (a test holds them together), or dicts of exactly what the
    model serialises to (a model's ``plain``), serialised by orjson without a second pass
    through pydantic. For reads on the hot path (a case, the care plan, the inbox's pages)."""
    return Response(
        orjson.dumps(view, default=_default, option=orjson.OPT_UTC_Z),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def plain_resource_response(plain: dict[str, Any], status: int = 200) -> Response:
    """One resource from what its model serialises to (a model's ``plain``), with the
    ``ETag`` of its ``version`` as :func:`resource_response` gives it."""
    version = plain.get("version")
    headers = {"ETag": etag(version)} if version is not None else None
    return view_response(plain, headers, status)
