"""The outbox and change feed: who may hear about a case, appending events, reading a feed page.

Events are appended in the transaction of the change they describe (the caller's unit of work).
One statement writes the events, the webhook deliveries they cause and the wake-up notifications
(``NOTIFY`` is delivered at commit, and not at all on rollback).

Feed order is ``(txid, seq)``, and a page only shows rows whose writing transaction is older than
every transaction still in progress (``pg_snapshot_xmin``): any event that commits later belongs
to a transaction at least as new as that horizon, so it sorts after everything already shown and
a reader never steps past it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from app.db import notify
from app.db.database import Session
from app.db.policy_facts import ConsentFact, policy_facts, sees_case
from app.db.query import PAGE_CAP, Query
from app.db.repositories import audit as audit_repo
from app.db.rows import Rows

EVENTS_CHANNEL = notify.EVENTS_CHANNEL
DELIVERIES_CHANNEL = notify.DELIVERIES_CHANNEL


@dataclass(frozen=True, slots=True)
class AudienceRow:
    """One organisation that may see the case now (its lead or an active care-team member),
    with the access policy's facts about it (app.db.policy_facts)."""

    org_id: UUID
    lead_org_id: UUID
    member_categories: list[str] | None
    consents: list[ConsentFact]
    caller_kind: str


@dataclass(frozen=True, slots=True)
class EventRow:
    txid: int
    seq: int
    id: UUID
    org_id: UUID
    type: str
    occurred_at: datetime
    subject_type: str
    subject_id: UUID
    case_id: UUID | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FeedPage:
    """Up to ``limit`` events after a position, the visibility horizon their snapshot had (every
    event not shown and not yet visible has ``txid >= horizon``) and the retention watermark."""

    rows: list[EventRow]
    horizon: int
    pruned_txid: int


AUDIENCE_ROWS = Rows(AudienceRow)

_AUDIENCE = Query(
    f"""
    SELECT o.id AS org_id, c.lead_org_id, {policy_facts("c", org="o", caller="o.id")}
    FROM cases c
    JOIN organizations o ON {sees_case("o", "c")}
    WHERE c.id = $1
    ORDER BY o.id
    """,  # noqa: S608 - constant text: aliases only
    ("case_id",),
)

# Events, then one delivery per matching active subscription of each recipient, then one
# notification per recipient organisation (and one for the workers when a delivery is due).
_APPEND = Query(
    """
    WITH ev AS (
        INSERT INTO events (id, org_id, type, subject_type, subject_id, case_id, data)
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::uuid[],
                             $6::uuid[], $7::jsonb[])
        RETURNING id, org_id, type
    ), dl AS (
        INSERT INTO webhook_deliveries (id, webhook_id, event_id)
        SELECT gen_random_uuid(), w.id, ev.id
        FROM ev JOIN webhooks w
          ON w.org_id = ev.org_id AND w.status = 'active'
         AND (ev.type = ANY (w.event_types) OR '*' = ANY (w.event_types))
        RETURNING 1
    ), woke AS (
        SELECT pg_notify('aftercare_events', org_id::text)
        FROM (SELECT DISTINCT org_id FROM ev) recipients
    ), workers AS (
        SELECT pg_notify('aftercare_deliveries', '') FROM (SELECT 1 FROM dl LIMIT 1) due
    )
    SELECT (SELECT count(*) FROM woke) AS recipients,
           (SELECT count(*) FROM dl) AS deliveries,
           (SELECT count(*) FROM workers) AS workers_woken
    """,
    ("ids", "org_ids", "types", "subject_types", "subject_ids", "case_ids", "data"),
)
# `_APPEND` carrying a transaction's held audit row (app.db.repositories.audit.append).
_APPEND_AUDITED = audit_repo.appending(_APPEND)

# A feed page and, from the same snapshot, the visibility horizon and the retention watermark
# (one row with NULL event columns when the page is empty). One statement per filter shape, so
# each keeps a cached generic plan.
_FEED_HEAD = """
    WITH h AS (
        SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon,
               (SELECT pruned_txid FROM event_retention) AS pruned_txid
    )
    SELECT h.horizon, h.pruned_txid, e.txid, e.seq, e.id, e.org_id, e.type, e.occurred_at,
           e.subject_type, e.subject_id, e.case_id, e.data
    FROM h LEFT JOIN LATERAL (
        SELECT * FROM (
            SELECT * FROM events
            WHERE org_id = $1 AND (txid, seq) > ($2, $3) AND txid < h.horizon
"""
# The page is read under the constant cap `PAGE_CAP` (app.db.query), then cut to `$4`: the cached
# generic plan is costed for a page, so it is used whatever the size of the table.
_FEED_TAIL = f"""
            ORDER BY txid, seq
            LIMIT {PAGE_CAP}
        ) capped
        ORDER BY txid, seq
        LIMIT $4
    ) e ON true
    ORDER BY e.txid, e.seq
"""
_PAGE = Query(_FEED_HEAD + _FEED_TAIL, ("org_id", "after_txid", "after_seq", "limit"))
_PAGE_OF_TYPES = Query(
    _FEED_HEAD + "            AND type = ANY ($5::text[])" + _FEED_TAIL,
    ("org_id", "after_txid", "after_seq", "limit", "types"),
)

