"""Referrals, their inboxes and the capacity they hold."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from operator import attrgetter
from typing import Any
from uuid import UUID

from app.db.database import Session
from app.db.query import PAGE_CAP, Placeholders, Query
from app.db.repositories.cases import CaseRow
from app.db.rows import Rows

# The stored status, except that a pending referral past its deadline reads as expired
# (app.domain.referral_rules.effective_status says the same in Python).
EFFECTIVE_STATUS = (
    "CASE WHEN r.status = 'pending' AND r.respond_by <= now() THEN 'expired' ELSE r.status END"
)

# A referral's own columns, then its case's (the de-identified preview, the reference and the
# data key: `CASE_FIELDS`, taken from the case row where the case is already loaded).
_REFERRAL_COLUMNS = f"""
    r.id, r.case_id, r.from_org_id, r.to_org_id, r.service, r.urgency, r.reason_enc,
    r.shared_categories, r.respond_by, r.transfer_lead, r.status AS stored_status,
    {EFFECTIVE_STATUS} AS status, r.status_reason_enc, r.outcome_enc, r.reason_code,
    r.outcome_code, r.capacity_held,
    r.responded_at, r.started_at, r.ended_at, r.created_at, r.updated_at, r.version
"""
_COLUMNS = f"""{_REFERRAL_COLUMNS},
    c.reference AS case_reference,
    c.age_band, c.gender, c.languages, c.interpreter_needed, c.needs, c.is_minor,
    c.exploitation_types,
    c.identity_erased_at, k.wrapped_key, k.kek_id
"""


@dataclass(frozen=True, slots=True)
class ReferralRow:
    """A referral with the case columns it is shown with (``_COLUMNS``): the de-identified
    preview, the case reference, and the case's data key for the free text (``*_enc``)."""

    id: UUID
    case_id: UUID
    from_org_id: UUID
    to_org_id: UUID
    service: str
    urgency: str
    reason_enc: bytes
    shared_categories: list[str]
    respond_by: datetime | None
    transfer_lead: bool
    stored_status: str
    status: str  # effective: a pending referral past its deadline reads as expired
    status_reason_enc: bytes | None
    outcome_enc: bytes | None
    reason_code: str | None
    outcome_code: str | None
    capacity_held: bool
    responded_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    case_reference: str
    age_band: str
    gender: str
    languages: list[str]
    interpreter_needed: bool
    needs: list[str]
    is_minor: bool
    exploitation_types: list[str]
    identity_erased_at: datetime | None
    wrapped_key: bytes | None
    kek_id: str | None


@dataclass(frozen=True, slots=True)
class PendingReferralRow:
    id: UUID
    service: str
    to_org_id: UUID


REFERRAL_ROWS = Rows(ReferralRow)
# A referral row's case fields, in order (`case_reference` to `kek_id`).
CasePart = tuple[Any, ...]
_CASE_ID = REFERRAL_ROWS.fields.index("case_id")
PENDING_ROWS = Rows(PendingReferralRow)

_GET = Query(
    f"""
    SELECT {_COLUMNS} FROM referrals r JOIN cases c ON c.id = r.case_id
    LEFT JOIN case_keys k ON k.case_id = r.case_id
    WHERE r.id = $1 AND (r.from_org_id = $2 OR r.to_org_id = $2)
    """,  # noqa: S608 - constant text
    ("id", "org_id"),
)

# The inbox and outbox: one statement per shape of request (direction, status filter, cursor),
# built from constant fragments and compiled once per process. A catch-all statement
# (`$1 IS NULL OR …`) gets a generic plan after a few executions that must serve every shape, and
# cannot pick the index for the one at hand; each of these keeps its own plan
# (ix_referrals_to_org_id_created_at_id for an inbox, the from_org one for an outbox). The page is
# read under the constant cap `PAGE_CAP` (app.db.query), so the cached generic plan is used on
# a table of any size.
_DIRECTION = {
    "incoming": "r.to_org_id = $1",
    "outgoing": "r.from_org_id = $1",
    None: "(r.to_org_id = $1 OR r.from_org_id = $1)",
}


