"""Retiring a route or a field: ``Deprecation`` and ``Sunset`` headers, ``deprecated: true`` in
the OpenAPI document (the policy is in CHANGELOG.md and docs/partner-guide.md).

A retired operation is declared once, where its route is::

    RETIRED_SEARCH = Sunset(
        since=date(2027, 1, 4),  # announced: the Deprecation date
        date=date(2027, 7, 5),  # stops working: the Sunset date, at least 6 months later
        link="https://github.com/…/CHANGELOG.md#…",  # what to use instead
    )

    @router.get("/v1/old-search", **retired(RETIRED_SEARCH))
    async def old_search(...) -> ...: ...

Every response of the operation (errors included, once the route is matched) then carries
``Deprecation: @<epoch seconds>`` (RFC 9745), ``Sunset: <HTTP-date>`` (RFC 8594) and
``Link: <link>; rel="deprecation"``, and the operation is ``deprecated: true`` in the document.
A retired **field** is marked ``Field(deprecated=True, description="… Sunset: <date>, <link>")``
(``deprecated: true`` in its schema) and every operation that reads or writes it is declared
with ``**retired(...)`` as well, so clients that use it hear about it from the headers.

The headers are added by ``ApiMiddleware`` (which already edits every response's
headers) from the ``Sunset`` the route's dependency leaves in the ASGI scope: nothing runs for
routes that are not retired.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from email.utils import format_datetime
from functools import cached_property
from typing import Any

from fastapi import Depends, Request

SCOPE_KEY = "aftercare.sunset"


@dataclass(frozen=True)
class Sunset:
    since: date
    date: date
    link: str

    def __post_init__(self) -> None:
        if self.date <= self.since:
            raise ValueError("a route's sunset comes after its deprecation")
        if not self.link.startswith("https://"):
            raise ValueError("the deprecation link is an https:// URL")

    @cached_property
    def headers(self) -> list[tuple[bytes, bytes]]:
        deprecated = datetime.combine(self.since, time(), UTC)
        sunset = datetime.combine(self.date, time(), UTC)
        return [
            (b"deprecation", f"@{int(deprecated.timestamp())}".encode()),
            (b"sunset", format_datetime(sunset, usegmt=True).encode()),
            (b"link", f'<{self.link}>; rel="deprecation"'.encode()),
        ]

    def __call__(self, request: Request) -> None:
        request.scope[SCOPE_KEY] = self


def retired(sunset: Sunset) -> dict[str, Any]:
    """The route decorator's arguments for a retired operation."""
    return {
        "deprecated": True,
        "dependencies": [Depends(sunset)],
        "openapi_extra": {"x-sunset": sunset.date.isoformat()},
    }


def sunset_headers(scope: MutableMapping[str, Any]) -> list[tuple[bytes, bytes]]:
    sunset = scope.get(SCOPE_KEY)
    return sunset.headers if isinstance(sunset, Sunset) else []
