from __future__ import annotations

import strawberry


@strawberry.type(description="Where a page ends and whether another follows (Relay)")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool = strawberry.field(
        description="True when this page was asked for with `after`"
    )
    start_cursor: str | None
    end_cursor: str | None = strawberry.field(
        description="Pass as `after` to get the next page; opaque, stable under inserts"
    )
