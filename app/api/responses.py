"""JSON responses for models built field by field (absent = not visible to the caller)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

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


def versioned_response(model: BaseModel, version: int, status: int = 200) -> Response:
    """One resource with its ``ETag`` (its version, for ``If-Match``)."""
    return model_response(model, status, headers={"ETag": etag(version)})


def page_response(page: Page[T], out: type[M], convert: Callable[[T], M]) -> Response:
    """A list response (CONTRACT §3 shape) for a domain page, each item projected by ``convert``."""
    return model_response(
        PageOut[out](  # type: ignore[valid-type]
            items=[convert(item) for item in page.items], next_cursor=page.next_cursor
        )
    )