@cache
def page_query(direction: str | None, status: bool, after: bool) -> Query:
    """The page statement for this shape: ``status`` and ``after`` say whether a status filter
    and a cursor are given. Its parameters: ``org_id``, [``status``], [``after_ts``,
    ``after_id``], ``limit``."""
    params = Placeholders("org_id")
    where = [_DIRECTION[direction]]
    if status:
        where.append(f"{EFFECTIVE_STATUS} = {params.bind('status', 'text')}")
    if after:
        where.append(f"(r.created_at, r.id) > {params.cursor('after')}")
    return params.query(
        f"SELECT {_COLUMNS} FROM (SELECT * FROM referrals r WHERE "  # noqa: S608
        + " AND ".join(where)
        + f" ORDER BY r.created_at, r.id LIMIT {PAGE_CAP}) r"
        " JOIN cases c ON c.id = r.case_id LEFT JOIN case_keys k ON k.case_id = r.case_id"
        f" ORDER BY r.created_at, r.id LIMIT {params.bind('limit')}"
    )


# The new row is returned (`insert` completes it with its case's fields): the write answers
# without reading the referral again.
_INSERT = Query(
    f"""
    INSERT INTO referrals AS r (id, case_id, from_org_id, to_org_id, service, urgency,
                                reason_enc, shared_categories, respond_by, transfer_lead,
                                created_by_client_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    RETURNING {_REFERRAL_COLUMNS}
    """,  # noqa: S608 - constant text
    ("id", "case_id", "from_org_id", "to_org_id", "service", "urgency", "reason_enc",
     "shared_categories", "respond_by", "transfer_lead", "created_by_client_id"),
)  # fmt: skip

# The conditional update is what makes concurrent transitions safe: of two requests moving the
# referral out of the same status, one updates the row and the other matches nothing.
_TRANSITION = Query(
    f"""
    UPDATE referrals AS r SET
        status = $3,
        status_reason_enc = COALESCE($4, status_reason_enc),
        outcome_enc = COALESCE($5, outcome_enc),
        capacity_held = $6,
        reason_code = COALESCE($7, reason_code),
        outcome_code = COALESCE($8, outcome_code),
        responded_at = CASE WHEN status = 'pending' THEN now() ELSE responded_at END,
        started_at = CASE WHEN $3 = 'in_progress' THEN now() ELSE started_at END,
        ended_at = CASE WHEN $3 IN ('completed', 'failed', 'withdrawn', 'declined', 'expired')
                        THEN now() ELSE ended_at END,
        updated_at = now(),
        version = version + 1
    WHERE id = $1 AND status = $2
      AND NOT (status = 'pending' AND respond_by IS NOT NULL AND respond_by <= now()
               AND $3 <> 'expired')
    RETURNING {_REFERRAL_COLUMNS}
    """,  # noqa: S608 - constant text
    ("id", "expected_status", "status", "status_reason_enc", "outcome_enc", "capacity_held",
     "reason_code", "outcome_code"),
)  # fmt: skip

# A pending referral past its deadline stored as `expired`: one (a read that finds it so), or a
# batch of the overdue ones (the housekeeping sweep). Two statements, not one with an optional
# id: each keeps its own cached plan (the one by its primary key, the batch by the partial
# index of pending deadlines). The batch skips rows a request holds (a transition, a case's
# close withdrawing its referrals) rather than waiting for them: a sweep holding some overdue
# referrals while waiting for another could deadlock with a close that holds that one and wants
# theirs; the rows skipped are taken by a later sweep, or by the referral expiry job.
_EXPIRE_ONE = Query(
    """
    UPDATE referrals SET status = 'expired', ended_at = now(), updated_at = now(),
                         version = version + 1
    WHERE id = $1 AND status = 'pending' AND respond_by <= now()
    """,
    ("id",),
)
_EXPIRE_DUE = Query(
    """
    UPDATE referrals SET status = 'expired', ended_at = now(), updated_at = now(),
                         version = version + 1
    WHERE id IN (SELECT id FROM referrals
                 WHERE status = 'pending' AND respond_by <= now()
                 ORDER BY respond_by LIMIT $1
                 FOR UPDATE SKIP LOCKED)
    """,
    ("batch",),
)

# What the hub withdraws when a case closes or changes lead: its referrals still pending. One past
# its deadline already reads as expired and is left to the expiry sweep.
_PENDING_OF_CASE = Query(
    """
    SELECT id, service, to_org_id FROM referrals
    WHERE case_id = $1 AND status = 'pending'
      AND NOT (respond_by IS NOT NULL AND respond_by <= now())
    ORDER BY created_at, id
    """,
    ("case_id",),
)

