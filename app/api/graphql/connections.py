"""Relay connections over the domain's keyset pages: ``Connection``, ``Edge``, ``PageInfo``, the
page size rule and each list's cursor.

``first``/``after`` are REST's ``limit``/``cursor``: the same bounds (1-100, default 25; outside
them is a ``validation_error``, as REST answers 422) and the same opaque cursors, so a cursor means
the same thing in both APIs. Each edge's cursor is the key the domain pages by, so the last
edge's cursor is exactly the domain's ``next_cursor`` when there is a next page.

Generic over the node type: this module knows no GraphQL type of the schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import strawberry

from app.domain import (
    care_plan,
    cases,
    consents,
    legal,
    organizations,
    placements,
    referrals,
    updates,
)
from app.domain.errors import ValidationFailed
from app.domain.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.domain.referrals import ReferralView

T = TypeVar("T")
N = TypeVar("N")
NodeT = TypeVar("NodeT")

DEFAULT_FIRST = DEFAULT_LIMIT
MAX_FIRST = MAX_LIMIT


@strawberry.type(description="Where a page ends and whether another follows (Relay)")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool = strawberry.field(
        description="True when this page was asked for with `after`"
    )
    # The page's first and last items and their list's cursor recipe: cursors are encoded
    # only when asked for (a page of cases with their referrals has 51 page infos).
    first: strawberry.Private[Any]
    last: strawberry.Private[Any]
    cursor_of: strawberry.Private[Callable[[Any], str]]

    @strawberry.field
    def start_cursor(self) -> str | None:
        return self.cursor_of(self.first) if self.first is not None else None

    @strawberry.field(
        description="Pass as `after` to get the next page; opaque, stable under inserts"
    )
    def end_cursor(self) -> str | None:
        return self.cursor_of(self.last) if self.last is not None else None


@strawberry.type(description="One item of a page and its cursor (Relay)")
class Edge(Generic[NodeT]):
    node: NodeT
    # The domain item the node was built from and its list's cursor recipe: a cursor is
    # encoded only when the query asks for it (most ask for `pageInfo.endCursor` alone).
    item: strawberry.Private[Any]
    cursor_of: strawberry.Private[Callable[[Any], str]]

    @strawberry.field
    def cursor(self) -> str:
        return self.cursor_of(self.item)


@strawberry.type(description="A page of a list (Relay connection); at most 100 items")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo


def page_size(first: int) -> int:
    if not 1 <= first <= MAX_FIRST:
        raise ValidationFailed(
            f"first must be between 1 and {MAX_FIRST}", loc=["first"], where=None
        )
    return first


def connection(
    page: Page[T], node: Callable[[T], N], cursor: Callable[[T], str], *, after: str | None
) -> Connection[N]:
    items = page.items
    return Connection(
        edges=[Edge(node=node(item), item=item, cursor_of=cursor) for item in items],
        page_info=PageInfo(
            has_next_page=page.next_cursor is not None,
            has_previous_page=after is not None,
            first=items[0] if items else None,
            last=items[-1] if items else None,
            cursor_of=cursor,
        ),
    )


# Each edge's cursor comes from its list's one declaration (app.domain.pagination.KeysetList),
# so it is exactly the cursor REST hands out for the same item.
update_cursor = updates.UPDATES.cursor
consent_cursor = consents.CONSENTS.cursor
case_cursor = cases.CASES.cursor
organization_cursor = organizations.ORGANIZATIONS.cursor
testimony_cursor = legal.TESTIMONY.cursor
placement_cursor = placements.PLACEMENTS.cursor
goal_cursor = care_plan.GOALS.cursor
service_cursor = care_plan.SERVICES.cursor


def referral_cursor(view: ReferralView) -> str:
    return referrals.REFERRALS.cursor(view.row)
