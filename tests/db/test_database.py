"""The session's pool acquire: at once while a slot is free, at most ``acquire_timeout`` when
every slot is out (then the database is reported unavailable: the API's 503), and first come
first served while it waits."""

from __future__ import annotations

import asyncio
import os
import time

import asyncpg
import pytest

from app.db.database import Database, _busy
from app.db.errors import DatabaseUnavailable, SessionClosed, TransactionAborted, ValueRejected
from app.db.query import Query


async def test_sessions_wait_for_connections_through_the_slots(database_url: str) -> None:
    """Sessions wait for a connection in the slots' queue (app/db/slots.py), not in asyncpg's:
    with every waiter past ``starve_after`` (here 0), a session that asks later (a stream of
    newcomers arriving as connections come back) never gets one before a session that asked
    earlier. asyncpg's own queue lets whoever asks next take a returned connection, and the
    waiter it woke queues again at the end: some requests waited a second behind a 10 ms
    median. (The rule for younger waiters is tests/unit/test_db_slots.py's.)"""
    db = Database(database_url, min_size=0, max_size=2)
    await db.connect()
    assert db._slots is not None
    db._slots.starve_after = 0
    served: list[int] = []

    async def request(n: int) -> None:
        session = db.session(transactional=False)
        try:
            await session.connection()
            served.append(n)
            await asyncio.sleep(0.005)  # the request's work, with its connection
        finally:
            await session.close()

    try:
        warm = [db.session(transactional=False) for _ in range(2)]
        for session in warm:  # both connections open: no request waits for a connect
            await session.connection()
        for session in warm:
            await session.close()
        tasks = []
        for n in range(40):
            tasks.append(asyncio.create_task(request(n)))
            await asyncio.sleep(0.001)  # newcomers keep arriving while earlier ones wait
        assert db.pool_stats()[3] > 0  # what aftercare_db_pool_waiting reports
        await asyncio.gather(*tasks)
        assert db.pool_stats()[3] == 0
        # The first two found a free slot at once (either may start first); every other waited.
        assert sorted(served[:2]) == [0, 1]
        assert served[2:] == sorted(served[2:])
        assert db.pool_stats()[0] <= 2
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


async def test_the_pool_keeps_its_queue_of_free_holders(database_url: str) -> None:
    # _busy reads asyncpg's queue of free holders, to bound the rare acquire that can wait (a
    # cancelled session's connection still on its way back): an asyncpg without it would arm
    # a timer on every acquire (slower, still correct). This says so loudly.
    db = Database(database_url, min_size=0, max_size=1)
    await db.connect()
    try:
        assert isinstance(getattr(db.pool, "_queue", None), asyncio.Queue)
        assert not _busy(db.pool)
        session = db.session(transactional=False)
        await session.connection()
        assert _busy(db.pool)
        await session.close()
        assert not _busy(db.pool)
    finally:
        await db.close()


async def test_a_failed_warm_up_gives_back_the_connections_it_opened(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    acquire = asyncpg.Pool.acquire

    def second_fails(pool: asyncpg.Pool, *, timeout: float | None = None) -> object:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise OSError("connection refused")
        return acquire(pool, timeout=timeout)

    db = Database(database_url, min_size=2, max_size=2, acquire_timeout=0.5)
    monkeypatch.setattr(asyncpg.Pool, "acquire", second_fails)
    await db.connect()
    monkeypatch.undo()
    try:
        assert db.pool_stats() == (1, 1, 2, 0)  # the one it opened is idle in the pool
        sessions = [db.session(transactional=False) for _ in range(2)]
        for session in sessions:  # both slots have a connection behind them
            assert await session.fetchval(Query("SELECT 1")) == 1
        for session in sessions:
            await session.close()
    finally:
        await db.close()


async def test_a_cancelled_close_of_a_shared_session_still_gives_the_connection_back(
    database_url: str,
) -> None:
    """GraphQL's session is shared by the request's resolvers, one statement at a time
    (app/db/serialized.py). A close that waits for a statement still running, and is cancelled
    while it waits, used to leave the connection and its slot out of the pool for good."""
    from app.db import serialized
    from app.db.serialized import SerializedSession

    db = Database(database_url, min_size=0, max_size=1)
    await db.connect()
    try:
        session = SerializedSession(db, transactional=False)
        statement = asyncio.create_task(session.fetchval(Query("SELECT pg_sleep(0.2)")))
        await asyncio.sleep(0)  # the statement starts: it holds the session
        assert session._lock.locked()
        close = asyncio.create_task(session.close())
        await asyncio.sleep(0.01)
        # a resolver's statement queued behind the close: refused, no connection opened for it
        late = asyncio.create_task(session.fetchval(Query("SELECT 1")))
        close.cancel()
        with pytest.raises(asyncio.CancelledError):
            await close
        await statement
        with pytest.raises(SessionClosed):
            await late
        async with asyncio.timeout(10):  # the close goes on: its statement has ended
            await asyncio.gather(*serialized._CLOSING)
        assert db.pool_stats()[:2] == (1, 1)  # the one connection is back, idle
        other = db.session(transactional=False)
        try:
            assert await other.fetchval(Query("SELECT 1")) == 1
        finally:
            await other.close()
    finally:
        try:
            async with asyncio.timeout(5):  # (closing a pool waits for every connection)
                await db.close()
        except TimeoutError:
            db.pool.terminate()
            raise AssertionError("a connection never came back to the pool") from None


async def test_a_deadlock_aborts_one_side_as_transaction_aborted(database_url: str) -> None:
    """Two transactions that wait for each other: PostgreSQL rolls one back (40P01), which the
    session raises as ``TransactionAborted`` (the API's 503 with ``Retry-After``), and the
    other goes on."""
    db = Database(database_url, min_size=0, max_size=2)
    await db.connect()
    lock = Query("SELECT pg_advisory_xact_lock($1)", ("key",))
    first, second = (int.from_bytes(os.urandom(7)) for _ in range(2))
    a, b = db.session(), db.session()
    try:
        await a.fetchval(lock, key=first)
        await b.fetchval(lock, key=second)
        results = await asyncio.gather(
            a.fetchval(lock, key=second), b.fetchval(lock, key=first), return_exceptions=True
        )
        aborted = [r for r in results if isinstance(r, TransactionAborted)]
        assert len(aborted) == 1, results
        assert aborted[0].sqlstate == "40P01"
        assert isinstance(aborted[0].__cause__, asyncpg.DeadlockDetectedError)
        assert results.count(None) == 1  # the other side got its lock
    finally:
        for session in (a, b):
            await session.rollback()
            await session.close()
        await db.close()


async def test_a_commit_of_an_aborted_transaction_is_transaction_aborted(
    database_url: str,
) -> None:
    """PostgreSQL answers COMMIT with ROLLBACK when the transaction had already failed: the
    session says so rather than let its caller think the work was stored."""
    db = Database(database_url, min_size=0, max_size=1)
    await db.connect()
    session = db.session()
    try:
        await session.execute(Query("CREATE TEMP TABLE probe (n int)"))
        await session.execute(Query("INSERT INTO probe VALUES (1)"))
        with pytest.raises(ValueRejected):
            await session.fetchval(Query("SELECT 1 / 0"))
        with pytest.raises(TransactionAborted) as aborted:
            await session.commit()
        assert aborted.value.sqlstate is None
        assert session.after_commit == []  # no after-commit work runs for it
    finally:
        await session.rollback()
        await session.close()
    probe = db.session(transactional=False)
    try:
        assert await probe.fetchval(Query("SELECT to_regclass('probe') IS NULL"))
    finally:
        await probe.close()
        await db.close()
