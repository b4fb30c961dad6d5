"""A validation failure as a partner sees it: where and why, never what was rejected, nor the
name of an unknown key (a client keying an object by a survivor's name would have it repeated)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationError

import app.main  # noqa: F401  (every API model defined: their field names are the vocabulary)
from app.api.problems import fields_at, public_errors
from app.api.schemas.common import RequestModel


class _Contact(RequestModel):
    phone: str | None = None
    email_address: Annotated[str | None, Field(alias="email")] = None


class _Person(RequestModel):
    name: str
    contacts: list[_Contact] = []
    primary: _Contact | None = None


class _Body(RequestModel):
    person: _Person
    note: str | int | None = None


def _errors(data: object) -> list[dict[str, object]]:
    try:
        _Body.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        return public_errors(errors, lambda loc: fields_at(_Body, loc))
    raise AssertionError("valid")


def test_fields_at_walks_models_lists_and_optionals() -> None:
    assert fields_at(_Body, []) == ["person", "note"]
    assert fields_at(_Body, ["person"]) == ["name", "contacts", "primary"]
    assert fields_at(_Body, ["person", "contacts", 3]) == ["phone", "email"]
    assert fields_at(_Body | None, ["person", "primary"]) == ["phone", "email"]


def test_fields_at_gives_up_where_it_cannot_know() -> None:
    assert fields_at(_Body, ["nothing"]) is None
    assert fields_at(_Body, ["note"]) is None  # a union of several: no object there
    assert fields_at(_Body, ["person", "name"]) is None  # a string, not an object
    assert fields_at(dict[str, _Body], ["x"]) is None


def test_unknown_keys_are_reported_once_per_object_without_their_names() -> None:
    errors = _errors(
        {
            "person": {
                "name": "A",
                "Planted Name": 1,
                "1987-03-04": 2,
                "contacts": [{"phone": "1"}, {"Planted": 3}],
            }
        }
    )
    assert errors == [
        {
            "loc": ["person", "contacts", 1],
            "msg": "Unknown field (its name is not repeated); the fields here are: phone, email",
            "type": "extra_forbidden",
        },
        {
            "loc": ["person"],
            "msg": "Unknown field (its name is not repeated); the fields here are: name, "
            "contacts, primary",
            "type": "extra_forbidden",
        },
    ]
    assert "Planted" not in str(errors) and "1987" not in str(errors)


def test_other_errors_keep_where_and_why_without_the_value() -> None:
    errors = _errors({"person": {"name": 1987}})
    assert errors == [
        {"loc": ["person", "name"], "msg": "Input should be a valid string", "type": "string_type"}
    ]


def test_without_field_names_the_message_still_says_what_is_wrong() -> None:
    try:
        _Body.model_validate({"person": {"name": "A"}, "Planted": 1})
    except ValidationError as exc:
        errors = public_errors(exc.errors(include_url=False, include_input=False))
    assert errors == [
        {"loc": [], "msg": "Unknown field (its name is not repeated)", "type": "extra_forbidden"}
    ]


def test_a_word_of_the_apis_own_is_named() -> None:
    """``status`` or ``version`` sent where the hub sets them: the name is the API's, not data."""
    errors = _errors({"person": {"name": "A", "version": 2, "Planted": 1}})
    assert errors == [
        {
            "loc": ["person", "version"],
            "msg": "Extra inputs are not permitted",
            "type": "extra_forbidden",
        },
        {
            "loc": ["person"],
            "msg": "Unknown field (its name is not repeated); the fields here are: name, "
            "contacts, primary",
            "type": "extra_forbidden",
        },
    ]
