"""The session's pool acquire: at once while a slot is free, at most ``acquire_timeout`` when
every slot is out (then the database is reported unavailable: the API's 503)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from app.db.database import Database, _busy
from app.db.errors import DatabaseUnavailable
from app.db.query import Query


async def test_the_pool_keeps_its_queue_of_free_slots(database_url: str) -> None:
    # _busy reads asyncpg's queue of free holders; an asyncpg without it would make every
    # acquire arm a timer again (slower, still correct): this says so loudly.
    db = Database(database_url, min_size=0, max_size=2)
    await db.connect()
    try:
        assert isinstance(getattr(db.pool, "_queue", None), asyncio.Queue)
        assert not _busy(db.pool)
        first, second = db.session(transactional=False), db.session(transactional=False)
        await first.connection()
        assert not _busy(db.pool)
        await second.connection()
        assert _busy(db.pool)  # both slots out: the next acquire waits, with a timeout
        await first.close()
        assert not _busy(db.pool)
        await second.close()
    finally:
        await db.close()


async def test_a_full_pool_waits_at_most_the_acquire_timeout(database_url: str) -> None:
    db = Database(database_url, min_size=0, max_size=1, acquire_timeout=0.2)
    await db.connect()
    holder = db.session(transactional=False)
    try:
        await holder.connection()
        waiting = db.session(transactional=False)
        began = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            await waiting.connection()
        assert time.monotonic() - began < 2.0
        await waiting.close()
    finally:
        await holder.close()
        await db.close()


async def test_a_free_slot_is_taken_without_a_timer(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(database_url, min_size=0, max_size=2)
    await db.connect()
    armed: list[float | None] = []
    acquire = asyncpg.Pool.acquire

    def spy(pool: asyncpg.Pool, *, timeout: float | None = None) -> object:
        armed.append(timeout)
        return acquire(pool, timeout=timeout)

    monkeypatch.setattr(asyncpg.Pool, "acquire", spy)
    try:
        session = db.session(transactional=False)
        assert await session.fetchval(Query("SELECT 1")) == 1
        await session.close()
        assert armed == [None]
    finally:
        await db.close()
