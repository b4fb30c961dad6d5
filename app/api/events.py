"""The change feed (CONTRACT "Events and webhooks"): ``GET /v1/events`` with long polling."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Query
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from app.api.context import AppContext
from app.api.deps import EventsReadCtx
from app.api.pagination import DEFAULT_PAGE_SIZE, Limit
from app.api.responses import view_response
from app.api.routes import Routes
from app.api.schemas.events import EventOut, EventPageOut
from app.domain.errors import ValidationFailed
from app.domain.events import MAX_WAIT_SECONDS, EventFeed, EventType

routes = Routes("events", prefix="/v1/events", not_found=False)
router = routes.router


_TYPES = {t.value: t for t in EventType}
_NAME = "(?:" + "|".join(re.escape(name) for name in sorted(_TYPES, key=len, reverse=True)) + ")"
# Known names separated by commas, spaces around them allowed, empty items ignored.
TYPES_PATTERN = f"^ *(?:{_NAME} *)?(?:, *(?:{_NAME} *)?)*$"


def parse_types(values: list[str] | None) -> list[EventType] | None:
    """``types`` given as a comma-separated list, repeated, or both; unknown names → 422."""
    if not values:
        return None
    names = [n.strip(" ") for v in values for n in v.split(",") if n.strip(" ")]
    unknown = sorted({n for n in names if n not in _TYPES})
    if unknown:
        raise ValidationFailed(
            "Unknown event type; see the contract's list", loc=["types"], where="query"
        )
    return list(dict.fromkeys(_TYPES[n] for n in names)) or None


@routes.read("", EventPageOut, 410)
async def list_events(
    ctx: EventsReadCtx,
    request: Request,
    after: Annotated[
        str | None,
        Query(max_length=512, description="`next_cursor` of the previous answer; omit to start"),
    ] = None,
    types: Annotated[
        list[Annotated[str, Field(pattern=TYPES_PATTERN, max_length=2000)]] | None,
        Query(description="Only these event types (comma-separated or repeated)"),
    ] = None,
    limit: Limit = DEFAULT_PAGE_SIZE,
    wait: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_WAIT_SECONDS,
            description="Seconds to hold an empty answer open until an event arrives",
        ),
    ] = 0,
) -> Response:
    """Your change feed, oldest first (long polling with `wait`)"""
    app: AppContext = request.app.state.ctx
    feed = EventFeed(ctx.session, ctx.principal.org_id, app.event_notifications)

    async def still_allowed() -> None:  # a long poll outlives a token revoked meanwhile: 401
        await app.tokens(ctx.session).check_status(ctx.principal)

    page = await feed.read(
        after=after, types=parse_types(types), limit=limit, wait=wait, still_allowed=still_allowed
    )
    # What EventPageOut serialises to, without a model per event (EventOut.plain).
    return view_response(
        {
            "items": [EventOut.plain(item) for item in page.items],
            "next_cursor": page.next_cursor or "",
        },
        headers={"Cache-Control": "no-store"},
    )
