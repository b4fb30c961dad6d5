"""What the hub's timed jobs work on (app.domain.timed_jobs): due units, claimed once.

Every job claims its units with ``FOR UPDATE SKIP LOCKED`` and marks them done in the same
transaction that writes their effects (timeline, audit, events), so with any number of workers
each unit is handled exactly once: a second worker skips the rows the first holds, and after the
first commits, the marker keeps them out of every later claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from app.db.database import Session
from app.db.query import Query
from app.db.rows import Rows


@dataclass(frozen=True, slots=True)
class ExpiredReferral:
    """A referral just stored (or found) as expired, with its case's data key."""

    id: UUID
    case_id: UUID
    from_org_id: UUID
    to_org_id: UUID
    service: str
    wrapped_key: bytes | None
    kek_id: str | None
    identity_erased_at: datetime | None


@dataclass(frozen=True, slots=True)
class ExpiredConsent:
    id: UUID
    case_id: UUID
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class OverdueVisit:
    """An active home placement whose visit is overdue since ``basis`` + the interval."""

    id: UUID
    case_id: UUID
    basis: datetime


EXPIRED_REFERRALS = Rows(ExpiredReferral)
EXPIRED_CONSENTS = Rows(ExpiredConsent)
OVERDUE_VISITS = Rows(OverdueVisit)

# The cases of due referrals (those `_EXPIRE_REFERRALS` expires), their rows locked before any
# referral is touched, as a referral transition locks its case before the referral
# (referrals `lock_case_of`): the two cannot deadlock. A case another transaction holds (a
# request's write, an erasure, another worker) is skipped, not waited for; the worker looks
# again within a second. The expiry is the next statement, so its snapshot, taken with these
# locks held, sees the case's current data key: an erasure committed just before cannot leave
# the "expired" timeline entry sealed with the key it destroyed.
_LOCK_DUE_CASES = Query(
    """
    SELECT c.id FROM cases c
    WHERE c.id IN (SELECT r.case_id FROM referrals r
                   WHERE (r.status = 'pending' AND r.respond_by <= now())
                      OR (r.status = 'expired' AND r.expiry_processed_at IS NULL))
    ORDER BY c.id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
    """,
    ("limit",),
)

# Pending referrals past their deadline are stored as expired (as app.db.repositories.referrals
# `_EXPIRE_DUE` does), and referrals a read already stored as expired are picked up too; both are
# marked processed. Only referrals of the cases locked by `_LOCK_DUE_CASES`.
_EXPIRE_REFERRALS = Query(
    """
    WITH due AS (
        SELECT r.id FROM referrals r
        WHERE ((r.status = 'pending' AND r.respond_by <= now())
               OR (r.status = 'expired' AND r.expiry_processed_at IS NULL))
          AND r.case_id = ANY ($2::uuid[])
        ORDER BY r.id
        LIMIT $1
        FOR UPDATE SKIP LOCKED
    )
    UPDATE referrals r
    SET status = 'expired',
        ended_at = CASE WHEN r.status = 'pending' THEN now() ELSE r.ended_at END,
        updated_at = CASE WHEN r.status = 'pending' THEN now() ELSE r.updated_at END,
        version = CASE WHEN r.status = 'pending' THEN r.version + 1 ELSE r.version END,
        expiry_processed_at = now()
    FROM due, cases c LEFT JOIN case_keys k ON k.case_id = c.id
    WHERE r.id = due.id AND c.id = r.case_id
    RETURNING r.id, r.case_id, r.from_org_id, r.to_org_id, r.service, k.wrapped_key, k.kek_id,
              c.identity_erased_at
    """,
    ("limit", "case_ids"),
)

_EXPIRED_CONSENTS = Query(
    """
    SELECT id, case_id, expires_at FROM consents
    WHERE expires_at IS NOT NULL AND expires_at <= now() AND expiry_processed_at IS NULL
    ORDER BY expires_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
    """,
    ("limit",),
)

# Consents recorded before their `obtained_at` (up to the clock-skew allowance ahead) whose
# moment has come.
_ACTIVATED_CONSENTS = Query(
    """
    SELECT id, case_id, obtained_at AS expires_at FROM consents
    WHERE obtained_at > created_at AND obtained_at <= now() AND activation_processed_at IS NULL
    ORDER BY obtained_at, id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
    """,
    ("limit",),
)

_MARK_ACTIVATED = Query(
    "UPDATE consents SET activation_processed_at = now() WHERE id = ANY ($1::uuid[])", ("ids",)
)

