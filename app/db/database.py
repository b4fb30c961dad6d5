"""Connections and the per-request unit of work.

One :class:`Database` per process owns an asyncpg pool. Each request (or CLI command) works in one
:class:`Session`: a single pooled connection, acquired on first use, with at most one transaction
that is committed only at the boundary (``commit()``), never by services or repositories.

Connection failures of any kind surface as :class:`DatabaseUnavailable`; the pool replaces closed
connections on the next acquire, so the service recovers by itself after a database restart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import asyncpg
import orjson

from app.db.errors import (
    ConstraintViolated,
    DatabaseUnavailable,
    TransactionAborted,
    ValueRejected,
)
from app.db.query import Query
from app.db.slots import Slots

StatementHook = Callable[[str], None]
# The most audit hash chains an organisation may have (AFTERCARE_AUDIT_CHAINS' upper bound; the
# append's SQL enumerates chain numbers up to it as a constant, app/db/repositories/audit.py).
MAX_AUDIT_CHAINS = 256

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InternalClientError,
)

# What PostgreSQL rolls back to settle a conflict between transactions (a deadlock, a
# serialization failure): nothing was stored, the same work can be sent again. Not the rest of
# class 40: 40003 (statement completion unknown) says nothing about what was stored.
_ROLLED_BACK: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)


def asyncpg_dsn(url: str) -> str:
    """Accept SQLAlchemy-style URLs (``postgresql+asyncpg://``) and hand asyncpg a plain DSN."""
    for prefix in ("postgresql+asyncpg://", "postgres+asyncpg://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def sqlalchemy_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def _jsonb_out(value: Any) -> bytes:
    return b"\x01" + orjson.dumps(value)  # jsonb's binary format: version 1, then the text


def _jsonb_in(data: bytes) -> Any:
    if data[:1] != b"\x01":
        raise ValueError("unknown jsonb binary format version")
    return orjson.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSON in PostgreSQL's binary format (for jsonb, a version byte and the text): orjson reads
    # and writes it directly, and it is what asyncpg hands a codec for a value inside a record
    # (``ARRAY(SELECT ROW(...))``), where a text-format codec would be given the binary bytes.
    await conn.set_type_codec(
        "json", encoder=orjson.dumps, decoder=orjson.loads, schema="pg_catalog", format="binary"
    )
    await conn.set_type_codec(
        "jsonb", encoder=_jsonb_out, decoder=_jsonb_in, schema="pg_catalog", format="binary"
    )


async def _reset_connection(conn: asyncpg.Connection) -> None:
    # Sessions never leave session-level state behind (no SET, LISTEN, cursors or session-level
    # advisory locks), so returning a connection only needs to end a stray transaction. This
    # saves asyncpg's default reset round trip on every request.
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def _busy(pool: asyncpg.Pool) -> bool:
    """Whether every holder of the pool is out (asyncpg's own queue of free holders;
    tests/db/test_database.py checks it is still there): only then may an acquire wait, and
    only then is the timer of a timeout worth arming."""
    queue = getattr(pool, "_queue", None)
    return queue is None or queue.empty()


class Database:
    def __init__(
        self,
        url: str,
        *,
        min_size: int = 2,
        max_size: int = 10,
        connect_timeout: float = 5.0,
        acquire_timeout: float = 5.0,
        statement_timeout_ms: int = 30_000,
        application_name: str = "aftercare",
        audit_chains: int = 64,
    ) -> None:
        if not 1 <= audit_chains <= MAX_AUDIT_CHAINS:
            raise ValueError(f"audit_chains must be 1 to {MAX_AUDIT_CHAINS}")
        self.url = url
        # Audit hash chains per organisation (AFTERCARE_AUDIT_CHAINS): an append takes a chain
        # below audit_chains that no other transaction holds, the connection's own
        # (pg_backend_pid() % audit_chains) first (app/db/repositories/audit.py).
        self.audit_chains = audit_chains
        self.dsn = asyncpg_dsn(url)
        self._min_size = min_size
        self._max_size = max_size
        self._connect_timeout = connect_timeout
        self.acquire_timeout = acquire_timeout
        self._server_settings = {
            "application_name": application_name,
            "statement_timeout": str(statement_timeout_ms),
            "idle_in_transaction_session_timeout": "60000",
            "timezone": "UTC",
        }
        self._pool: asyncpg.Pool | None = None
        self._slots: Slots | None = None
        self.statement_hook: StatementHook | None = None

    async def connect(self) -> None:
        if self._pool is not None:
            return
        self._pool = asyncpg.create_pool(
            self.dsn,
            min_size=0,
            max_size=self._max_size,
            init=_init_connection,
            reset=_reset_connection,
            timeout=self._connect_timeout,
            server_settings=self._server_settings,
            max_inactive_connection_lifetime=300.0,
        )
        await self._pool  # initialises lazily; connects on first acquire
        self._slots = Slots(self._max_size)
        if self._min_size:
            # Warm up without failing start-up when the database is briefly unavailable; what
            # was opened goes back to the pool either way (a connection kept out would leave
            # the slots promising one more than the pool has).
            conns: list[asyncpg.pool.PoolConnectionProxy] = []
            try:
                for _ in range(min(self._min_size, self._max_size)):
                    conns.append(
                        await asyncio.wait_for(self._pool.acquire(), self._connect_timeout)
                    )
            except _UNAVAILABLE:
                pass
            finally:
                for conn in conns:
                    await self._pool.release(conn)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            self._slots = None  # a session outliving the pool gives its slot back to nobody
            await pool.close()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("Database.connect() was not awaited")
        return self._pool

    async def take_slot(self) -> None:
        """Wait for one of the pool's ``max_size`` connection slots (:mod:`app.db.slots`: at
        once while one is free, else in turn), at most ``acquire_timeout`` (then
        :class:`DatabaseUnavailable`, the API's 503). A session takes a slot before it takes a
        connection from the pool and gives it back after returning the connection, so the
        waiting is done here (the pool waits only in the case ``Session.connection`` names)."""
        slots = self._slots
        if slots is None:
            raise RuntimeError("Database.connect() was not awaited")
        if slots.try_take():
            return  # no timer armed for the common case
        try:
            async with asyncio.timeout(self.acquire_timeout):
                await slots.take()
        except TimeoutError as exc:
            raise DatabaseUnavailable() from exc

    def give_slot(self) -> None:
        if self._slots is not None:
            self._slots.give()

    def pool_stats(self) -> tuple[int, int, int, int]:
        """(open connections, idle ones, the most allowed, sessions waiting for one); zeros
        before ``connect``."""
        pool, slots = self._pool, self._slots
        if pool is None or slots is None:
            return 0, 0, self._max_size, 0
        return pool.get_size(), pool.get_idle_size(), self._max_size, slots.waiting

    def session(self, *, transactional: bool = True) -> Session:
        return Session(self, transactional=transactional)


class Session:
    """One unit of work: one connection, at most one transaction, committed at the boundary.

    ``transactional=False`` is for reads: statements run in autocommit until something calls
    :meth:`begin` (for instance an audited read that must write its audit row atomically).
    """

    __slots__ = (
        "_begin_sql",
        "_conn",
        "_db",
        "_deferred",
        "_hook",
        "_transactional",
        "_tx_open",
        "after_commit",
        "memo",
    )

    def __init__(self, db: Database, *, transactional: bool) -> None:
        self._db = db
        self._conn: asyncpg.Connection | None = None
        self._transactional = transactional
        self._tx_open = False
        self._begin_sql = "BEGIN"
        self._hook = db.statement_hook
        self.after_commit: list[Callable[[], Any]] = []
        # A statement held back to travel with a later one (:meth:`defer`).
        self._deferred: tuple[Query, dict[str, Any]] | None = None
        # Per-unit-of-work memo (e.g. each case's unwrapped data key, so that a request unwraps
        # it once); dropped with the session.
        self.memo: dict[Any, Any] = {}

    # -- connection and transaction --------------------------------------------------------
    async def connection(self) -> asyncpg.Connection:
        conn = self._conn
        if conn is None:
            db = self._db
            await db.take_slot()
            pool = db.pool
            try:
                # A slot means a free connection holder, so this does not wait (a holder
                # without a connection yet connects under the pool's connect timeout), except
                # while a cancelled session's connection is still on its way back to the pool
                # (asyncpg finishes that release under a shield): then the wait is bounded too.
                conn = await pool.acquire(timeout=db.acquire_timeout if _busy(pool) else None)
            except BaseException as exc:
                db.give_slot()
                if isinstance(exc, _UNAVAILABLE):
                    raise DatabaseUnavailable() from exc
                raise
            self._conn = conn
        if self._transactional and not self._tx_open:
            await self._run(conn.execute, self._begin_sql)
            self._tx_open = True
        return conn

    async def begin(self, *, snapshot: bool = False) -> None:
        """Make the rest of this unit of work atomic (idempotent). ``snapshot=True`` reads one
        consistent snapshot (REPEATABLE READ, read-only); it must come before any statement."""
        if snapshot:
            if self._tx_open:
                raise RuntimeError("a snapshot must be requested before the first statement")
            self._begin_sql = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        self._transactional = True
        await self.connection()

    @property
    def audit_chains(self) -> int:
        """The database's ``audit_chains`` (bound by the audit append)."""
        return self._db.audit_chains

    @property
    def in_transaction(self) -> bool:
        return self._tx_open

    @property
    def autocommit(self) -> bool:
        """Whether the next statement commits on its own: no transaction is open, and none
        will be begun before it (a transactional session's lazy ``BEGIN``)."""
        return not self._transactional

    def defer(self, query: Query, params: dict[str, Any]) -> None:
        """Hold ``query`` back (a transaction's audit row): a later statement of the transaction
        that can carry it takes it (:meth:`take_deferred`) and runs both in one round trip;
        otherwise it runs just before ``COMMIT``. A rollback drops it with everything else. At
        most one statement is held: deferring another runs the held one first (see
        :func:`app.db.repositories.audit.append`)."""
        if not self._transactional:
            raise RuntimeError("only a transaction's statements can be deferred")
        if self._deferred is not None:
            raise RuntimeError("a statement is held already: take or run it first")
        self._deferred = (query, params)

    def take_deferred(self, query: Query) -> dict[str, Any] | None:
        """The parameters of the held ``query``, now the caller's to run; ``None`` when no
        such statement is held."""
        held = self._deferred
        if held is None or held[0] is not query:
            return None
        self._deferred = None
        return held[1]

    async def send_deferred(self) -> None:
        """Run the held statement now, if any (``COMMIT`` does; so does a savepoint's start,
        whose rollback must not undo what was held before it)."""
        held, self._deferred = self._deferred, None
        if held is not None:
            query, params = held
            conn = await self.connection()
            await self._run(conn.execute, query.sql, *query.args(params))

    def drop_deferred(self) -> None:
        """Forget the held statement (it was made inside a savepoint being rolled back)."""
        self._deferred = None

    async def commit(self) -> None:
        await self.send_deferred()
        if self._conn is not None and self._tx_open:
            self._tx_open = False
            status = await self._run(self._conn.execute, "COMMIT")
            if status == "ROLLBACK":
                # PostgreSQL had aborted the transaction already (a failed statement that its
                # caller got past): nothing was stored, and the caller must not think it was.
                raise TransactionAborted(None)
        callbacks, self.after_commit = self.after_commit, []
        for callback in callbacks:
            result = callback()
            if asyncio.iscoroutine(result):
                await result

    async def rollback(self) -> None:
        self.after_commit.clear()
        self._deferred = None
        if self._conn is not None and self._tx_open:
            self._tx_open = False
            if not self._conn.is_closed():
                with contextlib.suppress(DatabaseUnavailable):
                    await self._run(self._conn.execute, "ROLLBACK")

    async def close(self) -> None:
        self._deferred = None
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._tx_open:
            self._tx_open = False
        try:
            with contextlib.suppress(*_UNAVAILABLE):  # the pool discards a broken connection
                await self._db.pool.release(conn)
        finally:
            self._db.give_slot()

    # -- statements --------------------------------------------------------------------------
    async def _run(self, method: Callable[..., Any], sql: str, *args: Any) -> Any:
        if self._hook is not None:
            self._hook(sql)
        try:
            return await method(sql, *args)
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable() from exc
        except _ROLLED_BACK as exc:
            raise TransactionAborted(getattr(exc, "sqlstate", None)) from exc
        except asyncpg.DataError as exc:
            # Backstop for values validation let through (out-of-range timestamps, NUL bytes).
            raise ValueRejected() from exc
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise ConstraintViolated(getattr(exc, "constraint_name", None)) from exc

    async def fetch(
        self, query: Query, params: Mapping[str, Any] | None = None, /, **kw: Any
    ) -> list[asyncpg.Record]:
        conn = await self.connection()
        result: list[asyncpg.Record] = await self._run(
            conn.fetch, query.sql, *query.args(params, **kw)
        )
        return result

    async def fetchrow(
        self, query: Query, params: Mapping[str, Any] | None = None, /, **kw: Any
    ) -> asyncpg.Record | None:
        conn = await self.connection()
        result: asyncpg.Record | None = await self._run(
            conn.fetchrow, query.sql, *query.args(params, **kw)
        )
        return result

    async def fetchval(
        self, query: Query, params: Mapping[str, Any] | None = None, /, **kw: Any
    ) -> Any:
        conn = await self.connection()
        return await self._run(conn.fetchval, query.sql, *query.args(params, **kw))

    async def execute(
        self, query: Query, params: Mapping[str, Any] | None = None, /, **kw: Any
    ) -> str:
        conn = await self.connection()
        result: str = await self._run(conn.execute, query.sql, *query.args(params, **kw))
        return result

    async def executemany(self, query: Query, rows: Sequence[Mapping[str, Any]]) -> None:
        conn = await self.connection()
        await self._run(conn.executemany, query.sql, [query.args(r) for r in rows])
