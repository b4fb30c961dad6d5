from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints

from app.api.schemas.common import RequestModel, ResponseModel, Timestamp
from app.domain.referral_rules import OutcomeCode, Party, ReasonCode, ReferralStatus
from app.domain.referrals import ReferralInput, ReferralView
from app.domain.vocabulary import (
    AgeBand,
    Category,
    ExploitationType,
    Gender,
    ServiceKind,
    Urgency,
)

Text = Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class ReferralCreate(RequestModel):
    case_id: UUID
    to_org_id: UUID
    service: ServiceKind
    urgency: Urgency
    reason: Text
    shared_categories: list[Category] = Field(
        default_factory=lambda: [Category.DEMOGRAPHICS],
        max_length=len(Category),
        description="Every category but demographics needs an active consent for the recipient",
    )
    respond_by: Timestamp | None = None
    transfer_lead: bool = False

    def to_input(self) -> ReferralInput:
        return ReferralInput(
            case_id=self.case_id,
            to_org_id=self.to_org_id,
            service=self.service,
            urgency=self.urgency,
            reason=self.reason,
            shared_categories=list(dict.fromkeys(self.shared_categories)),
            respond_by=self.respond_by,
            transfer_lead=self.transfer_lead,
        )


class AcceptIn(RequestModel):
    pass


class ReasonIn(RequestModel):
    reason: Text


class CodedReasonIn(RequestModel):
    """Declining or failing: why, as a code (counted) and in words (encrypted)."""

    reason_code: ReasonCode = Field(
        default=ReasonCode.OTHER, description="Why, as a code; `other` when left out"
    )
    reason: Text


class OutcomeIn(RequestModel):
    outcome_code: OutcomeCode = Field(
        default=OutcomeCode.SERVICE_PROVIDED,
        description="How it ended, as a code; `service_provided` when left out",
    )
    outcome: Text


class Preview(ResponseModel):
    """De-identified: enough to decide, never names, dates of birth, contact or location."""

    age_band: AgeBand
    gender: Gender
    languages: list[str]
    interpreter_needed: bool
    needs: list[ServiceKind]
    urgency: Urgency
    is_minor: bool
    exploitation_types: list[ExploitationType]


class ReferralOut(ResponseModel):
    id: UUID
    case_id: UUID
    case_reference: str | None = Field(
        default=None, description="For the sender, and the receiver once accepted"
    )
    from_org_id: UUID
    to_org_id: UUID
    direction: str = Field(description="outgoing (you sent it) or incoming (you received it)")
    service: ServiceKind
    urgency: Urgency
    reason: str
    shared_categories: list[Category]
    respond_by: datetime | None
    transfer_lead: bool
    status: ReferralStatus
    status_reason: str | None
    outcome: str | None
    reason_code: ReasonCode | None = Field(
        description="Why it was declined or failed (null otherwise, and for referrals that "
        "ended before codes were recorded)"
    )
    outcome_code: OutcomeCode | None = Field(description="How a completed referral ended")
    responded_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    preview: Preview | None = Field(
        default=None, description="Only for the receiver, while the referral is pending"
    )

    @classmethod
    def of(cls, view: ReferralView) -> ReferralOut:
        row = view.row
        sender = view.party is Party.SENDER
        out = cls(
            id=row.id,
            case_id=row.case_id,
            from_org_id=row.from_org_id,
            to_org_id=row.to_org_id,
            direction="outgoing" if sender else "incoming",
            service=ServiceKind(row.service),
            urgency=Urgency(row.urgency),
            reason=view.reason,
            shared_categories=[Category(c) for c in row.shared_categories],
            respond_by=row.respond_by,
            transfer_lead=row.transfer_lead,
            status=ReferralStatus(row.status),
            status_reason=view.status_reason,
            outcome=view.outcome,
            reason_code=ReasonCode(row.reason_code) if row.reason_code else None,
            outcome_code=OutcomeCode(row.outcome_code) if row.outcome_code else None,
            responded_at=row.responded_at,
            started_at=row.started_at,
            ended_at=row.ended_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )
        if view.case_reference is not None:  # left out, not null, where it is not shown
            out.case_reference = view.case_reference
        if view.preview is not None:
            out.preview = Preview(**view.preview)
        return out
