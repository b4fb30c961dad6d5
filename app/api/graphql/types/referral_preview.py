from __future__ import annotations

import strawberry

from app.api.graphql.types.enums import ExploitationType, Gender, ServiceKind, Urgency
from app.api.schemas.referrals import Preview


@strawberry.type(
    description="What a receiver decides a pending referral on: de-identified, never names, "
    "dates of birth, contact or location"
)
class ReferralPreview:
    age_band: str = strawberry.field(description="0-11, 12-14, 15-17, 18-24, 25-34, 35-49 or 50+")
    gender: Gender
    languages: list[str]
    needs: list[ServiceKind]
    urgency: Urgency
    is_minor: bool
    exploitation_types: list[ExploitationType]

    @classmethod
    def of(cls, out: Preview | None) -> ReferralPreview | None:
        if out is None:
            return None
        return cls(
            age_band=str(out.age_band),
            gender=out.gender,
            languages=list(out.languages),
            needs=list(out.needs),
            urgency=out.urgency,
            is_minor=out.is_minor,
            exploitation_types=list(out.exploitation_types),
        )
