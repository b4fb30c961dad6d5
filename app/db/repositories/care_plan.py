"""The care plan: goals (with their progress entries) and service records.

A goal row carries its progress entries (``progress``: an array of records, oldest first, each
note still sealed), so a goal, a page of goals or a care plan is one statement however many
entries the goals hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any
from uuid import UUID

from app.db.database import Session
from app.db.policy_facts import POLICY_FACTS, ConsentFact
from app.db.query import Placeholders, Query
from app.db.repositories import audit as audit_repo
from app.db.repositories import cases as cases_repo
from app.db.rows import Rows

# (id, status, note_enc, recorded_at, recorded_by_org_id, created_at) of one progress entry.
ProgressRecord = tuple[UUID, str, bytes | None, datetime, UUID, datetime]


@dataclass(frozen=True, slots=True)
class GoalRow:
    id: UUID
    case_id: UUID
    category: str
    owner_org_id: UUID
    created_by_org_id: UUID
    title_enc: bytes
    description_enc: bytes | None
    target_date: date | None
    status: str
    created_at: datetime
    updated_at: datetime
    version: int
    progress: list[ProgressRecord]


@dataclass(frozen=True, slots=True)
class ServiceRow:
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
    notes_enc: bytes | None
    codes: list[dict[str, str]]
    recorded_by_org_id: UUID
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class ScheduledServiceRow(ServiceRow):
    """A provider's scheduled service, with its case's reference, case key and policy facts."""

    reference: str
    lead_org_id: UUID
    wrapped_key: bytes | None
    kek_id: str | None
    identity_erased_at: datetime | None
    member_categories: list[str] | None
    consents: list[ConsentFact]
    caller_kind: str


@dataclass(frozen=True, slots=True)
class AttendanceRow:
    category: str
    attended: int
    missed: int


@dataclass(frozen=True, slots=True)
class OwnedGoalRow:
    id: UUID
    status: str
    category: str
    version: int
    lead_org_id: UUID


@dataclass(frozen=True, slots=True)
class CarePlanRows:
    goals: list[GoalRow]
    services: list[ServiceRow]
    attendance: list[AttendanceRow]


@dataclass(frozen=True, slots=True)
class CaseCarePlanRow(cases_repo.DigestedCaseRow):
    """A case with the digest of its policy facts, its care plan (arrays of anonymous records,
    see ``_care_plan_sql``) and whether the read's audit row was appended."""

    goals: list[Any]
    services: list[Any]
    attendance: list[Any]
    audited: bool


GOAL_ROWS = Rows(GoalRow)
CASE_CARE_PLAN_ROWS = Rows(CaseCarePlanRow)
SERVICE_ROWS = Rows(ServiceRow)
SCHEDULED_ROWS = Rows(ScheduledServiceRow)
ATTENDANCE_ROWS = Rows(AttendanceRow)
OWNED_GOAL_ROWS = Rows(OwnedGoalRow)

# A goal's progress entries as an array of anonymous records (asyncpg decodes each to a tuple of
# typed values: no JSON to parse), oldest first.
_PROGRESS = """
    ARRAY(
        SELECT ROW(p.id, p.status, p.note_enc, p.recorded_at, p.recorded_by_org_id, p.created_at)
        FROM goal_progress p WHERE p.goal_id = g.id ORDER BY p.created_at, p.id
    )
"""
# A goal's values in GoalRow's order (for a ROW(...)); as named columns, _GOAL_COLUMNS.
_GOAL_VALUES = f"""
    g.id, g.case_id, g.category, g.owner_org_id, g.created_by_org_id, g.title_enc,
    g.description_enc, g.target_date, g.status, g.created_at, g.updated_at, g.version, {_PROGRESS}
"""
_GOAL_COLUMNS = f"{_GOAL_VALUES} AS progress"

# Each insert marks its case updated in the same statement (`cases.touching`).
_INSERT_GOAL = Query(
    f"""
    {cases_repo.touching("$2")}
    INSERT INTO goals AS g (id, case_id, category, owner_org_id, created_by_org_id, title_enc,
                            description_enc, target_date)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    RETURNING {_GOAL_COLUMNS}
    """,  # noqa: S608 - constant text
    ("id", "case_id", "category", "owner_org_id", "created_by_org_id", "title_enc",
     "description_enc", "target_date"),
)  # fmt: skip

