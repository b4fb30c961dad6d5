from __future__ import annotations

import strawberry

from app.api.graphql.types.contact import Contact
from app.api.schemas.cases import GuardianOut


@strawberry.type(description="A minor's guardian (identity)")
class Guardian:
    name: str | None
    relationship: str | None
    contact: Contact | None

    @classmethod
    def of(cls, out: GuardianOut | None) -> Guardian | None:
        if out is None:
            return None
        return cls(name=out.name, relationship=out.relationship, contact=Contact.of(out.contact))
