"""Placement, home-review and visit schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints

from app.api.schemas.common import RequestModel, ResponseModel, ShortText, Timestamp
from app.domain.placements import HomeReview, OverdueVisit, Placement, Visit
from app.domain.vocabulary import ExitReason, PlacementSetting, ReviewResult

Text = Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class PlacementIn(RequestModel):
    org_id: UUID = Field(description="The organisation providing the placement")
    setting: PlacementSetting
    started_at: Timestamp
    home_review_id: UUID | None = Field(
        default=None, description="Required for community_family and foster_family (approved)"
    )


class PlacementEndIn(RequestModel):
    ended_at: Timestamp
    exit_reason: ExitReason
    authorization_ref: ShortText | None = Field(
        default=None,
        description="The court's or social-welfare authority's decision; required for a "
        "minor's exit other than `transferred`",
    )


class PlacementOut(ResponseModel):
    id: UUID
    case_id: UUID
    org_id: UUID
    placed_by_org_id: UUID
    setting: PlacementSetting
    home_review_id: UUID | None
    started_at: datetime
    ended_at: datetime | None
    exit_reason: ExitReason | None
    authorization_ref: str | None
    last_visit_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, placement: Placement) -> PlacementOut:
        return cls.model_validate(placement)


class HomeReviewIn(RequestModel):
    reviewed_at: Timestamp
    result: ReviewResult
    notes: Text | None = None


class HomeReviewOut(ResponseModel):
    id: UUID
    case_id: UUID
    reviewer_org_id: UUID
    reviewed_at: datetime
    result: ReviewResult
    notes: str | None
    created_at: datetime
    updated_at: datetime = Field(description="A review never changes: its `created_at`")
    version: int = Field(description="A review never changes: 1")

    @classmethod
    def of(cls, review: HomeReview) -> HomeReviewOut:
        return cls.model_validate(review)


class VisitIn(RequestModel):
    visited_at: Timestamp
    summary: Text


class VisitOut(ResponseModel):
    id: UUID
    placement_id: UUID
    visitor_org_id: UUID
    visited_at: datetime
    summary: str
    created_at: datetime
    updated_at: datetime = Field(description="A visit never changes: its `created_at`")
    version: int = Field(description="A visit never changes: 1")

    @classmethod
    def of(cls, visit: Visit) -> VisitOut:
        return cls.model_validate(visit)


class OverdueVisitOut(ResponseModel):
    placement_id: UUID
    case_id: UUID
    case_reference: str
    org_id: UUID
    setting: PlacementSetting
    started_at: datetime
    last_visit_at: datetime | None
    days_overdue: int

    @classmethod
    def of(cls, item: OverdueVisit) -> OverdueVisitOut:
        row = item.row
        return cls(
            placement_id=row.id,
            case_id=row.case_id,
            case_reference=row.reference,
            org_id=row.org_id,
            setting=row.setting,
            started_at=row.started_at,
            last_visit_at=row.last_visit_at,
            days_overdue=item.days_overdue,
        )
