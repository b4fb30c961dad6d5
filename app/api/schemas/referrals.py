from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field, StringConstraints

from app.api.schemas.common import RequestModel, ResponseModel, Timestamp, ViewWith
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


def _direction(view: ReferralView) -> str:
    return "outgoing" if view.party is Party.SENDER else "incoming"


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

    @staticmethod
    def source(view: ReferralView, *, opened: bool = True, lazy: bool = False) -> ViewWith:
        """The view as the model's fields: its row, with the text opened for this party
        (``opened=False``: without the text, which GraphQL opens only when it is asked for;
        ``lazy``: the row's fields read when asked for, :meth:`ViewWith.over`)."""
        text = (
            {"reason": view.reason, "status_reason": view.status_reason, "outcome": view.outcome}
            if opened
            else {}
        )
        return (ViewWith.over if lazy else ViewWith)(
            view.row,
            case_reference=view.case_reference,
            direction=_direction(view),
            preview=view.preview,
            **text,
        )

    @classmethod
    def of(cls, view: ReferralView) -> ReferralOut:
        # Left out, not null, where they are not shown.
        return cls.model_validate(cls.source(view)).left_out_if_null("case_reference", "preview")

    @classmethod
    def plain(cls, view: ReferralView) -> dict[str, Any]:
        """What :meth:`of`'s model serialises to, as a dict for orjson: the same keys in the
        same order, left out where :meth:`of` leaves them out. A page of referrals (the inbox)
        is answered from these, without a model validated and serialised per item, which was
        about half of its CPU time; ``tests/unit/test_plain_responses.py`` holds the two
        together."""
        row = view.row
        # Ids as text here: asyncpg's UUID class is not the standard one, which orjson would
        # serialise itself; each would go through the response's `default` hook, a Python call.
        out: dict[str, Any] = {"id": str(row.id), "case_id": str(row.case_id)}
        if (reference := view.case_reference) is not None:
            out["case_reference"] = reference
        out["from_org_id"] = str(row.from_org_id)
        out["to_org_id"] = str(row.to_org_id)
        out["direction"] = _direction(view)
        out["service"] = row.service
        out["urgency"] = row.urgency
        out["reason"] = view.reason
        out["shared_categories"] = row.shared_categories
        out["respond_by"] = row.respond_by
        out["transfer_lead"] = row.transfer_lead
        out["status"] = row.status
        out["status_reason"] = view.status_reason
        out["outcome"] = view.outcome
        out["reason_code"] = row.reason_code
        out["outcome_code"] = row.outcome_code
        out["responded_at"] = row.responded_at
        out["started_at"] = row.started_at
        out["ended_at"] = row.ended_at
        out["created_at"] = row.created_at
        out["updated_at"] = row.updated_at
        out["version"] = row.version
        if view.preview is not None:
            out["preview"] = view.preview
        return out
