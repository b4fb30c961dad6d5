"""Pure rules of app.domain.consents: the consent rules — no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from app.domain.consents import ConsentInput, check_consent
from app.domain.errors import ValidationFailed
from app.domain.vocabulary import Category, Granter

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def error_locs(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[list[Any]]:
    """The locations as REST reports them: the field path under its root (``where``)."""
    return [[exc.value.where, *e["loc"]] for e in exc.value.extra["errors"]]


def consent_input(**overrides: Any) -> ConsentInput:
    values: dict[str, Any] = {
        "granted_by": [Granter.SURVIVOR],
        "categories": [Category.MEDICAL],
        "purpose": "treatment",
        "obtained_at": NOW - timedelta(hours=1),
        "recipient_org_id": UUID(int=7),
        "recipient_kinds": None,
        "expires_at": None,
    }
    values.update(overrides)
    return ConsentInput(**values)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="org"),
        pytest.param(
            {"recipient_org_id": None, "recipient_kinds": ["medical_provider"]}, id="kinds"
        ),
        pytest.param({"recipient_kinds": []}, id="org_with_empty_kinds"),
        pytest.param({"obtained_at": NOW}, id="obtained_now"),
        pytest.param({"obtained_at": NOW + timedelta(minutes=5)}, id="obtained_at_skew_limit"),
        pytest.param({"obtained_at": NOW - timedelta(days=400)}, id="obtained_long_ago"),
        pytest.param(
            {"expires_at": NOW - timedelta(hours=1) + timedelta(microseconds=1)},
            id="expires_just_after_obtained",
        ),
        pytest.param({"expires_at": NOW + timedelta(days=365)}, id="expires_next_year"),
    ],
)
def test_check_consent_accepts(overrides: dict[str, Any]) -> None:
    check_consent(consent_input(**overrides), is_minor=False, now=NOW)


@pytest.mark.parametrize(
    ("overrides", "is_minor", "loc"),
    [
        pytest.param(
            {"recipient_kinds": ["medical_provider"]},
            False,
            ["body", "recipient_org_id"],
            id="both_recipient_forms",
        ),
        pytest.param(
            {"recipient_org_id": None}, False, ["body", "recipient_org_id"], id="no_recipient"
        ),
        pytest.param(
            {"recipient_org_id": None, "recipient_kinds": []},
            False,
            ["body", "recipient_org_id"],
            id="empty_kinds_only",
        ),
        pytest.param({}, True, ["body", "granted_by"], id="minor_survivor_only"),
        pytest.param({"granted_by": []}, True, ["body", "granted_by"], id="minor_nobody_granted"),
        pytest.param(
            {"obtained_at": NOW + timedelta(minutes=5, microseconds=1)},
            False,
            ["body", "obtained_at"],
            id="obtained_beyond_skew",
        ),
        pytest.param(
            {"obtained_at": NOW + timedelta(days=1)},
            False,
            ["body", "obtained_at"],
            id="obtained_tomorrow",
        ),
        pytest.param(
            {"expires_at": NOW - timedelta(hours=1)},
            False,
            ["body", "expires_at"],
            id="expires_at_obtained",
        ),
        pytest.param(
            {"expires_at": NOW - timedelta(days=2)},
            False,
            ["body", "expires_at"],
            id="expires_before_obtained",
        ),
    ],
)
def test_check_consent_rejects(overrides: dict[str, Any], is_minor: bool, loc: list[str]) -> None:
    with pytest.raises(ValidationFailed) as exc:
        check_consent(consent_input(**overrides), is_minor=is_minor, now=NOW)
    assert error_locs(exc) == [loc]


@pytest.mark.parametrize(
    "granted_by",
    [
        [Granter.GUARDIAN],
        [Granter.SURVIVOR, Granter.GUARDIAN],
        [Granter.GUARDIAN, Granter.SURVIVOR],
    ],
)
def test_check_consent_minor_with_guardian(granted_by: list[Granter]) -> None:
    check_consent(consent_input(granted_by=granted_by), is_minor=True, now=NOW)


def test_check_consent_adult_without_guardian() -> None:
    check_consent(consent_input(granted_by=[Granter.SURVIVOR]), is_minor=False, now=NOW)


def test_a_consent_naming_the_lead_itself_is_refused() -> None:
    lead = UUID(int=7)
    with pytest.raises(ValidationFailed) as refused:
        check_consent(
            consent_input(recipient_org_id=lead), is_minor=False, now=NOW, lead_org_id=lead
        )
    assert error_locs(refused) == [["body", "recipient_org_id"]]
    check_consent(consent_input(), is_minor=False, now=NOW, lead_org_id=UUID(int=8))
