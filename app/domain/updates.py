"""The case timeline: immutable, categorised updates, seen through the access policy."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import orjson

from app.db.database import Session
from app.db.repositories import updates as repo
from app.db.repositories.updates import UpdateRow
from app.domain.cases import CaseScopedService, LoadedCase
from app.domain.context import MAX_DETAILS_BYTES as MAX_DETAILS_BYTES  # re-exported
from app.domain.context import RequestContext
from app.domain.errors import InsufficientScope, NotFound, ValidationFailed
from app.domain.events import EventType, SubjectType
from app.domain.freetext import CaseText
from app.domain.pagination import KeysetList, Page
from app.domain.principal import Principal
from app.domain.scopes import read_scope_for, write_scope_for
from app.domain.vocabulary import Category, UpdateKind

LIST_NAME = "updates"
UPDATES = KeysetList(LIST_NAME, ("created_at", "id"), (datetime.fromisoformat, UUID))
TABLE = "case_updates"
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class UpdateInput:
    kind: UpdateKind
    category: Category
    occurred_at: datetime
    summary: str
    details: dict[str, Any] | None = None
    supersedes: UUID | None = None


class Immutable:
    """A record that never changes once written (a timeline entry, a home review, a visit; a
    correction is a new record): it carries ``updated_at`` and ``version`` as every resource
    does, always its creation time and 1."""

    __slots__ = ()
    created_at: datetime

    @property
    def updated_at(self) -> datetime:
        return self.created_at

    @property
    def version(self) -> int:
        return 1


@dataclass(frozen=True, slots=True)
class TimelineUpdate(Immutable):
    """A timeline entry with its free text opened."""

    id: UUID
    case_id: UUID
    author_org_id: UUID
    kind: str
    category: str
    occurred_at: datetime
    summary: str
    details: dict[str, Any] | None
    supersedes: UUID | None
    created_at: datetime

    @classmethod
    def of(cls, row: UpdateRow, text: CaseText) -> TimelineUpdate:
        return cls(
            id=row.id,
            case_id=row.case_id,
            author_org_id=row.author_org_id,
            kind=row.kind,
            category=row.category,
            occurred_at=row.occurred_at,
            summary=text.open_column(TABLE, row, "summary"),
            details=text.open_column(TABLE, row, "details"),
            supersedes=row.supersedes,
            created_at=row.created_at,
        )


def own_readable(scopes: frozenset[str]) -> list[str]:
    """Categories of its own updates an organisation reads back: those its token may read.
    (What it wrote stays its own even off the consent, but scopes still narrow.)"""
    return sorted(str(c) for c in Category if read_scope_for(c) in scopes)


def may_read_update(
    category: str,
    author_org_id: UUID,
    *,
    visible: Collection[str],
    org_id: UUID,
    scopes: frozenset[str],
) -> bool:
    """An update is readable in a visible category, or when the caller wrote it and its token
    may read the category (what it wrote stays its own even off the consent)."""
    return category in visible or (author_org_id == org_id and category in own_readable(scopes))


def details_size(details: dict[str, Any]) -> int:
    """Bytes of ``details`` as compact JSON: what it weighs in every response that holds it."""
    try:
        return len(orjson.dumps(details))
    except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits: it could not be stored
        raise ValidationFailed(
            "details holds a value that cannot be stored (integers are limited to 64 bits)",
            loc=["details"],
        ) from None


class UpdateService(CaseScopedService):
    def __init__(self, ctx: RequestContext) -> None:
        super().__init__(ctx)
        self.max_details_bytes = ctx.max_details_bytes

    async def post(self, case_id: UUID, data: UpdateInput) -> TimelineUpdate:
        if data.details is not None and details_size(data.details) > self.max_details_bytes:
            raise ValidationFailed(
                f"details must be at most {self.max_details_bytes:,} bytes as JSON",
                loc=["details"],
            )
        await self.session.begin()
        loaded = await self.cases.load(case_id)
        if data.category not in loaded.access.writable:
            scope = write_scope_for(data.category)
            if scope is not None and scope not in self.principal.scopes:
                raise InsufficientScope(["cases:write", scope])
            raise ValidationFailed("You may not post updates in this category", loc=["category"])
        if data.occurred_at > datetime.now(UTC) + CLOCK_SKEW:
            raise ValidationFailed("occurred_at is in the future", loc=["occurred_at"])
        if data.supersedes is not None:
            previous = await repo.get(self.session, data.supersedes, case_id)
            visible = previous is not None and (
                previous.category in loaded.access.visible
                or previous.author_org_id == self.principal.org_id
            )
            if previous is None or not visible:
                raise ValidationFailed(
                    "supersedes must name an update of this case", loc=["supersedes"]
                )
            if previous.category != data.category:
                raise ValidationFailed(
                    "A correction keeps the category of the update it supersedes",
                    loc=["category"],
                )
        text = self.cases.text(loaded.row)
        update_id = uuid4()
        row = await repo.insert(
            self.session,
            id=update_id,
            case_id=case_id,
            author_org_id=self.principal.org_id,
            author_client_id=self.principal.client_id,
            kind=str(data.kind),
            category=str(data.category),
            occurred_at=data.occurred_at,
            supersedes=data.supersedes,
            **text.seal_all(TABLE, update_id, summary=data.summary, details=data.details),
        )
        await self.audit.record(self.principal, "update.create", [case_id], [data.category])
        await self.outbox.to_case(
            EventType.CASE_UPDATE_ADDED,
            case_id,
            subject=(SubjectType.CASE_UPDATE, update_id),
            data={"category": data.category, "update_id": update_id},
            category=data.category,
        )
        return TimelineUpdate.of(row, text)

    async def get(self, case_id: UUID, update_id: UUID) -> TimelineUpdate:
        loaded = await self.cases.load(case_id)
        row = await repo.get(self.session, update_id, case_id)
        if row is None or not may_read_update(
            row.category,
            row.author_org_id,
            visible=loaded.access.visible,
            org_id=self.principal.org_id,
            scopes=self.principal.scopes,
        ):
            raise NotFound("No such update")
        await self.audit.record(self.principal, "update.read", [case_id], [row.category])
        return TimelineUpdate.of(row, self.cases.text(loaded.row))

    async def list(
        self, case_id: UUID, *, category: Category | None, limit: int, cursor: str | None
    ) -> Page[TimelineUpdate]:
        loaded = await self.cases.load(case_id)
        after = UPDATES.position(cursor)
        visible = sorted(str(c) for c in loaded.access.visible)
        rows = await repo.page(
            self.session,
            case_id=case_id,
            categories=visible,
            author_org_id=self.principal.org_id,
            own_categories=own_readable(self.principal.scopes),
            category=str(category) if category else None,
            **UPDATES.bind(after, "after_ts", "after_id"),
            limit=limit + 1,
        )
        page = UPDATES.page(rows, limit)
        if page.items:
            await self.audit.record(
                self.principal, "update.list", [case_id], {r.category for r in page.items}
            )
        text = self.cases.text(loaded.row)
        return Page([TimelineUpdate.of(r, text) for r in page.items], page.next_cursor)

    async def pages_for_cases(
        self,
        cases: Sequence[LoadedCase],
        *,
        category: Category | None,
        limit: int,
        cursor: str | None,
    ) -> dict[UUID, Page[TimelineUpdate]]:
        """:meth:`list` for several cases in one statement (each case as the policy let the
        caller see it when it was loaded). One audit row names every case read."""
        loaded = {case.id: case for case in cases}
        if not loaded:
            return {}
        after = UPDATES.position(cursor)
        pairs = [(i, str(c)) for i, case in loaded.items() for c in case.access.visible]
        rows = await repo.pages_for_cases(
            self.session,
            case_ids=list(loaded),
            visible_case_ids=[p[0] for p in pairs],
            visible_categories=[p[1] for p in pairs],
            author_org_id=self.principal.org_id,
            own_categories=own_readable(self.principal.scopes),
            category=str(category) if category else None,
            **UPDATES.bind(after, "after_ts", "after_id"),
            limit=limit + 1,
        )
        pages = UPDATES.pages(
            rows,
            lambda r: r.case_id,
            list(loaded),
            limit,
        )
        read = [i for i, page in pages.items() if page.items]
        if read:
            categories = {r.category for i in read for r in pages[i].items}
            await self.audit.record(self.principal, "update.list", read, categories)
        return {
            i: Page(
                [TimelineUpdate.of(r, self.cases.text(loaded[i].row)) for r in page.items],
                page.next_cursor,
            )
            for i, page in pages.items()
        }


async def append_event(
    session: Session,
    principal: Principal,
    case_id: UUID,
    *,
    text: CaseText,
    category: Category,
    summary: str,
    details: dict[str, Any],
    kind: UpdateKind = UpdateKind.STATUS_CHANGE,
    occurred_at: datetime | None = None,
) -> None:
    """Put something the hub itself did (a referral moved, a placement ended, a follow-up was
    recorded) on the case's timeline, authored by the acting organisation. Callers keep survivor
    data out of ``summary`` and ``details``; both are encrypted like any other timeline text."""
    update_id = uuid4()
    await repo.insert(
        session,
        id=update_id,
        case_id=case_id,
        author_org_id=principal.org_id,
        author_client_id=principal.client_id,
        kind=str(kind),
        category=str(category),
        occurred_at=occurred_at or datetime.now(UTC),
        supersedes=None,
        **text.seal_all(TABLE, update_id, summary=summary, details=details),
    )  # (the case's updated_at too)
