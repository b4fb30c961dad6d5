"""A unit of work that several coroutines of one request may share, with savepoints.

GraphQL resolves sibling fields (and DataLoader batches) concurrently, but a request still works
in one :class:`~app.db.database.Session` on one connection, which runs one statement at a time.
:class:`SerializedSession` queues its statements on a lock, so concurrent resolvers take turns
instead of tripping over each other, and offers :meth:`SerializedSession.savepoint` so that one
mutation of a multi-mutation request can fail and roll back alone.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from app.db.database import Database, Session
from app.db.errors import SessionClosed
from app.db.query import Query
from app.logging import log

# Closes that go on after their caller was cancelled (the event loop keeps only weak references
# to tasks).
_CLOSING: set[asyncio.Task[None]] = set()


def _closed(task: asyncio.Task[None]) -> None:
    _CLOSING.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        # (a caller cancelled meanwhile never sees it: it is logged here, by type only)
        log.warning("session_close_failed", error=type(error).__name__)


class SerializedSession(Session):
    __slots__ = ("_closed", "_lock", "_savepoints")

    def __init__(self, db: Database, *, transactional: bool) -> None:
        super().__init__(db, transactional=transactional)
        self._lock = asyncio.Lock()
        self._savepoints = itertools.count(1)
        self._closed = False

    async def connection(self) -> asyncpg.Connection:
        if self._closed:  # a statement that waited its turn behind the close
            raise SessionClosed()
        return await super().connection()

    async def fetch(
        self, query: Query, params: Mapping[str, Any] | None = None, /, **kw: Any
    ) -> list[asyncpg.Record]:
        async with self._lock:
            return await super().fetch(query, params, **kw)

    async def fetchrow(
        self, query: Query, params: Mapping[str, Any] | None = None, /, **kw: Any
    ) -> asyncpg.Record | None:
        async with self._lock:
            return await super().fetchrow(query, params, **kw)

    async def fetchval(
        self, query: Query, params: Mapping[str, Any] | None = None, /, **kw: Any
    ) -> Any:
        async with self._lock:
            return await super().fetchval(query, params, **kw)

    async def execute(
        self, query: Query, params: Mapping[str, Any] | None = None, /, **kw: Any
    ) -> str:
        async with self._lock:
            return await super().execute(query, params, **kw)

    async def executemany(self, query: Query, rows: Sequence[Mapping[str, Any]]) -> None:
        async with self._lock:
            await super().executemany(query, rows)

    async def begin(self, *, snapshot: bool = False) -> None:
        async with self._lock:
            await super().begin(snapshot=snapshot)

    async def commit(self) -> None:
        async with self._lock:
            await super().commit()

    async def rollback(self) -> None:
        async with self._lock:
            await super().rollback()

    async def close(self) -> None:
        # A statement of this request may still run or wait for its turn (the request was cut
        # short while its resolvers ran): the close takes its turn after them in a task of its
        # own, which goes on even if this caller is cancelled meanwhile, so that the connection
        # and its slot always go back to the pool.
        closing = asyncio.create_task(self._close_in_turn())
        _CLOSING.add(closing)
        closing.add_done_callback(_closed)
        await asyncio.shield(closing)

    async def _close_in_turn(self) -> None:
        async with self._lock:
            self._closed = True
            await super().close()

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Run the block atomically inside the (begun) transaction: on any exception its
        statements are undone and the exception propagates; the transaction goes on."""
        await self.begin()
        async with self._lock:
            await self.send_deferred()  # held before the savepoint: not the savepoint's to undo
        name = f"unit_{next(self._savepoints)}"
        await self.execute(Query(f"SAVEPOINT {name}"))
        try:
            yield
        except BaseException:
            self.drop_deferred()  # held inside it: undone with it
            if self.in_transaction:
                await self.execute(Query(f"ROLLBACK TO SAVEPOINT {name}"))
            raise
        await self.execute(Query(f"RELEASE SAVEPOINT {name}"))
