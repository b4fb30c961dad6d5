"""Pure rules, no database."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from app.api.conditional import etag, expected_version
from app.api.schemas.common import CountryCode, Day, LanguageTag, RegionCode
from app.db import tables
from app.domain.clients import Client
from app.domain.errors import PreconditionFailed, PreconditionRequired, ValidationFailed
from app.domain.idempotency import check_key, fingerprint
from app.domain.organizations import CapacityEntry, check_capacity
from app.domain.pagination import decode_cursor, encode_cursor, paginate
from app.domain.scopes import (
    ALL_SCOPES,
    parse_scope,
    read_scope_for,
    unknown_scopes,
    write_scope_for,
)
from app.domain.tokens import OAuthError, grant_scopes
from app.domain.vocabulary import Category, OrganizationKind, ServiceKind


def test_contract_scopes_are_exactly_these() -> None:
    assert {
        "directory:write",
        "cases:read",
        "cases:write",
        "consents:write",
        "referrals:read",
        "referrals:write",
        "medical:read",
        "medical:write",
        "counseling:read",
        "counseling:write",
        "legal:read",
        "legal:write",
        "education:read",
        "education:write",
        "placements:read",
        "placements:write",
        "events:read",
        "webhooks:manage",
        "reports:read",
        "audit:read",
    } == ALL_SCOPES


@pytest.mark.parametrize(
    ("category", "read", "write"),
    [
        (Category.DEMOGRAPHICS, "cases:read", None),
        (Category.IDENTITY, "cases:read", None),
        (Category.EXPLOITATION, "cases:read", None),
        (Category.GENERAL, "cases:read", None),
        (Category.MEDICAL, "medical:read", "medical:write"),
        (Category.COUNSELING, "counseling:read", "counseling:write"),
        (Category.LEGAL, "legal:read", "legal:write"),
        (Category.EDUCATION, "education:read", "education:write"),
        (Category.PLACEMENT, "placements:read", "placements:write"),
    ],
)
def test_category_scopes(category: Category, read: str, write: str | None) -> None:
    assert read_scope_for(category) == read
    assert write_scope_for(category) == write


def test_parse_scope_dedupes_and_ignores_extra_spaces() -> None:
    assert parse_scope("  cases:read  cases:read legal:read ") == ["cases:read", "legal:read"]
    assert parse_scope(None) == []
    assert unknown_scopes(["cases:read", "cases:delete"]) == ["cases:delete"]


def test_database_vocabularies_match_the_domain() -> None:
    assert set(tables.ORGANIZATION_KINDS) == {k.value for k in OrganizationKind}
    assert set(tables.SERVICE_KINDS) == {s.value for s in ServiceKind}


class TestGrantScopes:
    client = Client("acx_1", uuid.uuid4(), "c", ["cases:read", "legal:read"])

    def test_no_scope_grants_everything_the_client_has(self) -> None:
        assert grant_scopes(self.client, None) == ["cases:read", "legal:read"]

    def test_subset(self) -> None:
        assert grant_scopes(self.client, "legal:read") == ["legal:read"]

    @pytest.mark.parametrize("requested", ["", "   ", "cases:write", "legal:read audit:read"])
    def test_invalid_scope(self, requested: str) -> None:
        with pytest.raises(OAuthError) as exc:
            grant_scopes(self.client, requested)
        assert exc.value.error == "invalid_scope"


class TestCapacity:
    def test_valid(self) -> None:
        assert check_capacity(["shelter"], [CapacityEntry(ServiceKind.SHELTER, 2, 5)]) == []

    def test_errors_name_their_location(self) -> None:
        errors = check_capacity(
            ["shelter"],
            [
                CapacityEntry(ServiceKind.SHELTER, 6, 5),
                CapacityEntry(ServiceKind.SHELTER, 1, 5),
                CapacityEntry(ServiceKind.MEDICAL, 1, 5),
            ],
        )
        assert {
            "loc": ["capacity", 0, "available"],
            "msg": "available exceeds maximum",
        } in errors
        assert {"loc": ["capacity", 1, "service"], "msg": "service listed twice"} in errors
        assert {
            "loc": ["capacity", 2, "service"],
            "msg": "capacity given for a service not offered",
        } in errors


class TestCursor:
    def test_round_trip(self) -> None:
        key = ("Harbor", uuid.uuid4())
        cursor = encode_cursor("organizations", key)
        assert decode_cursor(cursor, "organizations", (str, uuid.UUID)) == key

    def test_none(self) -> None:
        assert decode_cursor(None, "organizations", (str,)) is None

    @pytest.mark.parametrize(
        "cursor",
        [
            "!!!",
            "bm90IGpzb24",
            encode_cursor("cases", ("x", uuid.uuid4())),
            encode_cursor("organizations", ("x",)),
            encode_cursor("organizations", ("x", "not-a-uuid")),
        ],
    )
    def test_rejects_foreign_or_broken_cursors(self, cursor: str) -> None:
        with pytest.raises(ValidationFailed) as exc:
            decode_cursor(cursor, "organizations", (str, uuid.UUID))
        assert exc.value.where == "query"
        assert exc.value.extra["errors"][0]["loc"] == ["cursor"]

    def test_paginate(self) -> None:
        page = paginate([1, 2, 3], 2, "n", lambda n: (n,))
        assert page.items == [1, 2]
        assert decode_cursor(page.next_cursor, "n", (int,)) == (2,)
        assert paginate([1, 2], 2, "n", lambda n: (n,)).next_cursor is None


class TestIfMatch:
    def test_missing_is_428(self) -> None:
        for value in (None, "", "  "):
            with pytest.raises(PreconditionRequired):
                expected_version(value)

    def test_star_matches_any(self) -> None:
        assert expected_version("*") is None

    def test_parses_a_strong_tag(self) -> None:
        assert expected_version(etag(7)) == frozenset({7})
        assert expected_version(f" {etag(0)} ") == frozenset({0})

    def test_a_list_accepts_any_of_its_strong_tags(self) -> None:
        assert expected_version('"1", "2"') == frozenset({1, 2})
        assert expected_version('"1", W/"2", "abc", , "3"') == frozenset({1, 3})

    @pytest.mark.parametrize("value", ['W/"7"', 'W/"7", W/"8"', '"abc"', '"07"', '"-7"', '"1e3"'])
    def test_weak_if_match_never_matches_is_412(self, value: str) -> None:
        # RFC 9110 §13.1.1: If-Match uses the strong comparison.
        with pytest.raises(PreconditionFailed):
            expected_version(value)

    @pytest.mark.parametrize(
        "value", ["7", '"7', '"7" x', '"7" "8"', '*, "7"', 'w/"7"', '" 7"', '"7"";"', 'W/ "7"']
    )
    def test_malformed_if_match_is_412_even_with_a_matching_tag_in_it(self, value: str) -> None:
        with pytest.raises(PreconditionFailed):
            expected_version(value)


class TestIdempotencyRules:
    def test_fingerprint_depends_on_method_path_and_body(self) -> None:
        base = fingerprint("POST", "/v1/x", b"{}")
        assert base == fingerprint("post", "/v1/x", b"{}")
        assert base != fingerprint("POST", "/v1/y", b"{}")
        assert base != fingerprint("POST", "/v1/x", b'{"a":1}')
        # Length-prefixed: moving bytes between parts changes the fingerprint.
        assert fingerprint("POST", "/v1/x", b"") != fingerprint("POST", "/v1/", b"x")

    @pytest.mark.parametrize("key", ["", "a b", "é", "x" * 256, "abc\n", "x" * 255 + "\n"])
    def test_bad_keys(self, key: str) -> None:
        with pytest.raises(ValidationFailed):
            check_key(key)

    def test_good_key(self) -> None:
        assert check_key("3f1c-retry_1") == "3f1c-retry_1"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (LanguageTag, "en\n"),
        (Day, "2026-01-01\n"),
        (CountryCode, "TH\n"),
        (RegionCode, "TH-10\n"),
    ],
)
def test_a_trailing_newline_is_not_part_of_a_well_formed_value(kind: Any, value: str) -> None:
    """Python's `$` also matches before a final newline: every pattern must match the whole."""
    with pytest.raises(PydanticValidationError):
        TypeAdapter(kind).validate_json(json.dumps(value), strict=True)


def test_event_data_takes_no_value_with_a_trailing_newline() -> None:
    from app.domain.events import _plain_value

    assert _plain_value("accepted") and _plain_value("2026-01-01")
    assert not _plain_value("accepted\n") and not _plain_value("2026-01-01\n")


def test_a_replay_finds_what_was_made_by_its_location_or_checks_the_case() -> None:
    from app.api.idempotency import _made_id
    from app.domain.idempotency import StoredResponse

    made = uuid.uuid4()
    location = {"Location": f"/v1/cases/{uuid.uuid4()}/goals/{made}"}
    assert _made_id(StoredResponse(201, location, b"{}")) == made
    assert _made_id(StoredResponse(201, {}, b"{}")) is None
    assert _made_id(StoredResponse(201, {"Location": "/v1/odd/place"}, b"{}")) is None
