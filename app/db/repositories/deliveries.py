"""The webhook delivery queue, as the worker works it: claim, record, schedule.

A delivery is *due* when it is pending, its ``next_attempt_at`` has come and its subscription is
active. A worker claims due deliveries in one short statement (its own transaction): ``FOR UPDATE
SKIP LOCKED`` lets any number of workers claim side by side without waiting for or taking each
other's rows, and the claim sets ``leased_until`` (and ``next_attempt_at``, to the same moment) so
the rows stay out of every other worker's claims until the lease runs out. The attempt itself is
made outside any transaction; its outcome is recorded afterwards, only while the lease is still
the one the claim set. A worker that dies mid-attempt records nothing: its deliveries become due
again when their lease expires and another worker makes the attempt (at least once, never lost).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from app.db.database import Session
from app.db.query import Query
from app.db.rows import Rows


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A claimed delivery with what its attempt needs: the target, the sealed secrets and the
    event as partners see it."""

    id: UUID
    webhook_id: UUID
    attempts: int
    leased_until: datetime
    url: str
    secret_enc: bytes
    previous_secret_enc: bytes | None
    previous_secret_expires_at: datetime | None
    event_id: UUID
    type: str
    occurred_at: datetime
    subject_type: str
    subject_id: UUID
    case_id: UUID | None
    data: dict[str, Any]
    now: datetime


@dataclass(frozen=True, slots=True)
class WebhookFailures:
    """A subscription's failure count after recording; ``disabled`` when recording disabled it."""

    id: UUID
    org_id: UUID
    consecutive_failures: int
    disabled: bool


CLAIMED_ROWS = Rows(ClaimedDelivery)
FAILURE_ROWS = Rows(WebhookFailures)

_CLAIM = Query(
    """
    WITH due AS (
        SELECT d.id FROM webhook_deliveries d
        JOIN webhooks w ON w.id = d.webhook_id AND w.status = 'active'
        WHERE d.status = 'pending' AND d.next_attempt_at <= now()
          AND (d.leased_until IS NULL OR d.leased_until <= now())
        ORDER BY d.next_attempt_at
        LIMIT $1
        FOR UPDATE OF d SKIP LOCKED
    ), claimed AS (
        UPDATE webhook_deliveries d
        SET leased_until = now() + make_interval(secs => $2),
            next_attempt_at = now() + make_interval(secs => $2),
            updated_at = now()
        FROM due WHERE d.id = due.id
        RETURNING d.id, d.webhook_id, d.event_id, d.attempts, d.leased_until
    )
    SELECT c.id, c.webhook_id, c.attempts, c.leased_until, w.url, w.secret_enc,
           w.previous_secret_enc, w.previous_secret_expires_at, e.id AS event_id, e.type,
           e.occurred_at, e.subject_type, e.subject_id, e.case_id, e.data, now() AS now
    FROM claimed c
    JOIN webhooks w ON w.id = c.webhook_id
    JOIN events e ON e.id = c.event_id
    ORDER BY e.seq
    """,
    ("limit", "lease_seconds"),
)

# Each attempt's log row (for deliveries that still exist) and, while the claim's lease is
# still the delivery's, its new state: succeeded, failed, or pending again after a delay.
_RECORD = Query(
    """
    WITH u AS (
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[], $4::int[], $5::text[],
                             $6::int[], $7::text[], $8::int[], $9::float8[], $10::text[])
            AS u(attempt_id, delivery_id, lease, attempt, outcome, response_status, error,
                 duration_ms, retry_after, delivery_status)
    ), logged AS (
        INSERT INTO webhook_attempts (id, delivery_id, webhook_id, event_id, attempt, status,
                                      response_status, error, duration_ms, next_attempt_at)
        SELECT u.attempt_id, d.id, d.webhook_id, d.event_id, u.attempt, u.outcome,
               u.response_status, u.error, u.duration_ms,
               now() + make_interval(secs => u.retry_after)
        FROM u JOIN webhook_deliveries d ON d.id = u.delivery_id
        RETURNING 1
    ), moved AS (
        UPDATE webhook_deliveries d
        SET status = u.delivery_status, attempts = u.attempt,
            next_attempt_at = now() + make_interval(secs => u.retry_after),
            leased_until = NULL, last_response_status = u.response_status, updated_at = now()
        FROM u WHERE d.id = u.delivery_id AND d.leased_until = u.lease
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM logged) AS logged, (SELECT count(*) FROM moved) AS moved
    """,
    (
        "attempt_ids",
        "delivery_ids",
        "leases",
        "attempts",
        "outcomes",
        "response_statuses",
        "errors",
        "durations_ms",
        "retry_after",
        "delivery_statuses",
    ),
)

