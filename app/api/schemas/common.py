"""Base models: requests forbid unknown fields; responses are explicit about every field."""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from operator import attrgetter
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetJsonSchemaHandler,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

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

    # Optional fields that may be left out but not sent as ``null`` (PATCH bodies: ``null`` is
    # not a way to clear them): refused with 422, and not nullable in the JSON Schema.
    not_null: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        for name in cls.not_null:
            prop = target.get("properties", {}).get(name)
            if prop is None or "anyOf" not in prop:
                continue
            rest = [s for s in prop["anyOf"] if s != {"type": "null"}]
            extra = {k: v for k, v in prop.items() if k not in ("anyOf", "default")}
            target["properties"][name] = (
                {**rest[0], **extra}
                if len(rest) == 1
                else {
                    "anyOf": rest,
                    **extra,
                }
            )
        return schema

    # An "after" check: a model-level "before" validator would hand pydantic a Python dict and
    # so defeat the strict JSON-mode validation of request bodies (app.api.json_body).
    @model_validator(mode="after")
    def _only_storable_values(self) -> Self:
        for name in type(self).model_fields:
            _storable(getattr(self, name), depth=1)
        self.reject_explicit_nulls(*self.not_null)
        return self

    def reject_explicit_nulls(self, *fields: str) -> None:
        """For PATCH bodies: ``null`` is not a way to clear these fields."""
        for name in fields:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")


class ResponseModel(BaseModel):
    """A response, validated from a domain view's attributes (``model_validate(view)``) where
    they are its fields, else from ``source(view)`` (a :class:`ViewWith`): the one projection of
    the view, which the GraphQL type derived from the model builds from too."""

    model_config = ConfigDict(from_attributes=True)

    def left_out_if_null(self, *fields: str) -> Self:
        """Leave these fields out of the response (``exclude_unset``) where they are null: not
        shown to this caller, rather than empty."""
        for name in fields:
            if getattr(self, name) is None:
                self.__pydantic_fields_set__.discard(name)
        return self


class ViewWith:
    """A domain view with some fields added or replaced: what a response model validates from
    attributes, and its GraphQL type builds from, where the view's own attributes fall short.

    A dataclass view's fields are copied in once (one C-level ``attrgetter`` call), so reading
    them afterwards is a plain attribute read rather than a Python call each: a page of 100
    referrals reads about 1,500 of them."""

    def __init__(self, view: object, **extra: Any) -> None:
        attributes = self.__dict__
        names = _field_names(view.__class__)
        if names:
            values = _getter(names)(view)
            attributes.update(zip(names, values if len(names) > 1 else (values,), strict=True))
        attributes["_view"] = view
        attributes.update(extra)

    @classmethod
    def over(cls, view: object, **extra: Any) -> ViewWith:
        """The same, without copying the view's fields in: each is read from the view when
        asked for. For a reader of a few fields (a GraphQL type reads those a query selects)."""
        with_ = object.__new__(cls)
        attributes = with_.__dict__
        attributes["_view"] = view
        attributes.update(extra)
        return with_

    def __getattr__(self, name: str) -> Any:  # what is not copied in: read from the view
        return getattr(self.__dict__["_view"], name)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(kind)
    if names is None:
        fields = dataclasses.fields(kind) if dataclasses.is_dataclass(kind) else ()
        names = _FIELD_NAMES[kind] = tuple(f.name for f in fields)
    return names


@functools.cache
def _getter(names: tuple[str, ...]) -> Callable[[object], Any]:
    return attrgetter(*names)


class _JsonSchemaExtra:
    """Adds keywords to a type's JSON Schema (what validators check and JSON Schema can say)."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.keywords)
        return schema


_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


def _language(value: str) -> str:
    if not _LANGUAGE.fullmatch(value):
        raise ValueError("must be a BCP 47 language tag such as 'en', 'th' or 'pt-BR'")
    return value


LanguageTag = Annotated[
    str,
    StringConstraints(max_length=35),
    AfterValidator(_language),
    _JsonSchemaExtra(pattern=_LANGUAGE.pattern),
]
CountryCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{2}$", min_length=2, max_length=2),
]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]
RegionCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{2}-[A-Z0-9]{1,3}$", min_length=4, max_length=6),
]

# The year as written: 1900-2199 (what the JSON Schema's pattern says).
_TIMESTAMP = re.compile(r"^(19[0-9]{2}|2[01][0-9]{2})-[0-9]{2}-[0-9]{2}[Tt ]")
TIMESTAMP_PATTERN = r"^(19[0-9]{2}|2[01][0-9]{2})-[0-9]{2}-[0-9]{2}T"
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _rfc3339(value: Any) -> Any:
    # Pydantic would also take a number of seconds (`1`) for a datetime: the contract says RFC 3339.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        raise ValueError("must be an RFC 3339 timestamp with an offset, in the years 1900-2199")
    # Parsed here: after a "before" validator the value counts as Python input, and strict
    # validation (app.api.json_body) takes no string for a datetime there.
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an RFC 3339 timestamp with an offset") from None


def _iso_day(value: Any) -> Any:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise ValueError("must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a date as YYYY-MM-DD") from None


def _plausible(value: datetime) -> datetime:
    if not 1900 <= value.year <= 2199:
        raise ValueError("must lie in the years 1900-2199")
    return value.astimezone(UTC)


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    AfterValidator(_plausible),
    _JsonSchemaExtra(pattern=TIMESTAMP_PATTERN),
]
"""An RFC 3339 timestamp with a time zone, written in the years 1900-2199; stored as UTC."""

Day = Annotated[date, BeforeValidator(_iso_day)]
"""A calendar date, ``YYYY-MM-DD`` (not a number of seconds)."""


def _true_or_false(value: Any) -> Any:
    # A query string's boolean is `true` or `false`, as documented: pydantic's lax mode would
    # also read `yes`, `on`, `1`, `t`, `y` (and their negations).
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError("must be true or false")


QueryBool = Annotated[bool, BeforeValidator(_true_or_false)]
"""A query string's boolean: ``true`` or ``false`` only."""
