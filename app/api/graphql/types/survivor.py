from __future__ import annotations

from datetime import date

import strawberry

from app.api.graphql.types.contact import Contact
from app.api.graphql.types.enums import Gender
from app.api.schemas.cases import SurvivorOut


@strawberry.type(
    description="The survivor as far as you may see: `gender`, `nationality` and `languages` "
    "need `demographics`; names, birth date and contact need `identity`. A field you may not "
    "see is null."
)
class Survivor:
    gender: Gender | None
    nationality: str | None
    languages: list[str] | None
    given_name: str | None
    family_name: str | None
    aliases: list[str] | None
    date_of_birth: date | None
    estimated_birth_year: int | None
    contact: Contact | None

    @classmethod
    def of(cls, out: SurvivorOut | None) -> Survivor | None:
        if out is None:
            return None
        return cls(
            gender=out.gender,
            nationality=out.nationality,
            languages=out.languages,
            given_name=out.given_name,
            family_name=out.family_name,
            aliases=out.aliases,
            date_of_birth=out.date_of_birth,
            estimated_birth_year=out.estimated_birth_year,
            contact=Contact.of(out.contact),
        )
