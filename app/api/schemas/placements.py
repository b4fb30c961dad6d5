"""Placement, home-review and visit schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import Field, StringConstraints

from app.api.schemas.common import RequestModel, ResponseModel, ShortText, Timestamp
from app.domain.placements import HomeReview, Placement, Visit
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
        return cls(
            id=placement.id,
            case_id=placement.case_id,
            org_id=placement.org_id,
            placed_by_org_id=placement.placed_by_org_id,
            setting=placement.setting,
            home_review_id=placement.home_review_id,
            started_at=placement.started_at,
            ended_at=placement.ended_at,
            exit_reason=placement.exit_reason,
            authorization_ref=placement.authorization_ref,
            last_visit_at=placement.last_visit_at,
            created_at=placement.created_at,
            updated_at=placement.updated_at,
            version=placement.version,
        )


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

    @classmethod
    def of(cls, review: HomeReview) -> HomeReviewOut:
        return cls(
            id=review.id,
            case_id=review.case_id,
            reviewer_org_id=review.reviewer_org_id,
            reviewed_at=review.reviewed_at,
            result=review.result,
            notes=review.notes,
            created_at=review.created_at,
        )


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

    @classmethod
    def of(cls, visit: Visit) -> VisitOut:
        return cls(
            id=visit.id,
            placement_id=visit.placement_id,
            visitor_org_id=visit.visitor_org_id,
            visited_at=visit.visited_at,
            summary=visit.summary,
            created_at=visit.created_at,
        )


class OverdueVisitOut(ResponseModel):
    placement_id: UUID
    case_id: UUID
    case_reference: str
    org_id: UUID
    setting: PlacementSetting
    started_at: datetime
    last_visit_at: datetime | None
    days_overdue: int
