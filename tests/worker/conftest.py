"""Worker tests: a real receiver on 127.0.0.1, subscriptions written straight to the database
(sealed the way the worker opens them), events written through the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI

from app.db.database import Database
from app.domain.crypto import KeyWrapper
from app.domain.events import EventType, Outbox, SubjectType
from app.domain.webhook_signing import generate_secret
from app.domain.webhooks import seal_secret
from app.settings import Settings
from bench.receiver import Receiver


@dataclass(frozen=True)
class Hook:
    id: UUID
    org_id: UUID
    secret: str


@pytest.fixture
def worker_settings(settings: Settings) -> Settings:
    """Short timeouts and retries, a short lease, private addresses allowed (the receiver)."""
    return settings.model_copy(
        update={
            "webhook_allow_private_networks": True,
            "webhook_retry_schedule": "1,1",
            "webhook_timeout_seconds": 2.0,
            "webhook_lease_seconds": 3.0,
            "webhook_disable_after": 30,
        }
    )


@pytest.fixture
def key_wrapper(app: FastAPI) -> KeyWrapper:
    wrapper: KeyWrapper = app.state.ctx.key_wrapper
    return wrapper


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def add_webhook(
    database: Database,
    key_wrapper: KeyWrapper,
    org_id: UUID,
    url: str,
    *,
    event_types: list[str] | None = None,
    previous_secret: str | None = None,
) -> Hook:
    hook_id = uuid4()
    secret = generate_secret()
    previous = seal_secret(key_wrapper, hook_id, previous_secret) if previous_secret else None
    async with database.pool.acquire() as conn:
        await conn.execute(
            """
            INSERT INTO webhooks (id, org_id, url, event_types, secret_enc, previous_secret_enc,
                                  previous_secret_expires_at)
            VALUES ($1, $2, $3, $4, $5, $6,
                    CASE WHEN $6::bytea IS NULL THEN NULL ELSE now() + interval '1 day' END)
            """,
            hook_id,
            org_id,
            url,
            event_types or ["*"],
            seal_secret(key_wrapper, hook_id, secret),
            previous,
        )
    return Hook(hook_id, org_id, secret)


async def emit(database: Database, org_id: UUID, count: int = 1) -> list[UUID]:
    """``count`` webhook.test events to ``org_id`` in one transaction; their ids."""
    session = database.session(transactional=True)
    try:
        outbox = Outbox(session, actor_org_id=None)
        for _ in range(count):
            await outbox.to_orgs(
                EventType.WEBHOOK_TEST,
                [org_id],
                subject=(SubjectType.WEBHOOK, uuid4()),
                data={"status": "test"},
            )
        await session.commit()
    finally:
        await session.close()
    async with database.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id FROM events WHERE org_id = $1 ORDER BY seq DESC LIMIT $2", org_id, count
        )
    return [r["id"] for r in reversed(rows)]


async def rows(database: Database, sql: str, *args: Any) -> list[dict[str, Any]]:
    async with database.pool.acquire() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]