# Retention: delete in batches (oldest first) and move the watermark past what was deleted.
_PRUNE = Query(
    """
    WITH doomed AS (
        SELECT seq FROM events WHERE occurred_at < $1 ORDER BY occurred_at LIMIT $2
    ), gone AS (
        DELETE FROM events e USING doomed d WHERE e.seq = d.seq RETURNING e.txid
    ), mark AS (
        UPDATE event_retention
        SET pruned_txid = GREATEST(pruned_txid, (SELECT max(txid) FROM gone)),
            pruned_at = now()
        WHERE EXISTS (SELECT 1 FROM gone)
    )
    SELECT count(*) FROM gone
    """,
    ("before", "batch"),
)


async def audience(session: Session, case_id: UUID) -> list[AudienceRow]:
    return AUDIENCE_ROWS.many(await session.fetch(_AUDIENCE, case_id=case_id))


def audience_rows(lead_org_id: UUID, facts: list[dict[str, Any]]) -> list[AudienceRow]:
    """The rows :func:`audience` gives, from the ``audience`` column of a statement that read
    them with the case (app.db.policy_facts.audience_facts: the same organisations and facts)."""
    return [
        AudienceRow(
            UUID(f["org_id"]), lead_org_id, f["member_categories"], f["consents"], f["caller_kind"]
        )
        for f in facts
    ]


async def append(session: Session, rows: list[dict[str, Any]]) -> int:
    """Write events (``rows``: id, org_id, type, subject_type, subject_id, case_id, data), their
    webhook deliveries and notifications; returns the number of deliveries created. The
    transaction's held audit row, if any, is appended by the same statement (``_APPEND_AUDITED``:
    a write's audit row and its events in one round trip)."""
    audit = audit_repo.take_pending(session)
    record = await session.fetchrow(
        _APPEND if audit is None else _APPEND_AUDITED,
        audit,
        ids=[r["id"] for r in rows],
        org_ids=[r["org_id"] for r in rows],
        types=[r["type"] for r in rows],
        subject_types=[r["subject_type"] for r in rows],
        subject_ids=[r["subject_id"] for r in rows],
        case_ids=[r["case_id"] for r in rows],
        data=[r["data"] for r in rows],
    )
    return int(record["deliveries"]) if record is not None else 0


async def page(
    session: Session,
    *,
    org_id: UUID,
    after_txid: int,
    after_seq: int,
    limit: int,
    types: list[str] | None,
) -> FeedPage:
    if limit > PAGE_CAP:
        raise ValueError(f"a feed page holds at most {PAGE_CAP} events")
    params = {"org_id": org_id, "after_txid": after_txid, "after_seq": after_seq, "limit": limit}
    if types:
        records = await session.fetch(_PAGE_OF_TYPES, params, types=types)
    else:
        records = await session.fetch(_PAGE, params)
    first = records[0]
    rows = [] if first["id"] is None else [EventRow(*r[2:]) for r in records]
    return FeedPage(rows, horizon=int(first["horizon"]), pruned_txid=int(first["pruned_txid"]))


async def prune(session: Session, before: datetime, batch: int = 5000) -> int:
    return int(await session.fetchval(_PRUNE, before=before, batch=batch))


_BACKLOG = Query(
    """
    SELECT count(*) AS pending,
           coalesce(extract(epoch FROM now() - min(next_attempt_at)
                            FILTER (WHERE next_attempt_at <= now())), 0)::float8 AS lag_seconds
    FROM webhook_deliveries WHERE status = 'pending'
    """
)


async def delivery_backlog(session: Session) -> tuple[int, float]:
    """Pending webhook deliveries, and how long the oldest due one has waited (seconds)."""
    record = await session.fetchrow(_BACKLOG)
    assert record is not None
    return int(record["pending"]), float(record["lag_seconds"])