_GET_GOAL = Query(
    f"SELECT {_GOAL_COLUMNS} FROM goals g WHERE g.id = $1 AND g.case_id = $2",  # noqa: S608
    ("id", "case_id"),
)
_LOCK_GOAL = Query(_GET_GOAL.sql + " FOR UPDATE OF g", _GET_GOAL.names)

_ADD_PROGRESS = Query(
    """
    WITH entry AS (
        INSERT INTO goal_progress (id, goal_id, status, note_enc, recorded_at, recorded_by_org_id)
        VALUES ($1, $2, $3, $4, $5, $6)
    )
    UPDATE goals SET status = $3, updated_at = now(), version = version + 1 WHERE id = $2
    """,
    ("id", "goal_id", "status", "note_enc", "recorded_at", "recorded_by_org_id"),
)


# A case's goals or service records (`table`, read as `alias`): a page of one case, and the first
# pages of several cases at once. Both keep the categories the caller may see (the second per
# (case, category) pair), filter by category and status, and go oldest first by
# `(created_at, id)`. One statement per shape of request (a category, a status, a cursor: given
# or not), built from constant fragments and compiled once per process: a catch-all
# (`$n IS NULL OR …`) has one generic plan for every shape, in which the cursor cannot bound the
# index scan.
def _filters(params: Placeholders, t: str, category: bool, status: bool, after: bool) -> str:
    where = ""
    if category:
        where += f" AND {t}.category = {params.bind('category', 'text')}"
    if status:
        where += f" AND {t}.status = {params.bind('status', 'text')}"
    if after:
        where += f" AND ({t}.created_at, {t}.id) > {params.cursor('after')}"
    return where


@cache
def _category_page(
    table: str, t: str, columns: str, category: bool, status: bool, after: bool
) -> Query:
    params = Placeholders("case_id", "categories")
    return params.query(
        f"SELECT {columns} FROM {table} {t}"  # noqa: S608 - constant fragments
        f" WHERE {t}.case_id = $1 AND {t}.category = ANY ($2::text[])"
        + _filters(params, t, category, status, after)
        + f" ORDER BY {t}.created_at, {t}.id LIMIT {params.bind('limit')}"
    )


# Each case's first page is read on its own through the (case_id, created_at, id) index and
# stops at the limit (a lateral join): a window function numbering the rows of every case would
# read all of them.
@cache
def _category_pages_for_cases(
    table: str, t: str, columns: str, category: bool, status: bool, after: bool
) -> Query:
    params = Placeholders("case_ids", "visible_case_ids", "visible_categories")
    return params.query(
        f"SELECT {t}.* FROM (SELECT v.case_id, array_agg(v.category) AS categories"  # noqa: S608
        " FROM unnest($2::uuid[], $3::text[]) AS v(case_id, category)"
        " WHERE v.case_id = ANY ($1::uuid[]) GROUP BY v.case_id) AS wanted"
        f" CROSS JOIN LATERAL (SELECT {columns} FROM {table} {t}"
        f" WHERE {t}.case_id = wanted.case_id AND {t}.category = ANY (wanted.categories)"
        + _filters(params, t, category, status, after)
        + f" ORDER BY {t}.created_at, {t}.id LIMIT {params.bind('limit')}) {t}"
        f" ORDER BY {t}.case_id, {t}.created_at, {t}.id"
    )


def _shape(params: Mapping[str, Any]) -> tuple[bool, bool, bool]:
    """(category, status, cursor): which of a page's filters are given."""
    return (
        params.get("category") is not None,
        params.get("status") is not None,
        params.get("after_ts") is not None,
    )


def goal_page_query(category: bool, status: bool, after: bool) -> Query:
    """A page of one case's goals. Parameters: ``case_id``, ``categories`` (the caller may
    see), [``category``], [``status``], [``after_ts``, ``after_id``], ``limit``."""
    return _category_page("goals", "g", _GOAL_COLUMNS, category, status, after)


