"""Where the server and the OpenAPI document were made to agree (found by Schemathesis)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from app.api.json_body import loads
from app.api.schemas.care_plan import ServicePatch
from app.api.schemas.common import Day, Timestamp

TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(Timestamp)


@pytest.mark.parametrize(
    "value", ["1", "0", "1700000000", "2200-01-01T00:00:00Z", "1899-12-31T23:00:00Z"]
)
def test_a_timestamp_is_rfc3339_in_the_documented_years(value: str) -> None:
    with pytest.raises(ValidationError):
        TIMESTAMP.validate_python(value)


def test_a_valid_timestamp_is_stored_as_utc() -> None:
    parsed = TIMESTAMP.validate_python("2026-11-30T14:00:00+02:00")
    assert parsed == datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert TIMESTAMP.validate_json('"2026-11-30T12:00:00Z"', strict=True).tzinfo is UTC


def test_a_day_is_yyyy_mm_dd_not_a_number() -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Day).validate_python("1")
    assert str(TypeAdapter(Day).validate_python("2026-11-30")) == "2026-11-30"


def test_a_whole_number_with_a_fraction_is_an_integer() -> None:
    assert loads(b'{"available": 34787.0, "ratio": 0.5, "big": 1e3}') == {
        "available": 34787,
        "ratio": 0.5,
        "big": 1000,
    }


def test_fields_that_refuse_null_are_not_nullable_in_the_schema() -> None:
    with pytest.raises(ValidationError, match="status may not be null"):
        ServicePatch.model_validate({"status": None})
    properties = ServicePatch.model_json_schema()["properties"]
    assert "anyOf" not in properties["status"]
    assert {"type": "null"} in properties["notes"]["anyOf"]  # `notes: null` clears the notes
