"""The error masker on its own: what is kept, what is cut, what is hidden."""

from __future__ import annotations

from collections.abc import Generator
from typing import cast

import pytest
from graphql import GraphQLError

from app.api.graphql.errors import UNEXPECTED, ErrorMasker, shape_error
from app.db.errors import DatabaseUnavailable, TransactionAborted
from app.domain.errors import ConsentRequired, InsufficientScope, NotFound, ValidationFailed


def test_domain_errors_keep_rest_codes_and_extras() -> None:
    shaped = shape_error(GraphQLError("x", path=["case"], original_error=NotFound("No such case")))
    assert (shaped.message, shaped.extensions) == ("No such case", {"code": "not_found"})
    scope = shape_error(GraphQLError("x", original_error=InsufficientScope(["legal:read"])))
    assert scope.extensions == {"code": "insufficient_scope", "requiredScopes": ["legal:read"]}
    consent = shape_error(
        GraphQLError(
            "x",
            original_error=ConsentRequired(
                "No consent",
                loc=["shared_categories"],
                uncovered_categories=["legal"],
            ),
        )
    )
    assert consent.extensions is not None
    assert consent.extensions["code"] == "consent_required"
    assert consent.extensions["uncoveredCategories"] == ["legal"]
    assert consent.extensions["errors"][0]["loc"] == ["input", "sharedCategories"]
    cursor = shape_error(
        GraphQLError("x", original_error=ValidationFailed("bad", loc=["cursor"], where="query"))
    )
    assert cursor.extensions is not None and cursor.extensions["errors"][0]["loc"] == ["after"]


def test_database_unavailable() -> None:
    shaped = shape_error(GraphQLError("x", path=["me"], original_error=DatabaseUnavailable()))
    assert shaped.extensions == {"code": "service_unavailable"}


def test_transaction_aborted_is_unavailable_not_internal() -> None:
    aborted = TransactionAborted("40P01")
    shaped = shape_error(GraphQLError("x", path=["createCase"], original_error=aborted))
    assert shaped.extensions == {"code": "service_unavailable"}
    assert "rolled back" in shaped.message


@pytest.mark.parametrize(
    "message",
    [
        'Value cannot represent a UUID: "SECRET". badly formed hexadecimal UUID string',
        "Variable '$input' has invalid value at .survivor.gender: Value 'SECRET' does not exist "
        "in 'Gender' enum. Did you mean the enum value 'female'?",
        "Variable '$input' has invalid value at .survivor.dateOfBirth: Value cannot represent a "
        "Date: \"SECRET\". Invalid isoformat string: 'SECRET'",
        "Variable '$input' has invalid value at .externalRef: String cannot represent a non "
        "string value: SECRET",
        'Int cannot represent non-integer value: "SECRET"',
        "Expected value of type 'SurvivorInput' to include required field 'gender', found: "
        '{givenName: "SECRET"}.',
        "Syntax Error: Unexpected Name 'SECRET'.",
        'Syntax Error: Expected Name, found String "SECRET".',
        # an unknown key of an input object: in variables it is data, perhaps a name
        "Variable '$i' has invalid value: Expected value of type 'CreateCaseInput' not to "
        "include unknown field 'SECRET'.",
        "Variable '$i' has invalid value at 'i.survivor': Field 'SECRET' is not defined by type "
        "'SurvivorInput'. Did you mean 'gender'?",
    ],
)
def test_document_errors_lose_the_rejected_value(message: str) -> None:
    shaped = shape_error(GraphQLError(message))
    assert shaped.extensions == {"code": "validation_error"}
    assert "SECRET" not in shaped.message
    assert shaped.message  # where and why remain


def test_unexpected_errors_are_masked() -> None:
    shaped = shape_error(GraphQLError("SECRET", path=["case"], original_error=KeyError("SECRET")))
    assert (shaped.message, shaped.extensions) == (UNEXPECTED, {"code": "internal_error"})
    # graphql-core's own execution errors (a bug in a resolver's return) are masked too
    shaped = shape_error(GraphQLError("Cannot return null for non-nullable field", path=["me"]))
    assert shaped.extensions == {"code": "internal_error"}


def test_a_failing_extension_hook_is_masked() -> None:
    hook = cast(Generator[None, None, None], ErrorMasker().on_operation())
    next(hook)
    with pytest.raises(GraphQLError) as raised:
        hook.throw(RuntimeError("SECRET"))
    assert raised.value.message == UNEXPECTED
    assert raised.value.extensions == {"code": "internal_error"}
