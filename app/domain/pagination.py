"""Keyset pagination: opaque cursors and the page shape every list shares.

A cursor is the sort key of the last item of a page, tagged with the list it belongs to, encoded
as base64url JSON. It carries no survivor data (only ids, names of organisations, timestamps) and
is stable under inserts: new rows never shift a page boundary.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar

import orjson

from app.domain.errors import ValidationFailed

T = TypeVar("T")
K = TypeVar("K")

DEFAULT_LIMIT = 25
MAX_LIMIT = 100
_MIN_BIGINT, _MAX_BIGINT = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(list_name: str, key: Sequence[Any]) -> str:
    payload = orjson.dumps(
        [list_name, *[str(k) if not isinstance(k, int | bool) else k for k in key]]
    )
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode()


def decode_cursor(
    cursor: str | None,
    list_name: str,
    parsers: Sequence[Callable[[Any], Any]],
    parameter: str = "cursor",
) -> tuple[Any, ...] | None:
    """The sort key a cursor of ``list_name`` carries, each value converted by its parser.

    Whatever is not a cursor this list issued — not base64url, not JSON, another list's, the
    wrong number of values, a value of the wrong JSON type, one its parser refuses, a timestamp
    without an offset — is a :class:`ValidationFailed` (422) about the query ``parameter`` that
    carried it, never any other error.
    """
    if cursor is None:
        return None
    try:
        return _decode(cursor, list_name, parsers)
    except Exception as exc:  # a parser may raise anything (UUID(5) is an AttributeError)
        raise ValidationFailed(
            "The cursor is not valid for this list", loc=[parameter], where="query"
        ) from exc


def _decode(
    cursor: str, list_name: str, parsers: Sequence[Callable[[Any], Any]]
) -> tuple[Any, ...]:
    raw = cursor.encode("ascii")
    raw = base64.b64decode(raw + b"=" * (-len(raw) % 4), altchars=b"-_", validate=True)
    data = orjson.loads(raw)
    if not isinstance(data, list) or len(data) != len(parsers) + 1 or data[0] != list_name:
        raise ValueError("not a cursor of this list")
    return tuple(_key(parse, value) for parse, value in zip(parsers, data[1:], strict=True))


def _key(parse: Callable[[Any], Any], value: Any) -> Any:
    # encode_cursor writes integers as JSON integers and every other key as a string.
    if parse is int:
        if type(value) is not int or not _MIN_BIGINT <= value <= _MAX_BIGINT:
            raise ValueError("expected an integer key")
    elif not isinstance(value, str) or "\x00" in value:
        raise ValueError("expected a string key")
    key = parse(value)
    if isinstance(key, datetime):
        if key.tzinfo is None:
            raise ValueError("timestamp without an offset")
        key = key.astimezone(UTC)  # OverflowError at the edges of the calendar
    return key


def paginate(
    rows: Sequence[T], limit: int, list_name: str, key: Callable[[T], Sequence[Any]]
) -> Page[T]:
    """Turn ``limit + 1`` fetched rows into a page and the cursor after its last item."""
    if len(rows) > limit:
        items = list(rows[:limit])
        return Page(items=items, next_cursor=encode_cursor(list_name, key(items[-1])))
    return Page(items=list(rows), next_cursor=None)


def paginate_groups(
    rows: Sequence[T],
    group: Callable[[T], K],
    groups: Sequence[K],
    limit: int,
    list_name: str,
    key: Callable[[T], Sequence[Any]],
) -> dict[K, Page[T]]:
    """:func:`paginate` for several lists fetched in one statement (``limit + 1`` rows each,
    in list order): one page per entry of ``groups``, empty where no row belongs to it."""
    by_group: dict[K, list[T]] = {g: [] for g in groups}
    for row in rows:
        by_group.setdefault(group(row), []).append(row)
    return {g: paginate(items, limit, list_name, key) for g, items in by_group.items()}


def _plain(value: Any) -> Any:
    # Timestamps and days travel as ISO 8601 text; ids, names and integers as they are.
    return value.isoformat() if isinstance(value, datetime | date) else value


@dataclass(frozen=True, slots=True)
class KeysetList:
    """One keyset-paginated list, declared once and used by REST, GraphQL and every other way out.

    ``name`` is carried in its cursors (a cursor of another list is refused), ``fields`` are the
    attributes it is sorted by, in the statement's order (rows and the views built from them
    share these names), and ``parsers`` read each value back from a cursor.
    """

    name: str
    fields: tuple[str, ...]
    parsers: tuple[Callable[[Any], Any], ...]

    def key(self, item: Any) -> tuple[Any, ...]:
        return tuple(_plain(getattr(item, f)) for f in self.fields)

    def cursor(self, item: Any) -> str:
        """The cursor that continues after ``item``."""
        return encode_cursor(self.name, self.key(item))

    def at(self, *key: Any) -> str:
        """The cursor that continues after the position ``key`` (the sort fields' values)."""
        return encode_cursor(self.name, tuple(_plain(k) for k in key))

    def position(self, cursor: str | None, parameter: str = "cursor") -> tuple[Any, ...] | None:
        """The sort key a cursor carries (``None`` for the first page); 422 about the query
        ``parameter`` that carried it when malformed."""
        return decode_cursor(cursor, self.name, self.parsers, parameter)

    def bind(self, key: tuple[Any, ...] | None, *names: str) -> dict[str, Any]:
        """A decoded key (:meth:`position`) as the repository's named parameters, all ``None``
        on the first page."""
        if len(names) != len(self.fields):
            raise TypeError(f"{self.name}: {len(self.fields)} parameter names expected")
        return dict(zip(names, key if key is not None else (None,) * len(names), strict=True))

    def page(self, rows: Sequence[T], limit: int) -> Page[T]:
        """:func:`paginate` with this list's cursor."""
        return paginate(rows, limit, self.name, self.key)

    def pages(
        self, rows: Sequence[T], group: Callable[[T], K], groups: Sequence[K], limit: int
    ) -> dict[K, Page[T]]:
        """:func:`paginate_groups` with this list's cursor."""
        return paginate_groups(rows, group, groups, limit, self.name, self.key)
