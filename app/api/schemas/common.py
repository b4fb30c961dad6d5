"""Base models: requests forbid unknown fields; responses are explicit about every field."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    StringConstraints,
    model_validator,
)

_MAX_SAFE_INT = 2**53 - 1
_MAX_DEPTH = 16


def _storable(value: Any, depth: int = 0) -> None:
    """Reject what PostgreSQL or the JSON encoder cannot store, before anything is written:
    NUL characters (invalid in PostgreSQL text and jsonb), integers beyond JSON's safe range,
    non-finite floats, and absurdly deep nesting."""
    if depth > _MAX_DEPTH:
        raise ValueError("nested too deeply")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("text must not contain NUL characters")
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise ValueError("number out of range")
    elif isinstance(value, float):
        if not math.isfinite(value):  # JSON has no NaN or Infinity; jsonb would store null
            raise ValueError("number out of range")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key, depth + 1)
            _storable(item, depth + 1)
    elif isinstance(value, BaseModel):
        return  # a nested request model checked its own values
    elif isinstance(value, list | tuple):
        for item in value:
            _storable(item, depth + 1)


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # An "after" check: a model-level "before" validator would hand pydantic a Python dict and
    # so defeat the strict JSON-mode validation of request bodies (app.api.json_body).
    @model_validator(mode="after")
    def _only_storable_values(self) -> Self:
        for name in type(self).model_fields:
            _storable(getattr(self, name), depth=1)
        return self

    def reject_explicit_nulls(self, *fields: str) -> None:
        """For PATCH bodies: ``null`` is not a way to clear these fields."""
        for name in fields:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def _language(value: str) -> str:
    if not _LANGUAGE.match(value):
        raise ValueError("must be a BCP 47 language tag such as 'en', 'th' or 'pt-BR'")
    return value


LanguageTag = Annotated[str, StringConstraints(max_length=35), AfterValidator(_language)]
CountryCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{2}$", min_length=2, max_length=2),
]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
RegionCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{2}-[A-Z0-9]{1,3}$", min_length=4, max_length=6),
]

_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _plausible(value: datetime) -> datetime:
    if not _EARLIEST <= value <= _LATEST:
        raise ValueError("must lie between 1900 and 2200")
    return value.astimezone(UTC)


Timestamp = Annotated[AwareDatetime, AfterValidator(_plausible)]
"""An RFC 3339 timestamp with a time zone, within a plausible range; stored as UTC."""