_SET_CAPACITY_HELD = Query(
    "UPDATE referrals SET capacity_held = $2 WHERE id = $1", ("id", "capacity_held")
)

_TAKE_PLACE = Query(
    """
    UPDATE organization_capacity SET available = available - 1, updated_at = now()
    WHERE org_id = $1 AND service = $2 AND available > 0
    RETURNING available
    """,
    ("org_id", "service"),
)
_HAS_CAPACITY_ENTRY = Query(
    "SELECT 1 FROM organization_capacity WHERE org_id = $1 AND service = $2",
    ("org_id", "service"),
)
_GIVE_BACK_PLACE = Query(
    """
    UPDATE organization_capacity SET available = LEAST(available + 1, maximum), updated_at = now()
    WHERE org_id = $1 AND service = $2
    """,
    ("org_id", "service"),
)


async def get(session: Session, referral_id: UUID, org_id: UUID) -> ReferralRow | None:
    return REFERRAL_ROWS.one(await session.fetchrow(_GET, id=referral_id, org_id=org_id))


async def page(
    session: Session,
    *,
    direction: str | None,
    org_id: UUID,
    status: str | None,
    after_ts: datetime | None,
    after_id: UUID | None,
    limit: int,
) -> list[ReferralRow]:
    after = after_ts is not None
    query = page_query(direction, status is not None, after)
    params: dict[str, Any] = {"org_id": org_id, "limit": limit}
    if status is not None:
        params["status"] = status
    if after:
        params.update(after_ts=after_ts, after_id=after_id)
    return REFERRAL_ROWS.many(await session.fetch(query, params))


async def insert(session: Session, case: CasePart, **values: Any) -> ReferralRow:
    """The new referral, as ``get`` would read it (``case``: its case's fields)."""
    return _completed(await session.fetchrow(_INSERT, values), case)


async def transition(session: Session, **values: Any) -> bool:
    """Whether the referral moved (False: it was not in ``expected_status``)."""
    return await session.fetchrow(_TRANSITION, values) is not None


async def transition_row(session: Session, case: CasePart, **values: Any) -> ReferralRow | None:
    """The referral after the move, as ``get`` would read it (``case``: its case's fields);
    None when it was not in ``expected_status`` (another request moved it first)."""
    record = await session.fetchrow(_TRANSITION, values)
    return None if record is None else _completed(record, case)


def _completed(record: Any, case: CasePart) -> ReferralRow:
    """A written referral's row (its own columns) completed with its case's fields."""
    return REFERRAL_ROWS.many_completed([record], lambda r: case)[0]


@dataclass(frozen=True, slots=True)
class CaseState:
    """What a referral transition needs of its case (`lock_case_of`)."""

    status: str
    lead_org_id: UUID


CASE_STATE_ROWS = Rows(CaseState)

# The case of a referral the caller sent or received (as `_GET` decides), its row locked until
# the transaction ends: a close, a lead transfer or an erasure waits for the transition, or the
# transition for it. Taken before the referral is read, so that the read (a statement of its
# own, with a snapshot taken after the lock) sees what such a change did, the data key included.
_LOCK_CASE_OF = Query(
    """
    SELECT c.status, c.lead_org_id FROM cases c
    WHERE c.id = (SELECT r.case_id FROM referrals r
                  WHERE r.id = $1 AND (r.from_org_id = $2 OR r.to_org_id = $2))
    FOR UPDATE
    """,
    ("id", "org_id"),
)


async def lock_case_of(session: Session, referral_id: UUID, org_id: UUID) -> CaseState | None:
    """The referral's case state, its row locked; None when there is no such referral for
    ``org_id``."""
    return CASE_STATE_ROWS.one(await session.fetchrow(_LOCK_CASE_OF, id=referral_id, org_id=org_id))


async def expire_one(session: Session, referral_id: UUID) -> bool:
    """Store ``expired`` on the referral if it is pending past its deadline; whether it was."""
    status = await session.execute(_EXPIRE_ONE, id=referral_id)
    return status.endswith(" 1")