def goal_pages_query(category: bool, status: bool, after: bool) -> Query:
    """The first pages of several cases' goals (at most ``limit`` each). Parameters:
    ``case_ids``, ``visible_case_ids`` and ``visible_categories`` (the (case, category) pairs the
    caller may see), then as :func:`goal_page_query`."""
    return _category_pages_for_cases("goals", "g", _GOAL_COLUMNS, category, status, after)


# Open goals an organisation owns on a case it no longer serves (neither lead nor member).
_ORPHANED_GOALS = Query(
    """
    SELECT g.id, g.status, g.category, g.version, c.lead_org_id
    FROM goals g JOIN cases c ON c.id = g.case_id
    WHERE g.case_id = $1 AND g.owner_org_id = $2
      AND g.status NOT IN ('achieved', 'not_achieved', 'cancelled')
      AND c.lead_org_id <> $2
      AND NOT EXISTS (SELECT 1 FROM case_members m
                      WHERE m.case_id = $1 AND m.org_id = $2 AND m.left_at IS NULL)
    ORDER BY g.created_at, g.id
    """,
    ("case_id", "org_id"),
)

_ON_TEAM = Query(
    """
    SELECT EXISTS (SELECT 1 FROM case_members m
                   WHERE m.case_id = $1 AND m.org_id = $2 AND m.left_at IS NULL)
    """,
    ("case_id", "org_id"),
)

_SERVICE_COLUMNS = """
    s.id, s.case_id, s.category, s.service, s.type, s.status, s.scheduled_at, s.occurred_at,
    s.provider_org_id, s.goal_id, s.notes_enc, s.codes, s.recorded_by_org_id, s.created_at,
    s.updated_at, s.version
"""

_INSERT_SERVICE = Query(
    f"""
    {cases_repo.touching("$2")}
    INSERT INTO service_records AS s (id, case_id, category, service, type, status, scheduled_at,
                                      occurred_at, provider_org_id, goal_id, notes_enc, codes,
                                      recorded_by_org_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    RETURNING {_SERVICE_COLUMNS}
    """,  # noqa: S608 - constant text
    ("id", "case_id", "category", "service", "type", "status", "scheduled_at", "occurred_at",
     "provider_org_id", "goal_id", "notes_enc", "codes", "recorded_by_org_id"),
)  # fmt: skip

_GET_SERVICE = Query(
    f"SELECT {_SERVICE_COLUMNS} FROM service_records s WHERE s.id = $1 AND s.case_id = $2",  # noqa: S608
    ("id", "case_id"),
)
_LOCK_SERVICE = Query(_GET_SERVICE.sql + " FOR UPDATE", _GET_SERVICE.names)

_UPDATE_SERVICE = Query(
    f"""
    UPDATE service_records AS s
    SET status = $3, occurred_at = $4, notes_enc = $5, updated_at = now(), version = s.version + 1
    WHERE s.id = $1 AND s.case_id = $2 AND s.version = $6
    RETURNING {_SERVICE_COLUMNS}
    """,  # noqa: S608 - constant text
    ("id", "case_id", "status", "occurred_at", "notes_enc", "expected_version"),
)


def service_page_query(category: bool, status: bool, after: bool) -> Query:
    """A page of one case's service records; parameters as :func:`goal_page_query`."""
    return _category_page("service_records", "s", _SERVICE_COLUMNS, category, status, after)


def service_pages_query(category: bool, status: bool, after: bool) -> Query:
    """The first pages of several cases' service records; as :func:`goal_pages_query`."""
    return _category_pages_for_cases(
        "service_records", "s", _SERVICE_COLUMNS, category, status, after
    )


