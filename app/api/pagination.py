"""Query parameters and response shape shared by every list (CONTRACT §3)."""

from __future__ import annotations

from typing import Annotated, Generic, TypedDict, TypeVar

from fastapi import Query
from pydantic import BaseModel

from app.domain.pagination import DEFAULT_LIMIT, MAX_LIMIT

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1-{MAX_LIMIT}")]
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="Opaque cursor from the previous page's next_cursor"),
]
DEFAULT_PAGE_SIZE = DEFAULT_LIMIT


class Paging(TypedDict):
    """The page a list request asks for, as its ``limit`` and ``cursor`` query parameters: a
    ``page`` endpoint (app.api.routes) declares ``paging: Paging`` and passes it on to the
    domain's list as keywords (``**paging``)."""

    limit: int
    cursor: str | None


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None
