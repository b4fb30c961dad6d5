"""The care plan: goals per domain of care, owned by the partner who works on them, and
structured service records (appointments, sessions, enrolments, assessments, supplies).

Each goal and service record belongs to one category of its case; that category decides who
sees and writes it, through the one access policy (``CaseAccess.visible`` / ``writable`` of the
case as :meth:`CaseService.load` loaded it for the caller): a clinic with `medical` consent sees
the medical goals and not the legal ones; the lead sees all. Free text (a goal's title and
description, a progress note, a service record's notes) is sealed with the case's data key.
Status moves are decided by :mod:`app.domain.care_plan_rules`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID, uuid4

from app.db.database import Session
from app.db.repositories import care_plan as repo
from app.db.repositories import cases as case_repo
from app.db.repositories.care_plan import (
    GoalRow,
    ProgressRecord,
    ScheduledServiceRow,
    ServiceRow,
)
from app.domain.care_plan_rules import check_goal_progress, check_service_move, check_service_times
from app.domain.cases import CaseScopedService, LoadedCase
from app.domain.context import RequestContext
from app.domain.errors import InsufficientScope, NotFound, PreconditionFailed, ValidationFailed
from app.domain.events import EventType, Outbox, SubjectType
from app.domain.facts import access_of
from app.domain.freetext import CaseText, case_text
from app.domain.pagination import KeysetList, Page
from app.domain.scopes import write_scope_for
from app.domain.vocabulary import (
    CarePlanCategory,
    Category,
    GoalStatus,
    ServiceKind,
    ServiceStatus,
    ServiceType,
)

GOAL_LIST = "goals"
GOALS = KeysetList(GOAL_LIST, ("created_at", "id"), (datetime.fromisoformat, UUID))
SERVICE_LIST = "services"
SERVICES = KeysetList(SERVICE_LIST, ("created_at", "id"), (datetime.fromisoformat, UUID))
SCHEDULED_LIST = "scheduled-services"
SCHEDULED = KeysetList(SCHEDULED_LIST, ("scheduled_at", "id"), (datetime.fromisoformat, UUID))
GOALS_TABLE = "goals"
PROGRESS_TABLE = "goal_progress"
SERVICES_TABLE = "service_records"
CLOCK_SKEW = timedelta(minutes=5)
# What one care plan holds at most; the lists page through the rest.
CARE_PLAN_GOALS = 100
CARE_PLAN_SERVICES = 100
OWNER_LEFT = "owner_left"


# -- what the API shows --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProgressEntry:
    id: UUID
    status: str
    note: str | None
    recorded_at: datetime
    recorded_by_org_id: UUID
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Goal:
    """A goal with its free text opened and its status history, oldest first."""

    id: UUID
    case_id: UUID
    category: str
    title: str
    description: str | None
    owner_org_id: UUID
    created_by_org_id: UUID
    target_date: date | None
    status: str
    progress: list[ProgressEntry]
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, row: GoalRow, text: CaseText) -> Goal:
        return cls(
            id=row.id,
            case_id=row.case_id,
            category=row.category,
            title=text.open_column(GOALS_TABLE, row, "title"),
            description=text.open_column(GOALS_TABLE, row, "description"),
            owner_org_id=row.owner_org_id,
            created_by_org_id=row.created_by_org_id,
            target_date=row.target_date,
            status=row.status,
            progress=[_entry(e, text) for e in row.progress],
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )


def _entry(entry: ProgressRecord, text: CaseText) -> ProgressEntry:
    entry_id, status, sealed, recorded_at, recorded_by_org_id, created_at = entry
    return ProgressEntry(
        id=entry_id,
        status=status,
        note=text.open(PROGRESS_TABLE, entry_id, "note", sealed),
        recorded_at=recorded_at,
        recorded_by_org_id=recorded_by_org_id,
        created_at=created_at,
    )


@dataclass(frozen=True, slots=True)
class ServiceCode:
    system: str
    code: str


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """A service record with its notes opened."""

    id: UUID
    case_id: UUID
    category: str
    service: str
    type: str
    status: str
    scheduled_at: datetime | None
    occurred_at: datetime | None
    provider_org_id: UUID
    goal_id: UUID | None
    notes: str | None
    codes: list[ServiceCode]
    recorded_by_org_id: UUID
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, row: ServiceRow, text: CaseText) -> ServiceRecord:
        return cls(
            id=row.id,
            case_id=row.case_id,
            category=row.category,
            service=row.service,
            type=row.type,
            status=row.status,
            scheduled_at=row.scheduled_at,
            occurred_at=row.occurred_at,
            provider_org_id=row.provider_org_id,
            goal_id=row.goal_id,
            notes=text.open_column(SERVICES_TABLE, row, "notes"),
            codes=[ServiceCode(c["system"], c["code"]) for c in row.codes],
            recorded_by_org_id=row.recorded_by_org_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
        )


@dataclass(frozen=True, slots=True)
class ScheduledService:
    record: ServiceRecord
    case_reference: str

    @property
    def scheduled_at(self) -> datetime | None:
        return self.record.scheduled_at

    @property
    def id(self) -> UUID:
        return self.record.id


@dataclass(frozen=True, slots=True)
class Attendance:
    attended: int
    missed: int


@dataclass(frozen=True, slots=True)
class CarePlan:
    """A case's care plan as the caller may see it: its goals, the services still scheduled and
    attended/missed counts per category (only categories the caller sees)."""

    case_id: UUID
    goals: list[Goal]
    services: list[ServiceRecord]
    attendance: dict[str, Attendance]


# -- what partners send --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class GoalInput:
    category: CarePlanCategory
    title: str
    owner_org_id: UUID
    description: str | None = None
    target_date: date | None = None


@dataclass(frozen=True, slots=True)
class ProgressInput:
    status: GoalStatus
    recorded_at: datetime
    note: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceInput:
    service: ServiceKind
    category: CarePlanCategory
    type: ServiceType
    status: ServiceStatus
    provider_org_id: UUID
    scheduled_at: datetime | None = None
    occurred_at: datetime | None = None
    goal_id: UUID | None = None
    notes: str | None = None
    codes: tuple[ServiceCode, ...] = ()


def _not_future(value: datetime | None, name: str) -> None:
    if value is not None and value > datetime.now(UTC) + CLOCK_SKEW:
        raise ValidationFailed(f"{name} is in the future", loc=[name])


_CARE_PLAN_CATEGORIES = frozenset(str(c) for c in CarePlanCategory)


def _care_plan_categories(visible: Iterable[Category]) -> list[str]:
    """The care plan's categories among ``visible`` (sorted: the audit row's order)."""
    return sorted(str(c) for c in visible if str(c) in _CARE_PLAN_CATEGORIES)


def _visible_categories(loaded: LoadedCase) -> list[str]:
    return _care_plan_categories(loaded.access.visible)


class _CareRow(Protocol):
    @property
    def case_id(self) -> UUID: ...

    @property
    def category(self) -> str: ...


R = TypeVar("R", bound=_CareRow)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Kind(Generic[R, V]):
    """What differs between reading goals and reading service records: the list, the
    statements, the view and the words the audit trail and the 404 use."""

    name: str  # "goal" or "service": the audit actions are <name>.read and <name>.list
    missing: str  # the 404's detail
    keyset: KeysetList
    get: Callable[..., Awaitable[R | None]]
    page: Callable[..., Awaitable[list[R]]]
    pages: Callable[..., Awaitable[list[R]]]
    view: Callable[[R, CaseText], V]


_GOALS: _Kind[GoalRow, Goal] = _Kind(
    "goal", "No such goal", GOALS, repo.get_goal, repo.goal_page, repo.goal_pages_for_cases,
    Goal.of,
)  # fmt: skip
_SERVICES: _Kind[ServiceRow, ServiceRecord] = _Kind(
    "service", "No such service record", SERVICES, repo.get_service, repo.service_page,
    repo.service_pages_for_cases, ServiceRecord.of,
)  # fmt: skip


class CarePlanService(CaseScopedService):
    """Goals, service records and the care plan of a case, through the one access policy."""

    def __init__(self, ctx: RequestContext) -> None:
        super().__init__(ctx)
        self.key_wrapper = ctx.key_wrapper

    # -- who may do what ----------------------------------------------------------------------
    def _require_write(
        self, loaded: LoadedCase, category: Category, *, new: bool, missing: str = ""
    ) -> None:
        """Writing ``category`` needs the policy to let the caller both see and write it.
        A missing write scope is 403; otherwise a new item in a category the caller may not
        use is 422 (like a timeline update), an existing one 404 (it does not exist for it)."""
        access = loaded.access
        if category in access.writable and category in access.visible:
            return
        scope = write_scope_for(category)
        if category in access.visible and scope is not None and scope not in self.principal.scopes:
            raise InsufficientScope(["cases:write", scope])
        if not new:
            raise NotFound(missing)
        if scope is not None and scope not in self.principal.scopes:
            raise InsufficientScope(["cases:write", scope])
        raise ValidationFailed("You may not write in this category", loc=["category"])

    async def _check_team(self, loaded: LoadedCase, org_id: UUID, field: str) -> None:
        if org_id == loaded.row.lead_org_id:
            return
        if not await repo.on_care_team(self.session, loaded.id, org_id):
            raise ValidationFailed(
                f"{field} must be the case's lead or a current care-team member", loc=[field]
            )

    def _text(self, loaded: LoadedCase) -> CaseText:
        return self.cases.text(loaded.row)

    # -- goals --------------------------------------------------------------------------------
    async def create_goal(self, case_id: UUID, data: GoalInput) -> Goal:
        await self.session.begin()
        loaded = await self.cases.load(case_id)
        category = Category(data.category)
        self._require_write(loaded, category, new=True)
        await self._check_team(loaded, data.owner_org_id, "owner_org_id")
        text = self._text(loaded)
        goal_id = uuid4()
        row = await repo.insert_goal(
            self.session,
            id=goal_id,
            case_id=case_id,
            category=str(category),
            owner_org_id=data.owner_org_id,
            created_by_org_id=self.principal.org_id,
            target_date=data.target_date,
            **text.seal_all(GOALS_TABLE, goal_id, title=data.title, description=data.description),
        )  # (the case's updated_at too)
        await self.audit.record(self.principal, "goal.create", [case_id], [category])
        await self._goal_event(EventType.GOAL_CREATED, row)
        return Goal.of(row, text)

    async def record_progress(self, case_id: UUID, goal_id: UUID, data: ProgressInput) -> Goal:
        _not_future(data.recorded_at, "recorded_at")
        await self.session.begin()
        loaded = await self.cases.load(case_id)
        current = await repo.get_goal(self.session, goal_id, case_id, lock=True)
        if current is None or Category(current.category) not in loaded.access.visible:
            raise NotFound("No such goal")
        self._require_write(loaded, Category(current.category), new=False, missing="No such goal")
        check_goal_progress(GoalStatus(current.status), data.status, len(current.progress))
        text = self._text(loaded)
        entry_id = uuid4()
        await repo.add_progress(
            self.session,
            id=entry_id,
            goal_id=goal_id,
            status=str(data.status),
            note_enc=text.seal(PROGRESS_TABLE, entry_id, "note", data.note),
            recorded_at=data.recorded_at,
            recorded_by_org_id=self.principal.org_id,
        )
        row = await repo.get_goal(self.session, goal_id, case_id)
        assert row is not None
        await case_repo.touch(self.session, case_id)
        await self.audit.record(self.principal, "goal.progress", [case_id], [current.category])
        await self._goal_event(EventType.GOAL_UPDATED, row, previous_status=current.status)
        return Goal.of(row, text)

    async def get_goal(self, case_id: UUID, goal_id: UUID) -> Goal:
        return await self._get(_GOALS, case_id, goal_id)

    async def list_goals(
        self,
        case_id: UUID,
        *,
        category: CarePlanCategory | None,
        status: GoalStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Goal]:
        return await self._list(_GOALS, case_id, category, status, limit, cursor)

    async def goal_pages_for_cases(
        self,
        cases: Sequence[LoadedCase],
        *,
        category: CarePlanCategory | None,
        status: GoalStatus | None,
        limit: int,
        cursor: str | None,
    ) -> dict[UUID, Page[Goal]]:
        """:meth:`list_goals` for several cases in one statement; one audit row."""
        return await self._pages(_GOALS, cases, category, status, limit, cursor)

    # -- reading either kind: one item, a page, a page for each of several cases --------------
    async def _get(self, kind: _Kind[R, V], case_id: UUID, item_id: UUID) -> V:
        loaded = await self.cases.load(case_id)
        row = await kind.get(self.session, item_id, case_id)
        if row is None or Category(row.category) not in loaded.access.visible:
            raise NotFound(kind.missing)
        await self.audit.record(self.principal, f"{kind.name}.read", [case_id], [row.category])
        return kind.view(row, self._text(loaded))

    async def _list(
        self,
        kind: _Kind[R, V],
        case_id: UUID,
        category: CarePlanCategory | None,
        status: StrEnum | None,
        limit: int,
        cursor: str | None,
    ) -> Page[V]:
        loaded = await self.cases.load(case_id)
        after = kind.keyset.position(cursor)
        rows = await kind.page(
            self.session,
            case_id=case_id,
            categories=_visible_categories(loaded),
            category=str(category) if category else None,
            status=str(status) if status else None,
            **kind.keyset.bind(after, "after_ts", "after_id"),
            limit=limit + 1,
        )
        page = kind.keyset.page(rows, limit)
        if page.items:
            categories = {r.category for r in page.items}
            await self.audit.record(self.principal, f"{kind.name}.list", [case_id], categories)
        text = self._text(loaded)
        return Page([kind.view(r, text) for r in page.items], page.next_cursor)

    async def _pages(
        self,
        kind: _Kind[R, V],
        cases: Sequence[LoadedCase],
        category: CarePlanCategory | None,
        status: StrEnum | None,
        limit: int,
        cursor: str | None,
    ) -> dict[UUID, Page[V]]:
        loaded = {case.id: case for case in cases}
        if not loaded:
            return {}
        after = kind.keyset.position(cursor)
        pairs = [(i, c) for i, case in loaded.items() for c in _visible_categories(case)]
        rows = await kind.pages(
            self.session,
            case_ids=list(loaded),
            visible_case_ids=[p[0] for p in pairs],
            visible_categories=[p[1] for p in pairs],
            category=str(category) if category else None,
            status=str(status) if status else None,
            **kind.keyset.bind(after, "after_ts", "after_id"),
            limit=limit + 1,
        )
        pages = kind.keyset.pages(rows, lambda r: r.case_id, list(loaded), limit)
        read = [i for i, page in pages.items() if page.items]
        if read:
            categories = {r.category for i in read for r in pages[i].items}
            await self.audit.record(self.principal, f"{kind.name}.list", read, categories)
        return {
            i: Page([kind.view(r, self._text(loaded[i])) for r in page.items], page.next_cursor)
            for i, page in pages.items()
        }

    async def _goal_event(
        self, type_: EventType, row: GoalRow, *, previous_status: str | None = None
    ) -> None:
        data: dict[str, Any] = {
            "goal_id": row.id,
            "status": row.status,
            "category": row.category,
            "version": row.version,
        }
        if previous_status is not None:
            data["previous_status"] = previous_status
        await self.outbox.to_case(
            type_,
            row.case_id,
            subject=(SubjectType.GOAL, row.id),
            data=data,
            category=Category(row.category),
        )

    # -- service records ------------------------------------------------------------------------
    async def create_service(self, case_id: UUID, data: ServiceInput) -> ServiceRecord:
        check_service_times(data.status, data.scheduled_at, data.occurred_at)
        _not_future(data.occurred_at, "occurred_at")
        await self.session.begin()
        loaded = await self.cases.load(case_id)
        category = Category(data.category)
        self._require_write(loaded, category, new=True)
        await self._check_team(loaded, data.provider_org_id, "provider_org_id")
        if data.goal_id is not None:
            goal = await repo.get_goal(self.session, data.goal_id, case_id)
            if goal is None or goal.category != str(category):
                raise ValidationFailed(
                    "goal_id must name a goal of this case in the same category", loc=["goal_id"]
                )
        text = self._text(loaded)
        service_id = uuid4()
        row = await repo.insert_service(
            self.session,
            id=service_id,
            case_id=case_id,
            category=str(category),
            service=str(data.service),
            type=str(data.type),
            status=str(data.status),
            scheduled_at=data.scheduled_at,
            occurred_at=data.occurred_at,
            provider_org_id=data.provider_org_id,
            goal_id=data.goal_id,
            notes_enc=text.seal(SERVICES_TABLE, service_id, "notes", data.notes),
            codes=[{"system": c.system, "code": c.code} for c in data.codes],
            recorded_by_org_id=self.principal.org_id,
        )  # (the case's updated_at too)
        await self.audit.record(self.principal, "service.create", [case_id], [category])
        await self._service_event(EventType.SERVICE_CREATED, row)
        return ServiceRecord.of(row, text)

    async def update_service(
        self,
        case_id: UUID,
        service_id: UUID,
        changes: dict[str, Any],
        *,
        expected_version: frozenset[int] | None,
    ) -> ServiceRecord:
        """Change ``status``, ``occurred_at`` and/or ``notes`` (the keys of ``changes``)."""
        await self.session.begin()
        loaded = await self.cases.load(case_id)
        current = await repo.get_service(self.session, service_id, case_id, lock=True)
        if current is None or Category(current.category) not in loaded.access.visible:
            raise NotFound("No such service record")
        self._require_write(
            loaded, Category(current.category), new=False, missing="No such service record"
        )
        if expected_version is not None and current.version not in expected_version:
            raise PreconditionFailed("The service record has changed; fetch it again")
        text = self._text(loaded)
        if not changes:  # nothing to change: the answer is a read
            await self.audit.record(self.principal, "service.read", [case_id], [current.category])
            return ServiceRecord.of(current, text)
        status = ServiceStatus(changes.get("status", current.status))
        check_service_move(ServiceStatus(current.status), status)
        occurred_at = changes.get("occurred_at", current.occurred_at)
        check_service_times(status, current.scheduled_at, occurred_at)
        if "occurred_at" in changes:
            _not_future(occurred_at, "occurred_at")
        notes_enc = current.notes_enc
        if "notes" in changes:
            notes_enc = text.seal(SERVICES_TABLE, service_id, "notes", changes["notes"])
        row = await repo.update_service(
            self.session,
            id=service_id,
            case_id=case_id,
            status=str(status),
            occurred_at=occurred_at,
            notes_enc=notes_enc,
            expected_version=current.version,
        )
        if row is None:  # the row is locked above: only a concurrent delete gets here
            raise PreconditionFailed("The service record has changed; fetch it again")
        await case_repo.touch(self.session, case_id)
        await self.audit.record(self.principal, "service.update", [case_id], [current.category])
        await self._service_event(EventType.SERVICE_UPDATED, row, previous_status=current.status)
        return ServiceRecord.of(row, text)

    async def get_service(self, case_id: UUID, service_id: UUID) -> ServiceRecord:
        return await self._get(_SERVICES, case_id, service_id)

    async def list_services(
        self,
        case_id: UUID,
        *,
        category: CarePlanCategory | None,
        status: ServiceStatus | None,
        limit: int,
        cursor: str | None,
    ) -> Page[ServiceRecord]:
        return await self._list(_SERVICES, case_id, category, status, limit, cursor)

    async def service_pages_for_cases(
        self,
        cases: Sequence[LoadedCase],
        *,
        category: CarePlanCategory | None,
        status: ServiceStatus | None,
        limit: int,
        cursor: str | None,
    ) -> dict[UUID, Page[ServiceRecord]]:
        """:meth:`list_services` for several cases in one statement; one audit row."""
        return await self._pages(_SERVICES, cases, category, status, limit, cursor)

    async def scheduled(
        self, *, before: datetime, limit: int, cursor: str | None
    ) -> Page[ScheduledService]:
        """The caller's own services still scheduled before ``before``, across the cases it may
        still see in the record's category (the policy applied to each row)."""
        after = SCHEDULED.position(cursor)
        rows = await repo.scheduled_page(
            self.session,
            org_id=self.principal.org_id,
            before=before,
            **SCHEDULED.bind(after, "after_ts", "after_id"),
            limit=limit + 1,
        )
        page = SCHEDULED.page(rows, limit)
        now = datetime.now(UTC)
        visible: list[ScheduledServiceRow] = []
        for r in page.items:
            access = access_of(r, self.principal, now)
            if Category(r.category) in access.visible:
                visible.append(r)
        if visible:
            await self.audit.record(
                self.principal,
                "service.scheduled",
                list(dict.fromkeys(r.case_id for r in visible)),
                {r.category for r in visible},
            )
        items = [
            ScheduledService(ServiceRecord.of(r, self._row_text(r)), r.reference) for r in visible
        ]
        return Page(items, page.next_cursor)

    def _row_text(self, row: ScheduledServiceRow) -> CaseText:
        return case_text(
            self.session,
            self.key_wrapper,
            row.case_id,
            row.wrapped_key,
            row.kek_id,
            erased=row.identity_erased_at is not None,
        )

    async def _service_event(
        self, type_: EventType, row: ServiceRow, *, previous_status: str | None = None
    ) -> None:
        data: dict[str, Any] = {
            "service_id": row.id,
            "status": row.status,
            "category": row.category,
            "version": row.version,
        }
        if row.goal_id is not None:
            data["goal_id"] = row.goal_id
        if previous_status is not None:
            data["previous_status"] = previous_status
        await self.outbox.to_case(
            type_,
            row.case_id,
            subject=(SubjectType.SERVICE, row.id),
            data=data,
            category=Category(row.category),
        )

    # -- the care plan --------------------------------------------------------------------------
    async def care_plan(self, case_id: UUID) -> CarePlan:
        cases, now = self.cases, datetime.now(UTC)
        rows: repo.CarePlanRows | None = None
        decision = cases.remembered(case_id, now)
        if decision is not None:
            # The case, the plan in the categories remembered, and its audit row: one statement
            # (AccessMemo), whose plan stands if the decision does.
            categories = _care_plan_categories(decision.visible)
            row = await repo.case_care_plan(
                self.session,
                self.principal.org_id,
                case_id,
                categories,
                goal_limit=CARE_PLAN_GOALS,
                service_limit=CARE_PLAN_SERVICES,
                expected_digest=decision.digest,
                audit=self.audit.row(self.principal, "care_plan.read", [case_id], categories),
            )
            loaded, confirmed = cases.confirm(
                case_id, row, decision, now, audited=row is not None and row.audited
            )
            if confirmed and row is not None:
                rows = repo.plan_rows(row.goals, row.services, row.attendance)
        else:
            loaded = await cases.decide(case_id, now)
        if rows is None:
            categories = _visible_categories(loaded)
            rows = await repo.care_plan(
                self.session,
                case_id,
                categories,
                goal_limit=CARE_PLAN_GOALS,
                service_limit=CARE_PLAN_SERVICES,
                audit=self.audit.row(self.principal, "care_plan.read", [case_id], categories),
            )
        text = self._text(loaded)
        return CarePlan(
            case_id=case_id,
            goals=[Goal.of(r, text) for r in rows.goals],
            services=[ServiceRecord.of(r, text) for r in rows.services],
            attendance={c.category: Attendance(c.attended, c.missed) for c in rows.attendance},
        )


async def owner_left(session: Session, outbox: Outbox, case_id: UUID, org_id: UUID) -> int:
    """After ``org_id`` left the care team of a case: its open goals stay, and the lead is told
    (``goal.updated`` with ``reason_code: owner_left``). Nothing when it is still on the team."""
    rows = await repo.orphaned_goals(session, case_id, org_id)
    for row in rows:
        await outbox.to_orgs(
            EventType.GOAL_UPDATED,
            [row.lead_org_id],
            subject=(SubjectType.GOAL, row.id),
            case_id=case_id,
            data={
                "goal_id": row.id,
                "status": row.status,
                "category": row.category,
                "version": row.version,
                "reason_code": OWNER_LEFT,
            },
        )
    return len(rows)