# The care plan in one statement: its first goals (oldest first, with their progress), its
# upcoming services and the attendance counts, each an array of anonymous records in the order of
# GoalRow, ServiceRow and AttendanceRow's fields (a round trip each would hold the request three
# times as long on a busy server; tests/api/test_care_plan.py compares them with the rows of the
# statements whose columns are checked by name).
def _care_plan_sql(case: str, categories: str, goal_limit: str, service_limit: str) -> str:
    """The care plan's SELECT for the case ``case`` (a placeholder or a column), in the
    categories ``categories``."""
    return f"""
    SELECT
        ARRAY(
            SELECT ROW({_GOAL_VALUES}) FROM goals g
            WHERE g.case_id = {case} AND g.category = ANY ({categories}::text[])
            ORDER BY g.created_at, g.id
            LIMIT {goal_limit}
        ) AS goals,
        ARRAY(
            SELECT ROW({_SERVICE_COLUMNS}) FROM service_records s
            WHERE s.case_id = {case} AND s.status = 'scheduled'
              AND s.category = ANY ({categories}::text[])
            ORDER BY s.scheduled_at, s.id
            LIMIT {service_limit}
        ) AS services,
        ARRAY(
            SELECT ROW(s.category,
                       count(*) FILTER (WHERE s.status IN ('attended', 'completed'))::int,
                       count(*) FILTER (WHERE s.status = 'missed')::int)
            FROM service_records s
            WHERE s.case_id = {case} AND s.category = ANY ({categories}::text[])
            GROUP BY s.category
            ORDER BY s.category
        ) AS attendance
    """  # noqa: S608 - constant text: aliases and placeholders


_CARE_PLAN = Query(
    _care_plan_sql("$1", "$2", "$3", "$4"),
    ("case_id", "categories", "goal_limit", "service_limit"),
)
_AUDITED_CARE_PLAN = audit_repo.appending(_CARE_PLAN)
# A repeated care plan read (the caller's decision remembered, app.domain.facts.AccessMemo): the
# case with its policy facts and their digest, the plan in the remembered categories, and the
# audit row appended only if the digest is still the remembered one. One round trip.
_CASE_CARE_PLAN = Query(
    f"SELECT l.*, {cases_repo.FACTS_DIGEST} AS facts_digest, p.goals, p.services, p.attendance"
    f" {cases_repo.READ_FOR_FROM}"
    f" CROSS JOIN LATERAL ({_care_plan_sql('l.id', '$3', '$4', '$5')}) p",
    ("org_id", "case_id", "categories", "goal_limit", "service_limit"),
)
_AUDITED_CASE_CARE_PLAN = audit_repo.appending(
    _CASE_CARE_PLAN, when=Query("r.facts_digest = $6::bytea", ("expected_digest",))
)

# A provider's own scheduled services across cases, with what the policy needs per row: a
# statement with a cursor and one without (no catch-all: its generic plan could not bound the
# walk of ix_service_records_provider_scheduled by the cursor).
_SCHEDULED = f"""
    SELECT {_SERVICE_COLUMNS}, c.reference, c.lead_org_id, k.wrapped_key, k.kek_id,
           c.identity_erased_at, {POLICY_FACTS}
    FROM service_records s
    JOIN cases c ON c.id = s.case_id
    LEFT JOIN case_keys k ON k.case_id = c.id
    JOIN organizations o ON o.id = $1
    WHERE s.provider_org_id = $1 AND s.status = 'scheduled' AND s.scheduled_at < $2
"""  # noqa: S608 - constant text; every value is a bound parameter


@cache
def scheduled_query(after: bool) -> Query:
    """Parameters: ``org_id``, ``before``, [``after_ts``, ``after_id``], ``limit``."""
    params = Placeholders("org_id", "before")
    cursor = f" AND (s.scheduled_at, s.id) > {params.cursor('after')}" if after else ""
    return params.query(
        f"{_SCHEDULED}{cursor} ORDER BY s.scheduled_at, s.id LIMIT {params.bind('limit')}"
    )


async def insert_goal(session: Session, **values: Any) -> GoalRow:
    """The goal, its case's ``updated_at`` set to now as well."""
    row = GOAL_ROWS.one(await session.fetchrow(_INSERT_GOAL, values))
    assert row is not None
    return row


async def get_goal(
    session: Session, goal_id: UUID, case_id: UUID, *, lock: bool = False
) -> GoalRow | None:
    query = _LOCK_GOAL if lock else _GET_GOAL
    return GOAL_ROWS.one(await session.fetchrow(query, id=goal_id, case_id=case_id))


async def add_progress(session: Session, **values: Any) -> None:
    await session.execute(_ADD_PROGRESS, values)


async def goal_page(session: Session, **params: Any) -> list[GoalRow]:
    return GOAL_ROWS.many(await session.fetch(goal_page_query(*_shape(params)), params))


