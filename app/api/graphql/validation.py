"""GraphQL input → REST's request model: one set of input rules for both APIs.

Every mutation's input is validated by the same pydantic model that validates the REST body
(lengths, patterns, language tags, aware datetimes, …). A failure is a ``validation_error`` whose
``errors`` locate each problem in GraphQL terms (``["input", "survivor", "givenName"]``) and,
like REST's 422, never repeat the rejected value.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.domain.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def graphql_loc(root: Sequence[str], loc: Sequence[str | int]) -> list[str | int]:
    return [*root, *(camel(p) if isinstance(p, str) else p for p in loc)]


def _plain(value: Any) -> Any:
    """Strawberry input objects → dicts; unset and null fields left out (REST's "absent")."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(v)
            for f in dataclasses.fields(value)
            if (v := getattr(value, f.name)) is not None
        }
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def validated(model: type[M], value: Any, *, root: Sequence[str] = ()) -> M:
    data = _plain(value)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"loc": graphql_loc(root, err["loc"]), "msg": err["msg"], "type": err["type"]}
            for err in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise ValidationFailed(
            "The input did not pass validation; see errors", errors=errors, where=None
        ) from None
