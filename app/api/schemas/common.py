"""Base models: requests forbid unknown fields; responses are explicit about every field."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints


class RequestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

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