async def goal_pages_for_cases(session: Session, **params: Any) -> list[GoalRow]:
    """Rows ordered by case, then as `goal_page` orders them; ``limit`` applies per case."""
    return GOAL_ROWS.many(await session.fetch(goal_pages_query(*_shape(params)), params))


async def orphaned_goals(session: Session, case_id: UUID, org_id: UUID) -> list[OwnedGoalRow]:
    return OWNED_GOAL_ROWS.many(
        await session.fetch(_ORPHANED_GOALS, case_id=case_id, org_id=org_id)
    )


async def on_care_team(session: Session, case_id: UUID, org_id: UUID) -> bool:
    return bool(await session.fetchval(_ON_TEAM, case_id=case_id, org_id=org_id))


async def insert_service(session: Session, **values: Any) -> ServiceRow:
    """The service record, its case's ``updated_at`` set to now as well."""
    row = SERVICE_ROWS.one(await session.fetchrow(_INSERT_SERVICE, values))
    assert row is not None
    return row


async def get_service(
    session: Session, service_id: UUID, case_id: UUID, *, lock: bool = False
) -> ServiceRow | None:
    query = _LOCK_SERVICE if lock else _GET_SERVICE
    return SERVICE_ROWS.one(await session.fetchrow(query, id=service_id, case_id=case_id))


async def update_service(session: Session, **values: Any) -> ServiceRow | None:
    return SERVICE_ROWS.one(await session.fetchrow(_UPDATE_SERVICE, values))


async def service_page(session: Session, **params: Any) -> list[ServiceRow]:
    return SERVICE_ROWS.many(await session.fetch(service_page_query(*_shape(params)), params))


async def service_pages_for_cases(session: Session, **params: Any) -> list[ServiceRow]:
    """Rows ordered by case, then as `service_page` orders them; ``limit`` applies per case."""
    return SERVICE_ROWS.many(await session.fetch(service_pages_query(*_shape(params)), params))


async def care_plan(
    session: Session,
    case_id: UUID,
    categories: list[str],
    *,
    goal_limit: int,
    service_limit: int,
    audit: Mapping[str, Any],
) -> CarePlanRows:
    """A case's first ``goal_limit`` goals, its first ``service_limit`` scheduled services and
    its attendance counts, in the given categories, with the audit row ``audit`` of the read
    appended in the same statement: one round trip."""
    record = await session.fetchrow(
        _AUDITED_CARE_PLAN,
        audit_repo.appended_params(session, audit),
        case_id=case_id,
        categories=categories,
        goal_limit=goal_limit,
        service_limit=service_limit,
    )
    assert record is not None  # an aggregate-only SELECT always answers one row
    goals, services, attendance = record
    return plan_rows(goals, services, attendance)


def plan_rows(goals: list[Any], services: list[Any], attendance: list[Any]) -> CarePlanRows:
    """The care plan's arrays of records (``_care_plan_sql``) as rows."""
    return CarePlanRows(
        [GOAL_ROWS.build(g) for g in goals],
        [SERVICE_ROWS.build(r) for r in services],
        [ATTENDANCE_ROWS.build(a) for a in attendance],
    )


async def case_care_plan(
    session: Session,
    org_id: UUID,
    case_id: UUID,
    categories: list[str],
    *,
    goal_limit: int,
    service_limit: int,
    expected_digest: bytes,
    audit: Mapping[str, Any],
) -> CaseCarePlanRow | None:
    """The case as ``cases.read_for`` reads it and its care plan in ``categories`` (as
    :func:`care_plan`), appending the audit row ``audit`` in the same statement if the policy
    facts' digest is ``expected_digest``: one round trip. None (nothing appended) when the
    caller is not linked to the case."""
    return CASE_CARE_PLAN_ROWS.one(
        await session.fetchrow(
            _AUDITED_CASE_CARE_PLAN,
            audit_repo.appended_params(session, audit),
            org_id=org_id,
            case_id=case_id,
            categories=categories,
            goal_limit=goal_limit,
            service_limit=service_limit,
            expected_digest=expected_digest,
        )
    )


async def scheduled_page(session: Session, **params: Any) -> list[ScheduledServiceRow]:
    return SCHEDULED_ROWS.many(
        await session.fetch(scheduled_query(params.get("after_ts") is not None), params)
    )