async def expire_due(session: Session, batch: int = 1000) -> int:
    """Store ``expired`` on the pending referrals past their deadline, ``batch`` a statement
    until none is left (but those a request holds: see ``_EXPIRE_DUE``); how many."""
    if batch < 1:
        raise ValueError("the batch must hold at least one referral")
    expired = 0
    while True:
        status = await session.execute(_EXPIRE_DUE, batch=batch)
        count = int(status.rsplit(" ", 1)[-1])
        expired += count
        if count < batch:
            return expired


async def take_place(session: Session, org_id: UUID, service: str) -> bool | None:
    """True: a place was taken. False: none free. None: the service has no capacity entry."""
    if await session.fetchval(_TAKE_PLACE, org_id=org_id, service=service) is not None:
        return True
    if await session.fetchval(_HAS_CAPACITY_ENTRY, org_id=org_id, service=service) is None:
        return None
    return False


async def pending_of_case(session: Session, case_id: UUID) -> list[PendingReferralRow]:
    """The case's pending referrals, oldest first."""
    return PENDING_ROWS.many(await session.fetch(_PENDING_OF_CASE, case_id=case_id))


async def set_capacity_held(session: Session, referral_id: UUID, held: bool) -> None:
    await session.execute(_SET_CAPACITY_HELD, id=referral_id, capacity_held=held)


async def give_back_place(session: Session, org_id: UUID, service: str) -> None:
    await session.execute(_GIVE_BACK_PLACE, org_id=org_id, service=service)


# The referrals of several cases that the caller sent or received (as `_GET` decides), at most
# `limit` per case: their own columns only (`pages_for_cases` completes each row from its case,
# already loaded, instead of reading the case's columns again for every referral). Each case has
# its referrals read through ix_referrals_case_id_created_at_id, and the caller's part checked
# on each: the test is written as an array containment, which no index answers, so that the
# planner does not AND in the organisation's own indexes (from_org_id, to_org_id), which list
# every referral a lead ever sent and were walked again for every case of the page.
# One statement per shape (a status filter, a cursor: given or not), compiled once per process.
@cache
def pages_query(status: bool, after: bool) -> Query:
    """Parameters: ``case_ids``, ``org_id``, [``status``], [``after_ts``, ``after_id``],
    ``limit``."""
    params = Placeholders("case_ids", "org_id")
    where = "r.case_id = wanted.case_id AND ARRAY[r.from_org_id, r.to_org_id] @> ARRAY[$2::uuid]"
    if status:
        where += f" AND {EFFECTIVE_STATUS} = {params.bind('status', 'text')}"
    if after:
        where += f" AND (r.created_at, r.id) > {params.cursor('after')}"
    return params.query(
        f"SELECT {_REFERRAL_COLUMNS}"  # noqa: S608 - constant fragments, every value bound
        " FROM (SELECT DISTINCT unnest($1::uuid[]) AS case_id) AS wanted"
        f" CROSS JOIN LATERAL (SELECT r.* FROM referrals r WHERE {where}"
        f" ORDER BY r.created_at, r.id LIMIT {params.bind('limit')}) r"
        " ORDER BY r.case_id, r.created_at, r.id"
    )


# A referral row's case fields (`case_reference` to `kek_id`), as a case row names them.
CASE_FIELDS = REFERRAL_ROWS.fields[REFERRAL_ROWS.fields.index("case_reference") :]
_FROM_CASE = attrgetter(*("reference" if f == "case_reference" else f for f in CASE_FIELDS))
_FROM_REFERRAL = attrgetter(*CASE_FIELDS)


def case_part(case: CaseRow) -> CasePart:
    """A referral row's case fields, from its case's row."""
    part: CasePart = _FROM_CASE(case)
    return part


def case_part_of(row: ReferralRow) -> CasePart:
    """A referral row's case fields, from another referral row of the same case."""
    part: CasePart = _FROM_REFERRAL(row)
    return part


async def pages_for_cases(
    session: Session, cases: Mapping[UUID, CaseRow], **params: Any
) -> list[ReferralRow]:
    """The pages of ``cases`` (rows the caller already loaded, and may see), each referral's case
    fields taken from its case's row."""
    parts = {case_id: case_part(case) for case_id, case in cases.items()}
    query = pages_query(params.get("status") is not None, params.get("after_ts") is not None)
    records = await session.fetch(query, {"case_ids": list(cases), **params})
    return REFERRAL_ROWS.many_completed(records, lambda r: parts[r[_CASE_ID]])
