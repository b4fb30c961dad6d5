from __future__ import annotations

from datetime import date

import strawberry

from app.api.graphql.inputs.contact_input import ContactInput
from app.api.graphql.types.enums import Gender


@strawberry.input(
    description="Only `gender` and one of `dateOfBirth` / `estimatedBirthYear` are required; "
    "a survivor may not disclose a name"
)
class SurvivorInput:
    gender: Gender
    given_name: str | None = None
    family_name: str | None = None
    aliases: list[str] | None = None
    date_of_birth: date | None = None
    estimated_birth_year: int | None = None
    nationality: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2")
    languages: list[str] | None = strawberry.field(default=None, description="BCP 47 tags")
    contact: ContactInput | None = None