# Consecutive failures per subscription (reset by a success, then counting the failures after
# it), locked in id order so that workers recording at once never deadlock; a subscription
# reaching the limit is disabled (its `disabled_at` is this transaction's `now()`). NO KEY UPDATE,
# not FOR UPDATE: a request appending events inserts deliveries for these subscriptions, whose
# foreign-key checks take KEY SHARE on them in no particular order; FOR UPDATE conflicts with that
# and deadlocked a worker against a referral accept under load (the soak, eleventh session).
_COUNT_FAILURES = Query(
    """
    WITH u AS (
        SELECT * FROM unnest($1::uuid[], $2::bool[], $3::int[]) AS u(id, reset, failures)
    ), locked AS (
        SELECT w.id FROM webhooks w WHERE w.id IN (SELECT id FROM u) ORDER BY w.id
        FOR NO KEY UPDATE
    ), counted AS (
        SELECT w.id, w.status,
               CASE WHEN u.reset THEN u.failures ELSE w.consecutive_failures + u.failures END
                   AS failures
        FROM webhooks w JOIN u ON u.id = w.id
        WHERE w.id IN (SELECT id FROM locked)
    )
    UPDATE webhooks w
    SET consecutive_failures = c.failures,
        status = CASE WHEN c.status = 'active' AND c.failures >= $4 THEN 'disabled'
                      ELSE w.status END,
        disabled_at = CASE WHEN c.status = 'active' AND c.failures >= $4 THEN now()
                           ELSE w.disabled_at END,
        version = CASE WHEN c.status = 'active' AND c.failures >= $4 THEN w.version + 1
                       ELSE w.version END,
        updated_at = CASE WHEN c.status = 'active' AND c.failures >= $4 THEN now()
                          ELSE w.updated_at END
    FROM counted c WHERE w.id = c.id
    RETURNING w.id, w.org_id, w.consecutive_failures,
              (c.status = 'active' AND w.status = 'disabled') AS disabled
    """,
    ("ids", "resets", "failures", "disable_after"),
)

# When the next delivery falls due (the earliest pending attempt of an active subscription,
# leased ones at their lease's end).
_NEXT_DUE = Query(
    """
    SELECT d.next_attempt_at FROM webhook_deliveries d
    JOIN webhooks w ON w.id = d.webhook_id AND w.status = 'active'
    WHERE d.status = 'pending'
    ORDER BY d.next_attempt_at
    LIMIT 1
    """,
)


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt's outcome, to record. ``retry_after``: seconds until the next attempt (None
    when there is none: the delivery succeeded or failed for good)."""

    attempt_id: UUID
    delivery_id: UUID
    lease: datetime
    attempt: int
    outcome: str  # succeeded | failed
    response_status: int | None
    error: str | None
    duration_ms: int
    retry_after: float | None
    delivery_status: str  # succeeded | failed | pending


async def claim(session: Session, *, limit: int, lease_seconds: float) -> list[ClaimedDelivery]:
    return CLAIMED_ROWS.many(
        await session.fetch(_CLAIM, limit=limit, lease_seconds=float(lease_seconds))
    )


async def record(session: Session, records: list[AttemptRecord]) -> tuple[int, int]:
    """Log the attempts and move their deliveries; (attempts logged, deliveries moved)."""
    row = await session.fetchrow(
        _RECORD,
        attempt_ids=[r.attempt_id for r in records],
        delivery_ids=[r.delivery_id for r in records],
        leases=[r.lease for r in records],
        attempts=[r.attempt for r in records],
        outcomes=[r.outcome for r in records],
        response_statuses=[r.response_status for r in records],
        errors=[r.error for r in records],
        durations_ms=[r.duration_ms for r in records],
        retry_after=[r.retry_after for r in records],
        delivery_statuses=[r.delivery_status for r in records],
    )
    assert row is not None
    return int(row["logged"]), int(row["moved"])


async def count_failures(
    session: Session,
    *,
    ids: list[UUID],
    resets: list[bool],
    failures: list[int],
    disable_after: int,
) -> list[WebhookFailures]:
    return FAILURE_ROWS.many(
        await session.fetch(
            _COUNT_FAILURES,
            ids=ids,
            resets=resets,
            failures=failures,
            disable_after=disable_after,
        )
    )


async def next_due(session: Session) -> datetime | None:
    value = await session.fetchval(_NEXT_DUE)
    return value if isinstance(value, datetime) else None
