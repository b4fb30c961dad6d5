"""Cursor decoding: a cursor either decodes to the key its list pages by or is a 422, never a 500.

Every list decodes its cursor with per-position converters (``datetime.fromisoformat``, ``UUID``,
``str``, ``int``, ``date.fromisoformat``); whatever a caller crafts must end as the domain's
``ValidationFailed`` for the query's ``cursor`` (REST reports ``["query", "cursor"]``).
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.domain.errors import ValidationFailed
from app.domain.pagination import KeysetList, decode_cursor, encode_cursor

# The shapes the lists use (cases, organizations, the access log, follow-ups).
KEYS: dict[str, Sequence[Callable[[Any], Any]]] = {
    "cases": (datetime.fromisoformat, UUID),
    "organizations": (str, UUID),
    "access_log": (datetime.fromisoformat, UUID, int),
    "follow_ups_due": (date.fromisoformat, UUID),
}


def _crafted(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


def _rejected(cursor: str, list_name: str = "cases") -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(cursor, list_name, KEYS[list_name])
    assert caught.value.where == "query"
    assert caught.value.extra["errors"][0]["loc"] == ["cursor"]


def test_a_cursor_round_trips() -> None:
    when, ident = datetime(2026, 11, 1, 8, 30, tzinfo=UTC), uuid4()
    cursor = encode_cursor("cases", (when.isoformat(), ident))
    assert decode_cursor(cursor, "cases", KEYS["cases"]) == (when, ident)
    log = encode_cursor("access_log", (when.isoformat(), ident, 7))
    assert decode_cursor(log, "access_log", KEYS["access_log"]) == (when, ident, 7)
    assert decode_cursor(None, "cases", KEYS["cases"]) is None


@pytest.mark.parametrize(
    ("payload", "list_name"),
    [
        pytest.param(["cases", "2026-11-01T00:00:00+00:00", 5], "cases", id="number-for-uuid"),
        pytest.param(["cases", "2026-11-01T00:00:00+00:00", {}], "cases", id="object-for-uuid"),
        pytest.param(["cases", "2026-11-01T00:00:00+00:00", None], "cases", id="null-for-uuid"),
        pytest.param(["cases", 1700000000, str(uuid4())], "cases", id="number-for-timestamp"),
        pytest.param(["cases", [], str(uuid4())], "cases", id="list-for-timestamp"),
        pytest.param(["organizations", 5, str(uuid4())], "organizations", id="number-for-name"),
        pytest.param(["organizations", True, str(uuid4())], "organizations", id="bool-for-name"),
        pytest.param(
            ["access_log", "2026-11-01T00:00:00+00:00", str(uuid4()), "7"],
            "access_log",
            id="string-for-int",
        ),
        pytest.param(
            ["access_log", "2026-11-01T00:00:00+00:00", str(uuid4()), 1.5],
            "access_log",
            id="float-for-int",
        ),
        pytest.param(
            ["access_log", "2026-11-01T00:00:00+00:00", str(uuid4()), True],
            "access_log",
            id="bool-for-int",
        ),
        pytest.param(
            ["access_log", "2026-11-01T00:00:00+00:00", str(uuid4()), 2**63],
            "access_log",
            id="int-beyond-bigint",
        ),
        pytest.param(["cases", "2026-11-01T00:00:00", str(uuid4())], "cases", id="naive-time"),
        pytest.param(
            ["cases", "0001-01-01T00:00:00+14:00", str(uuid4())], "cases", id="before-year-1-utc"
        ),
        pytest.param(["organizations", "a\x00b", str(uuid4())], "organizations", id="nul"),
        pytest.param(["referrals", "2026-11-01T00:00:00+00:00", str(uuid4())], "cases", id="list"),
        pytest.param(["cases", "2026-11-01T00:00:00+00:00"], "cases", id="too-few"),
        pytest.param(
            ["cases", "2026-11-01T00:00:00+00:00", str(uuid4()), 1], "cases", id="too-many"
        ),
        pytest.param([], "cases", id="empty-list"),
        pytest.param({"cases": 1}, "cases", id="object"),
        pytest.param("cases", "cases", id="string"),
        pytest.param(None, "cases", id="null"),
        pytest.param([["cases"], "x", "y"], "cases", id="list-as-name"),
    ],
)
def test_a_cursor_with_a_wrong_type_shape_or_list_is_a_validation_error(
    payload: Any, list_name: str
) -> None:
    _rejected(_crafted(payload), list_name)


@pytest.mark.parametrize(
    "cursor",
    ["", "!!!!", "a", "YQ", "not base64 at all", "ü", "YWJj ZA", "bm90IGpzb24", "e30"],
)
def test_a_cursor_that_is_not_base64_json_is_a_validation_error(cursor: str) -> None:
    _rejected(cursor)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cursor=st.text(max_size=600), list_name=st.sampled_from(sorted(KEYS)))
def test_fuzz_any_string_decodes_or_is_a_validation_error(cursor: str, list_name: str) -> None:
    with contextlib.suppress(ValidationFailed):
        decode_cursor(cursor, list_name, KEYS[list_name])


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
_KEY_VALUE = (
    _JSON
    | st.datetimes(timezones=st.none() | st.timezones()).map(datetime.isoformat)
    | st.dates().map(date.isoformat)
    | st.uuids().map(str)
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    list_name=st.sampled_from(sorted(KEYS)),
    head=st.sampled_from(sorted(KEYS)) | _JSON,
    values=st.lists(_KEY_VALUE, max_size=4),
    wrapper=st.sampled_from(["list", "as-is"]),
)
def test_fuzz_any_base64_json_payload_decodes_or_is_a_validation_error(
    list_name: str, head: Any, values: list[Any], wrapper: str
) -> None:
    payload: Any = [head, *values] if wrapper == "list" else (values[0] if values else head)
    try:
        key = decode_cursor(_crafted(payload), list_name, KEYS[list_name])
    except ValidationFailed:
        return
    assert key is not None and len(key) == len(KEYS[list_name])
    for value in key:
        if isinstance(value, datetime):
            assert value.utcoffset() is not None


class TestKeysetList:
    """Each list is declared once: its cursor, its page and its repository parameters."""

    LIST = KeysetList("things", ("created_at", "id"), (datetime.fromisoformat, UUID))

    @dataclass(frozen=True)
    class Thing:
        created_at: datetime
        id: UUID

    def test_a_cursor_reads_back_as_the_items_key(self) -> None:
        item = self.Thing(datetime(2026, 11, 30, 9, 0, tzinfo=UTC), uuid4())
        assert self.LIST.position(self.LIST.cursor(item)) == (item.created_at, item.id)
        assert self.LIST.position(None) is None

    def test_bind_names_the_repository_parameters(self) -> None:
        item = self.Thing(datetime(2026, 11, 30, 9, 0, tzinfo=UTC), uuid4())
        key = self.LIST.position(self.LIST.cursor(item))
        assert self.LIST.bind(key, "after_ts", "after_id") == {
            "after_ts": item.created_at,
            "after_id": item.id,
        }
        assert self.LIST.bind(None, "after_ts", "after_id") == {"after_ts": None, "after_id": None}
        with pytest.raises(TypeError):
            self.LIST.bind(None, "after_ts")

    def test_the_next_cursor_of_a_page_is_its_last_items_cursor(self) -> None:
        items = [self.Thing(datetime(2026, 11, 30, 9, i, tzinfo=UTC), uuid4()) for i in range(3)]
        page = self.LIST.page(items, 2)
        assert page.items == items[:2]
        assert page.next_cursor == self.LIST.cursor(items[1])
        assert self.LIST.page(items, 3).next_cursor is None

    def test_another_lists_cursor_is_refused(self) -> None:
        other = KeysetList("others", ("created_at", "id"), (datetime.fromisoformat, UUID))
        item = self.Thing(datetime(2026, 11, 30, 9, 0, tzinfo=UTC), uuid4())
        with pytest.raises(ValidationFailed):
            self.LIST.position(other.cursor(item))
