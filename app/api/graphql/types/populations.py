from __future__ import annotations

import strawberry

from app.api.graphql.types.enums import Gender
from app.api.schemas.organizations import PopulationsOut


@strawberry.type(description="Whom a partner serves")
class Populations:
    accepts_minors: bool
    accepts_adults: bool
    genders: list[Gender] = strawberry.field(description="Genders served; empty means all")

    @classmethod
    def of(cls, out: PopulationsOut) -> Populations:
        return cls(
            accepts_minors=out.accepts_minors,
            accepts_adults=out.accepts_adults,
            genders=list(out.genders),
        )
