from __future__ import annotations

import strawberry


@strawberry.input(description="How to reach someone")
class ContactInput:
    phone: str | None = None
    email: str | None = None
    address: str | None = None
