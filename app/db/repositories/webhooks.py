"""Webhook subscriptions, their deliveries and the per-attempt delivery log.

Every statement that reads or changes a subscription names its owner (``org_id``): another
organisation's subscription is simply not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from app.db.database import Session
from app.db.query import PAGE_CAP, Placeholders, Query
from app.db.rows import Rows

_COLUMNS = """
    id, org_id, url, event_types, description, status, secret_enc, previous_secret_enc,
    previous_secret_expires_at, consecutive_failures, disabled_at, created_at, updated_at, version
"""


@dataclass(frozen=True, slots=True)
class WebhookRow:
    id: UUID
    org_id: UUID
    url: str
    event_types: list[str]
    description: str | None
    status: str
    secret_enc: bytes
    previous_secret_enc: bytes | None
    previous_secret_expires_at: datetime | None
    consecutive_failures: int
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: UUID
    webhook_id: UUID
    event_id: UUID
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_response_status: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class LogRow:
    """One line of the delivery log: an attempt made (``id`` set), or the next attempt of a
    pending delivery (``id`` None). ``sort_id`` breaks ties of ``created_at`` in the keyset."""

    id: UUID | None
    sort_id: UUID
    delivery_id: UUID
    event_id: UUID
    event_type: str
    attempt: int
    status: str
    response_status: int | None
    error: str | None
    duration_ms: int | None
    next_attempt_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PingRow:
    event_id: UUID
    delivery_id: UUID


@dataclass(frozen=True, slots=True)
class SealedSecretsRow:
    id: UUID
    secret_enc: bytes
    previous_secret_enc: bytes | None


WEBHOOK_ROWS = Rows(WebhookRow)
DELIVERY_ROWS = Rows(DeliveryRow)
LOG_ROWS = Rows(LogRow)
PING_ROWS = Rows(PingRow)
SEALED_ROWS = Rows(SealedSecretsRow)

_DELIVERY_COLUMNS = """
    id, webhook_id, event_id, status, attempts, next_attempt_at, last_response_status,
    created_at, updated_at
