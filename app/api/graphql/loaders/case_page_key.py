"""The key of every "a page of something per case" loader, and how such loads are batched."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from app.domain.pagination import Page

T = TypeVar("T")

# The domain's batch read for one (first, after, filter) combination: case id → page.
FetchPages = Callable[[list[UUID], int, str | None, str | None], Awaitable[dict[UUID, Page[T]]]]


@dataclass(frozen=True, slots=True)
class CasePageKey:
    case_id: UUID
    first: int
    after: str | None = None
    filter: str | None = None  # a category, a status: whatever the list filters on


async def load_pages(keys: Sequence[CasePageKey], fetch: FetchPages[T]) -> list[Page[T]]:
    """One domain call (one statement) per distinct (first, after, filter) among ``keys`` —
    usually exactly one, since sibling fields in a query share their arguments."""
    groups: dict[tuple[int, str | None, str | None], list[UUID]] = {}
    for key in keys:
        groups.setdefault((key.first, key.after, key.filter), []).append(key.case_id)
    pages: dict[CasePageKey, Page[T]] = {}
    for (first, after, filter_), case_ids in groups.items():
        found = await fetch(case_ids, first, after, filter_)
        for case_id in case_ids:
            pages[CasePageKey(case_id, first, after, filter_)] = found.get(case_id, Page([], None))
    return [pages[key] for key in keys]
