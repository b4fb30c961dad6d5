from __future__ import annotations

import strawberry

from app.api.graphql.inputs.contact_input import ContactInput


@strawberry.input(description="A minor's guardian")
class GuardianInput:
    relationship: str
    name: str | None = None
    contact: ContactInput | None = None