"""

_INSERT = Query(
    f"""
    INSERT INTO webhooks (id, org_id, url, event_types, description, secret_enc)
    VALUES ($1, $2, $3, $4, $5, $6)
    RETURNING {_COLUMNS}
    """,  # noqa: S608 - constant text
    ("id", "org_id", "url", "event_types", "description", "secret_enc"),
)

_GET = Query(
    f"SELECT {_COLUMNS} FROM webhooks WHERE id = $1 AND org_id = $2",  # noqa: S608
    ("id", "org_id"),
)


# A partner's webhooks, oldest first: one statement per shape (a status filter, a cursor: given
# or not), compiled once per process, instead of a catch-all `$n IS NULL OR …`.
@cache
def list_query(status: bool, after: bool) -> Query:
    """Parameters: ``org_id``, [``status``], [``after_ts``, ``after_id``], ``limit``."""
    params = Placeholders("org_id")
    where = "org_id = $1"
    if status:
        where += f" AND status = {params.bind('status', 'text')}"
    if after:
        where += f" AND (created_at, id) > {params.cursor('after')}"
    return params.query(
        f"SELECT {_COLUMNS} FROM webhooks WHERE {where}"  # noqa: S608 - constant fragments
        f" ORDER BY created_at, id LIMIT {params.bind('limit')}"
    )


# A PATCH: fields given replace the stored ones ($3-$5 NULL: unchanged; $6 says whether the
# description is given, so null clears it). Setting the status to `active` re-enables the
# subscription and forgets its failures; `disabled` stops it (disabled_at kept from the first
# time it stopped).
_UPDATE = Query(
    f"""
    UPDATE webhooks SET
        url = COALESCE($3::text, url),
        event_types = COALESCE($4::text[], event_types),
        description = CASE WHEN $5::boolean THEN $6::text ELSE description END,
        status = COALESCE($7::text, status),
        consecutive_failures = CASE WHEN $7::text = 'active' THEN 0
                                    ELSE consecutive_failures END,
        disabled_at = CASE WHEN $7::text = 'active' THEN NULL
                           WHEN $7::text = 'disabled' THEN COALESCE(disabled_at, now())
                           ELSE disabled_at END,
        updated_at = now(),
        version = version + 1
    WHERE id = $1 AND org_id = $2 AND version = $8
    RETURNING {_COLUMNS}
    """,  # noqa: S608 - constant text
    ("id", "org_id", "url", "event_types", "set_description", "description", "status",
     "expected_version"),
)  # fmt: skip

# The new secret signs from now on; the current one keeps signing beside it until the window
# closes (an older previous secret, if a rotation was still in its window, stops at once).
_ROTATE = Query(
    f"""
    UPDATE webhooks SET
        previous_secret_enc = secret_enc,
        previous_secret_expires_at = now() + make_interval(secs => $4),
        secret_enc = $3,
        updated_at = now(),
        version = version + 1
    WHERE id = $1 AND org_id = $2
    RETURNING {_COLUMNS}
    """,  # noqa: S608 - constant text
    ("id", "org_id", "secret_enc", "overlap_seconds"),
)

# Deliveries and attempts go with the subscription (foreign keys ON DELETE CASCADE).
_DELETE = Query(
    "DELETE FROM webhooks WHERE id = $1 AND org_id = $2 AND ($3::int IS NULL OR version = $3)"
    " RETURNING version",
    ("id", "org_id", "expected_version"),
)

# The test ping: one `webhook.test` event for the owner and one delivery for this subscription
# only (whatever its event types), the owner's feed and the workers woken at commit.
_PING = Query(
    """
    WITH ev AS (
        INSERT INTO events (id, org_id, type, subject_type, subject_id, case_id, data)
        VALUES ($1, $2, 'webhook.test', 'webhook', $3, NULL, $4::jsonb)
        RETURNING id, org_id
    ), dl AS (
        INSERT INTO webhook_deliveries (id, webhook_id, event_id)
        SELECT $5, $3, ev.id FROM ev
        RETURNING id, event_id
    ), woke AS (
        SELECT pg_notify('aftercare_events', org_id::text) FROM ev
    ), workers AS (
        SELECT pg_notify('aftercare_deliveries', '') FROM dl
    )
    SELECT dl.event_id, dl.id AS delivery_id
    FROM dl, (SELECT count(*) FROM woke) w, (SELECT count(*) FROM workers) k
    """,
    ("event_id", "org_id", "webhook_id", "data", "delivery_id"),
)

_GET_DELIVERY = Query(
    f"""
    SELECT {", ".join("d." + c.strip() for c in _DELIVERY_COLUMNS.split(","))}
    FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
    WHERE d.id = $1 AND d.webhook_id = $2 AND w.org_id = $3
    """,  # noqa: S608 - constant text
    ("id", "webhook_id", "org_id"),
)

# A manual retry: due now, the attempt counter kept; the workers woken at commit. A delivery
# that already succeeded is left as it is (no row).
_RETRY = Query(
    f"""
    WITH d AS (
        UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(),
                                      updated_at = now()
        WHERE id = $1 AND webhook_id = $2 AND status IN ('pending', 'failed')
        RETURNING {_DELIVERY_COLUMNS}
    ), workers AS (
        SELECT pg_notify('aftercare_deliveries', '') FROM d
    )
    SELECT d.* FROM d, (SELECT count(*) FROM workers) k
    """,  # noqa: S608 - constant text
    ("id", "webhook_id"),
)

# The delivery log, newest first: every attempt made, and for each pending delivery the attempt
# to come (no id yet), placed at the time it is due: after the attempt before it (a retry waits
# at least a second), at the top while it waits. One statement per shape of request (a status
# filter: none, `pending` — only what is to come, attempts are never pending — or an attempt's
# status; a cursor or not), built from constant fragments and compiled once per process. Each
# branch is read newest first and cut at the constant `PAGE_CAP` on its own (the attempts through
# ix_webhook_attempts_webhook_id_created_at_id, backwards), then merged: a page of a busy
# webhook's log reads a page, where one statement for every shape (`$n IS NULL OR …` around a
# union sorted as a whole) joined and sorted every attempt the webhook ever had.
_ATTEMPTS = """
    SELECT a.id, a.id AS sort_id, a.delivery_id, a.event_id, e.type AS event_type,
           a.attempt, a.status, a.response_status, a.error, a.duration_ms,
           a.next_attempt_at, a.created_at
    FROM webhook_attempts a JOIN events e ON e.id = a.event_id
    WHERE {where}
    ORDER BY a.created_at DESC, a.id DESC
"""
_TO_COME = """
    SELECT NULL::uuid AS id, d.id AS sort_id, d.id AS delivery_id, d.event_id,
           e.type AS event_type, d.attempts + 1 AS attempt, 'pending' AS status,
           NULL::int AS response_status, NULL::text AS error, NULL::int AS duration_ms,
           d.next_attempt_at, COALESCE(d.next_attempt_at, d.updated_at) AS created_at
    FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
    WHERE {where}
    ORDER BY COALESCE(d.next_attempt_at, d.updated_at) DESC, d.id DESC
