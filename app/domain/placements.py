"""Placements, home reviews and visits — category `placement`, the most dangerous datum.

Placement data is never put into previews, reports, logs or audit rows; it is shown only to those
the access policy lets see `placement`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from app.db.repositories import organizations as org_repo
from app.db.repositories import placements as repo
from app.db.repositories.placements import (
    HomeReviewRow,
    OverdueVisitRow,
    PlacementRow,
    VisitRow,
)
from app.domain.cases import CaseScopedService, LoadedCase
from app.domain.errors import Conflict, NotFound, ValidationFailed
from app.domain.events import EventType
from app.domain.facts import access_of
from app.domain.journey_rules import (
    VISIT_INTERVAL,
    check_exit,
    days_overdue,
    needs_home_review,
    needs_visits,
)
from app.domain.pagination import KeysetList, Page
from app.domain.updates import Immutable, append_event
from app.domain.vocabulary import (
    Category,
    ExitReason,
    PlacementSetting,
    ReviewResult,
)

CLOCK_SKEW = timedelta(minutes=5)
PLACEMENT_LIST = "placements"
PLACEMENTS = KeysetList(PLACEMENT_LIST, ("started_at", "id"), (datetime.fromisoformat, UUID))
OVERDUE_LIST = "overdue-visits"
OVERDUE_VISITS = KeysetList(OVERDUE_LIST, ("last_seen_at", "id"), (datetime.fromisoformat, UUID))
TABLE = "placements"
REVIEWS = "home_reviews"
VISITS = "placement_visits"


@dataclass(frozen=True, slots=True)
class PlacementInput:
    org_id: UUID
    setting: PlacementSetting
    started_at: datetime
    home_review_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """A placement with its free text opened."""

    id: UUID
    case_id: UUID
    org_id: UUID
    placed_by_org_id: UUID
    setting: str
    home_review_id: UUID | None
    started_at: datetime
    ended_at: datetime | None
    exit_reason: str | None
    authorization_ref: str | None
    last_visit_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class HomeReview(Immutable):
    """A home review with its free text opened."""

    id: UUID
    case_id: UUID
    reviewer_org_id: UUID
    reviewed_at: datetime
    result: str
    notes: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Visit(Immutable):
    """A placement visit with its free text opened."""

    id: UUID
    placement_id: UUID
    visitor_org_id: UUID
    visited_at: datetime
    summary: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OverdueVisit:
    row: OverdueVisitRow
    days_overdue: int


class PlacementService(CaseScopedService):
    async def _load(self, case_id: UUID, *, write: bool) -> LoadedCase:
        return await self.cases.load_for_category(case_id, Category.PLACEMENT, write=write)

    async def _timeline(self, loaded: LoadedCase, summary: str, details: dict[str, Any]) -> None:
        """Every placement change (a placement started or ended, a home review, a visit) goes on
        the timeline and is announced as ``case.updated`` in ``placement``, to those who may see
        placement data only."""
        await self.outbox.to_case(
            EventType.CASE_UPDATED, loaded.id, categories=[Category.PLACEMENT]
        )
        await append_event(
            self.session,
            self.principal,
            loaded.id,
            text=self.cases.text(loaded.row),
            category=Category.PLACEMENT,
            summary=summary,
            details=details,
        )

    def _placement(self, loaded: LoadedCase, row: PlacementRow) -> Placement:
        return Placement(
            id=row.id,
            case_id=row.case_id,
            org_id=row.org_id,
            placed_by_org_id=row.placed_by_org_id,
            setting=row.setting,
            home_review_id=row.home_review_id,
            started_at=row.started_at,
            ended_at=row.ended_at,
            exit_reason=row.exit_reason,
            authorization_ref=self.cases.text(loaded.row).open(
                TABLE, row.id, "authorization_ref", row.authorization_ref_enc
            ),
            last_visit_at=row.last_visit_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )

    def _review(self, loaded: LoadedCase, row: HomeReviewRow) -> HomeReview:
        return HomeReview(
            id=row.id,
            case_id=row.case_id,
            reviewer_org_id=row.reviewer_org_id,
            reviewed_at=row.reviewed_at,
            result=row.result,
            notes=self.cases.text(loaded.row).open(REVIEWS, row.id, "notes", row.notes_enc),
            created_at=row.created_at,
        )

    def _visit(self, loaded: LoadedCase, row: VisitRow) -> Visit:
        return Visit(
            id=row.id,
            placement_id=row.placement_id,
            visitor_org_id=row.visitor_org_id,
            visited_at=row.visited_at,
            summary=self.cases.text(loaded.row).open(VISITS, row.id, "summary", row.summary_enc),
            created_at=row.created_at,
        )

    async def create(self, case_id: UUID, data: PlacementInput) -> Placement:
        await self.session.begin()
        loaded = await self._load(case_id, write=True)
        if loaded.row.status != "open":
            raise Conflict("A closed case cannot take a new placement")
        if data.started_at > datetime.now(UTC) + CLOCK_SKEW:
            raise ValidationFailed("started_at is in the future", loc=["started_at"])
        if await org_repo.get(self.session, data.org_id) is None:
            raise ValidationFailed("No such organization", loc=["org_id"])
        review = (
            await repo.get_review(self.session, data.home_review_id, case_id)
            if data.home_review_id
            else None
        )
        if data.home_review_id is not None and review is None:
            raise ValidationFailed(
                "home_review_id must name a home review of this case",
                loc=["home_review_id"],
            )
        if needs_home_review(data.setting) and (
            review is None or review.result != ReviewResult.APPROVED
        ):
            raise ValidationFailed(
                "A community-family or foster placement needs an approved home review of this case",
                loc=["home_review_id"],
            )
        placement_id = await repo.insert(
            self.session,
            id=uuid4(),
            case_id=case_id,
            org_id=data.org_id,
            placed_by_org_id=self.principal.org_id,
            setting=str(data.setting),
            home_review_id=data.home_review_id,
            started_at=data.started_at,
        )
        if placement_id is None:
            raise Conflict("The case already has an active placement; end it first")
        await self._timeline(
            loaded,
            f"Placement started: {data.setting.value.replace('_', ' ')}",
            {"placement_id": str(placement_id), "setting": str(data.setting)},
        )
        await self.audit.record(self.principal, "placement.create", [case_id], [Category.PLACEMENT])
        row = await repo.get(self.session, placement_id, case_id)
        assert row is not None
        return self._placement(loaded, row)

    async def end(
        self,
        case_id: UUID,
        placement_id: UUID,
        *,
        ended_at: datetime,
        exit_reason: ExitReason,
        authorization_ref: str | None,
    ) -> Placement:
        await self.session.begin()
        loaded = await self._load(case_id, write=True)
        current = await repo.get(self.session, placement_id, case_id)
        if current is None:
            raise NotFound("No such placement")
        if current.ended_at is not None:
            raise Conflict("The placement has already ended")
        check_exit(
            is_minor=loaded.row.is_minor,
            exit_reason=exit_reason,
            authorization_ref=authorization_ref,
        )
        if ended_at < current.started_at or ended_at > datetime.now(UTC) + CLOCK_SKEW:
            raise ValidationFailed(
                "ended_at must lie between the start of the placement and now",
                loc=["ended_at"],
            )
        if not await repo.end(
            self.session,
            id=placement_id,
            case_id=case_id,
            ended_at=ended_at,
            exit_reason=str(exit_reason),
            authorization_ref_enc=self.cases.text(loaded.row).seal(
                TABLE, placement_id, "authorization_ref", authorization_ref
            ),
        ):
            raise Conflict("The placement has already ended")
        await self._timeline(
            loaded,
            f"Placement ended: {exit_reason.value.replace('_', ' ')}",
            {"placement_id": str(placement_id), "exit_reason": str(exit_reason)},
        )
        await self.audit.record(self.principal, "placement.end", [case_id], [Category.PLACEMENT])
        row = await repo.get(self.session, placement_id, case_id)
        assert row is not None
        return self._placement(loaded, row)

    async def list(self, case_id: UUID, *, limit: int, cursor: str | None) -> Page[Placement]:
        loaded = await self._load(case_id, write=False)
        after = PLACEMENTS.position(cursor)
        rows = await repo.list_page(
            self.session,
            case_id=case_id,
            **PLACEMENTS.bind(after, "after_ts", "after_id"),
            limit=limit + 1,
            audit=self.audit.row(self.principal, "placement.list", [case_id], [Category.PLACEMENT]),
        )
        page = PLACEMENTS.page(rows, limit)
        return Page([self._placement(loaded, r) for r in page.items], page.next_cursor)

    async def pages_for_cases(
        self, cases: Sequence[LoadedCase], *, limit: int, cursor: str | None
    ) -> dict[UUID, Page[Placement]]:
        """:meth:`list` for several cases, already loaded and checked for the caller, in one
        statement; cases whose placements the caller may not see are absent; one audit row
        names the cases read."""
        loaded = {case.id: case for case in cases}
        visible = [i for i, case in loaded.items() if case.access.sees(Category.PLACEMENT)]
        if not visible:
            return {}
        after = PLACEMENTS.position(cursor)
        rows = await repo.pages_for_cases(
            self.session,
            case_ids=visible,
            **PLACEMENTS.bind(after, "after_ts", "after_id"),
            limit=limit + 1,
        )
        pages = PLACEMENTS.pages(
            rows,
            lambda r: r.case_id,
            visible,
            limit,
        )
        await self.audit.record(self.principal, "placement.list", visible, [Category.PLACEMENT])
        return {
            i: Page([self._placement(loaded[i], r) for r in page.items], page.next_cursor)
            for i, page in pages.items()
        }

    async def review(
        self, case_id: UUID, *, reviewed_at: datetime, result: ReviewResult, notes: str | None
    ) -> HomeReview:
        await self.session.begin()
        loaded = await self._load(case_id, write=True)
        if reviewed_at > datetime.now(UTC) + CLOCK_SKEW:
            raise ValidationFailed("reviewed_at is in the future", loc=["reviewed_at"])
        review_id = uuid4()
        row = await repo.insert_review(
            self.session,
            id=review_id,
            case_id=case_id,
            reviewer_org_id=self.principal.org_id,
            reviewed_at=reviewed_at,
            result=str(result),
            notes_enc=self.cases.text(loaded.row).seal(REVIEWS, review_id, "notes", notes),
        )
        await self._timeline(
            loaded, f"Home review: {result.value}", {"home_review_id": str(row.id)}
        )
        await self.audit.record(self.principal, "home_review.create", [case_id], ["placement"])
        return self._review(loaded, row)

    async def visit(
        self, case_id: UUID, placement_id: UUID, *, visited_at: datetime, summary: str
    ) -> Visit:
        await self.session.begin()
        loaded = await self._load(case_id, write=True)
        placement = await repo.get(self.session, placement_id, case_id)
        if placement is None:
            raise NotFound("No such placement")
        if not needs_visits(PlacementSetting(placement.setting)):
            raise ValidationFailed(
                "Visits are recorded on community-family and foster placements",
                loc=["placement_id"],
                where="path",
            )
        if placement.ended_at is not None:
            raise Conflict("The placement has ended")
        if not placement.started_at <= visited_at <= datetime.now(UTC) + CLOCK_SKEW:
            raise ValidationFailed(
                "visited_at must lie between the start of the placement and now",
                loc=["visited_at"],
            )
        visit_id = uuid4()
        row = await repo.insert_visit(
            self.session,
            id=visit_id,
            placement_id=placement_id,
            visitor_org_id=self.principal.org_id,
            visited_at=visited_at,
            summary_enc=self.cases.text(loaded.row).seal(VISITS, visit_id, "summary", summary),
        )
        await self._timeline(loaded, "Placement visit recorded", {"visit_id": str(row.id)})
        await self.audit.record(self.principal, "placement.visit", [case_id], ["placement"])
        return self._visit(loaded, row)

    async def overdue_visits(self, *, limit: int, cursor: str | None) -> Page[OverdueVisit]:
        """The caller's home-based placements with no visit in the last 7 days."""
        now = datetime.now(UTC)
        after = OVERDUE_VISITS.position(cursor)
        rows = await repo.overdue_page(
            self.session,
            org_id=self.principal.org_id,
            due_before=now - VISIT_INTERVAL,
            **OVERDUE_VISITS.bind(after, "after_ts", "after_id"),
            limit=limit + 1,
        )
        page = OVERDUE_VISITS.page(rows, limit)
        items = []
        for row in page.items:
            access = access_of(row, self.principal, now)
            if not access.sees(Category.PLACEMENT):
                continue
            overdue = days_overdue(row.last_visit_at, row.started_at, now)
            if overdue is not None:
                items.append(OverdueVisit(row, overdue))
        if items:
            await self.audit.record(
                self.principal,
                "placement.overdue_list",
                [i.row.case_id for i in items],
                [Category.PLACEMENT],
            )
        return Page(items, page.next_cursor)
