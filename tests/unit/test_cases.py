"""Pure rules of app.domain.cases: derived age, minors' rules and case references — no database."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest

from app.domain.cases import Identity, check_minor_rules, derive_age, new_reference
from app.domain.errors import ValidationFailed

TODAY = date(2026, 3, 15)


def error_locs(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[list[Any]]:
    """The locations as REST reports them: the field path under its root (``where``)."""
    return [[exc.value.where, *e["loc"]] for e in exc.value.extra["errors"]]


@pytest.mark.parametrize(
    ("identity", "minor", "band"),
    [
        (Identity(date_of_birth=date(2008, 3, 15)), False, "18-24"),
        (Identity(date_of_birth=date(2008, 3, 16)), True, "15-17"),
        (Identity(date_of_birth=TODAY), True, "0-11"),
        (Identity(estimated_birth_year=2008), True, "15-17"),
        (Identity(estimated_birth_year=2007), False, "18-24"),
        (Identity(estimated_birth_year=TODAY.year), True, "0-11"),
        (Identity(estimated_birth_year=1900), False, "50+"),
        (Identity(date_of_birth=date(1976, 3, 15)), False, "50+"),
        (Identity(date_of_birth=date(1976, 3, 16)), False, "35-49"),
    ],
)
def test_derive_age(identity: Identity, minor: bool, band: str) -> None:
    assert derive_age(identity, TODAY) == (minor, band)


@pytest.mark.parametrize(
    ("identity", "loc"),
    [
        pytest.param(
            Identity(date_of_birth=date(2000, 1, 1), estimated_birth_year=2000),
            ["body", "survivor", "date_of_birth"],
            id="both",
        ),
        pytest.param(Identity(), ["body", "survivor", "date_of_birth"], id="neither"),
        pytest.param(
            Identity(date_of_birth=TODAY + timedelta(days=1)),
            ["body", "survivor", "date_of_birth"],
            id="future_dob",
        ),
        pytest.param(
            Identity(estimated_birth_year=TODAY.year + 1),
            ["body", "survivor", "estimated_birth_year"],
            id="future_year",
        ),
        pytest.param(
            Identity(date_of_birth=date(1850, 6, 1)),
            ["body", "survivor", "date_of_birth"],
            id="dob_too_early",
        ),
        pytest.param(
            Identity(estimated_birth_year=1899),
            ["body", "survivor", "estimated_birth_year"],
            id="year_too_early",
        ),
        pytest.param(
            Identity(estimated_birth_year=0),
            ["body", "survivor", "estimated_birth_year"],
            id="year_zero",
        ),
        pytest.param(
            Identity(estimated_birth_year=-5),
            ["body", "survivor", "estimated_birth_year"],
            id="year_negative",
        ),
    ],
)
def test_derive_age_errors(identity: Identity, loc: list[str]) -> None:
    with pytest.raises(ValidationFailed) as exc:
        derive_age(identity, TODAY)
    assert error_locs(exc) == [loc]
    assert exc.value.status == 422
    assert exc.value.code == "validation_error"


def test_derive_age_errors_carry_no_survivor_data() -> None:
    with pytest.raises(ValidationFailed) as exc:
        derive_age(Identity(given_name="Amina", date_of_birth=date(2099, 5, 6)), TODAY)
    text = repr(exc.value.extra) + exc.value.detail
    assert "Amina" not in text
    assert "2099" not in text


@pytest.mark.parametrize(
    ("minor", "guardian", "ok"),
    [
        (True, None, False),
        (True, {}, False),
        (True, {"name": "Guardian", "relationship": "aunt"}, True),
        (False, None, True),
        (False, {}, True),
        (False, {"name": "Guardian"}, True),
    ],
)
def test_check_minor_rules(minor: bool, guardian: dict[str, Any] | None, ok: bool) -> None:
    if ok:
        check_minor_rules(minor, guardian)
    else:
        with pytest.raises(ValidationFailed) as exc:
            check_minor_rules(minor, guardian)
        assert error_locs(exc) == [["body", "guardian"]]


REFERENCE = re.compile(r"^AC-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def test_new_reference_format() -> None:
    refs = [new_reference() for _ in range(500)]
    for ref in refs:
        assert REFERENCE.fullmatch(ref), ref
        assert not set(ref[3:]) & set("ILOU")
    # 40 bits of randomness: 500 draws do not collide, and they use more than a handful of symbols.
    assert len(set(refs)) == len(refs)
    assert len({ch for ref in refs for ch in ref[3:] if ch != "-"}) > 25