"""


def log_query(status: str | None, before: bool) -> Query:
    """The delivery log's statement for this shape: ``status`` is ``None``, ``"pending"`` or an
    attempt's status (``"succeeded"``, ``"failed"``); ``before`` says whether a cursor is given.
    Its parameters: ``webhook_id``, [``status``], [``before_ts``, ``before_id``], ``limit``."""
    return _log_query(status if status in (None, "pending") else "attempt", before)


@cache
def _log_query(shown: str | None, before: bool) -> Query:
    params = Placeholders("webhook_id")
    attempts = ["a.webhook_id = $1"]
    to_come = ["d.webhook_id = $1", "d.status = 'pending'"]
    if shown == "attempt":
        attempts.append(f"a.status = {params.bind('status', 'text')}")
    if before:
        cursor = params.cursor("before")
        attempts.append(f"(a.created_at, a.id) < {cursor}")
        to_come.append(f"(COALESCE(d.next_attempt_at, d.updated_at), d.id) < {cursor}")
    branches = []
    if shown != "pending":
        branches.append(_ATTEMPTS.format(where=" AND ".join(attempts)))
    if shown != "attempt":
        branches.append(_TO_COME.format(where=" AND ".join(to_come)))
    union = " UNION ALL ".join(f"({b} LIMIT {PAGE_CAP})" for b in branches)
    return params.query(
        f"SELECT * FROM ({union}) log"  # noqa: S608 - constant fragments, every value bound
        f" ORDER BY created_at DESC, sort_id DESC LIMIT {params.bind('limit')}"
    )


# KEK rotation: every sealed secret, in id order, and its re-sealed replacement.
_SEALED_PAGE = Query(
    """
    SELECT id, secret_enc, previous_secret_enc FROM webhooks
    WHERE $1::uuid IS NULL OR id > $1::uuid
    ORDER BY id
    LIMIT $2
    """,
    ("after_id", "limit"),
)
_RESEAL = Query(
    "UPDATE webhooks SET secret_enc = $2, previous_secret_enc = $3 WHERE id = $1",
    ("id", "secret_enc", "previous_secret_enc"),
)


async def insert(session: Session, **values: Any) -> WebhookRow:
    row = WEBHOOK_ROWS.one(await session.fetchrow(_INSERT, values))
    assert row is not None
    return row


async def get(session: Session, webhook_id: UUID, org_id: UUID) -> WebhookRow | None:
    return WEBHOOK_ROWS.one(await session.fetchrow(_GET, id=webhook_id, org_id=org_id))


async def list_page(session: Session, **params: Any) -> list[WebhookRow]:
    return WEBHOOK_ROWS.many(
        await session.fetch(
            list_query(params.get("status") is not None, params.get("after_ts") is not None),
            params,
        )
    )


async def update(session: Session, **params: Any) -> WebhookRow | None:
    return WEBHOOK_ROWS.one(await session.fetchrow(_UPDATE, params))


async def rotate(
    session: Session, webhook_id: UUID, org_id: UUID, secret_enc: bytes, overlap_seconds: float
) -> WebhookRow | None:
    return WEBHOOK_ROWS.one(
        await session.fetchrow(
            _ROTATE,
            id=webhook_id,
            org_id=org_id,
            secret_enc=secret_enc,
            overlap_seconds=overlap_seconds,
        )
    )


async def delete(
    session: Session, webhook_id: UUID, org_id: UUID, expected_version: int | None
) -> bool:
    version = await session.fetchval(
        _DELETE, id=webhook_id, org_id=org_id, expected_version=expected_version
    )
    return version is not None


async def ping(session: Session, **params: Any) -> PingRow:
    row = PING_ROWS.one(await session.fetchrow(_PING, params))
    assert row is not None
    return row


async def get_delivery(
    session: Session, delivery_id: UUID, webhook_id: UUID, org_id: UUID
) -> DeliveryRow | None:
    return DELIVERY_ROWS.one(
        await session.fetchrow(_GET_DELIVERY, id=delivery_id, webhook_id=webhook_id, org_id=org_id)
    )


async def retry(session: Session, delivery_id: UUID, webhook_id: UUID) -> DeliveryRow | None:
    return DELIVERY_ROWS.one(await session.fetchrow(_RETRY, id=delivery_id, webhook_id=webhook_id))


async def log_page(
    session: Session,
    *,
    webhook_id: UUID,
    status: str | None,
    before_ts: datetime | None,
    before_id: UUID | None,
    limit: int,
) -> list[LogRow]:
    """A page of the webhook's delivery log, newest first (``log_query``)."""
    if limit > PAGE_CAP:
        raise ValueError(f"a page holds at most {PAGE_CAP} rows")
    before = before_ts is not None
    query = log_query(status, before)
    params: dict[str, Any] = {"webhook_id": webhook_id, "limit": limit}
    if "status" in query.names:
        params["status"] = status
    if before:
        params["before_ts"], params["before_id"] = before_ts, before_id
    return LOG_ROWS.many(await session.fetch(query, params))


async def sealed_page(
    session: Session, after_id: UUID | None, limit: int
) -> list[SealedSecretsRow]:
    return SEALED_ROWS.many(await session.fetch(_SEALED_PAGE, after_id=after_id, limit=limit))


async def reseal(
    session: Session, webhook_id: UUID, secret_enc: bytes, previous_secret_enc: bytes | None
) -> None:
    await session.execute(
        _RESEAL, id=webhook_id, secret_enc=secret_enc, previous_secret_enc=previous_secret_enc
    )
