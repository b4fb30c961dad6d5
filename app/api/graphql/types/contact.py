from __future__ import annotations

import strawberry

from app.api.schemas.cases import ContactOut


@strawberry.type(description="How to reach someone (identity)")
class Contact:
    phone: str | None
    email: str | None
    address: str | None

    @classmethod
    def of(cls, out: ContactOut | None) -> Contact | None:
        if out is None:
            return None
        return cls(phone=out.phone, email=out.email, address=out.address)