_MARK_CONSENTS = Query(
    "UPDATE consents SET expiry_processed_at = now() WHERE id = ANY ($1::uuid[])", ("ids",)
)

_OVERDUE_VISITS = Query(
    """
    SELECT p.id, p.case_id, b.basis
    FROM placements p
    CROSS JOIN LATERAL (
        SELECT COALESCE(max(v.visited_at), p.started_at) AS basis
        FROM placement_visits v WHERE v.placement_id = p.id
    ) b
    WHERE p.ended_at IS NULL AND p.setting = ANY ($2::text[])
      AND b.basis + make_interval(secs => $3) < now()
      AND (p.visit_overdue_notified_for IS NULL OR p.visit_overdue_notified_for < b.basis)
    ORDER BY p.id
    LIMIT $1
    FOR UPDATE OF p SKIP LOCKED
    """,
    ("limit", "settings", "interval_seconds"),
)

_MARK_VISITS = Query(
    """
    UPDATE placements p SET visit_overdue_notified_for = u.basis
    FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, basis)
    WHERE p.id = u.id
    """,
    ("ids", "bases"),
)

# The earliest moment a timed job has something to do (NULL: nothing scheduled).
_NEXT_MOMENT = Query(
    """
    SELECT least(
        (SELECT min(respond_by) FROM referrals WHERE status = 'pending'),
        (SELECT now() FROM referrals
         WHERE status = 'expired' AND expiry_processed_at IS NULL LIMIT 1),
        (SELECT min(expires_at) FROM consents
         WHERE expires_at IS NOT NULL AND expiry_processed_at IS NULL),
        (SELECT min(obtained_at) FROM consents
         WHERE obtained_at > created_at AND activation_processed_at IS NULL),
        (SELECT min(b.basis + make_interval(secs => $2))
         FROM placements p
         CROSS JOIN LATERAL (
             SELECT COALESCE(max(v.visited_at), p.started_at) AS basis
             FROM placement_visits v WHERE v.placement_id = p.id
         ) b
         WHERE p.ended_at IS NULL AND p.setting = ANY ($1::text[])
           AND (p.visit_overdue_notified_for IS NULL OR p.visit_overdue_notified_for < b.basis))
    )
    """,
    ("settings", "interval_seconds"),
)

_TRY_LOCK = Query("SELECT pg_try_advisory_xact_lock($1)", ("key",))


async def expire_referrals(session: Session, limit: int) -> list[ExpiredReferral]:
    """Up to ``limit`` due referrals stored as expired, their cases locked first (skipping
    cases another transaction holds)."""
    case_ids = [record["id"] for record in await session.fetch(_LOCK_DUE_CASES, limit=limit)]
    if not case_ids:
        return []
    return EXPIRED_REFERRALS.many(
        await session.fetch(_EXPIRE_REFERRALS, limit=limit, case_ids=case_ids)
    )


async def expired_consents(session: Session, limit: int) -> list[ExpiredConsent]:
    return EXPIRED_CONSENTS.many(await session.fetch(_EXPIRED_CONSENTS, limit=limit))


async def mark_consents(session: Session, ids: list[UUID]) -> None:
    await session.execute(_MARK_CONSENTS, ids=ids)


async def activated_consents(session: Session, limit: int) -> list[ExpiredConsent]:
    """Like :func:`expired_consents`, the moment being ``obtained_at`` (in ``expires_at``)."""
    return EXPIRED_CONSENTS.many(await session.fetch(_ACTIVATED_CONSENTS, limit=limit))


async def mark_activated(session: Session, ids: list[UUID]) -> None:
    await session.execute(_MARK_ACTIVATED, ids=ids)


async def overdue_visits(
    session: Session, *, limit: int, settings: list[str], interval_seconds: float
) -> list[OverdueVisit]:
    return OVERDUE_VISITS.many(
        await session.fetch(
            _OVERDUE_VISITS, limit=limit, settings=settings, interval_seconds=interval_seconds
        )
    )


async def mark_visits(session: Session, ids: list[UUID], bases: list[datetime]) -> None:
    await session.execute(_MARK_VISITS, ids=ids, bases=bases)


async def next_moment(
    session: Session, *, settings: list[str], interval_seconds: float
) -> datetime | None:
    value = await session.fetchval(
        _NEXT_MOMENT, settings=settings, interval_seconds=interval_seconds
    )
    return value if isinstance(value, datetime) else None


async def try_lock(session: Session, key: int) -> bool:
    """A transaction-level advisory lock, if no other transaction holds it (never waits)."""
    return bool(await session.fetchval(_TRY_LOCK, key=key))
