"""Assertions and request helpers shared by the API and GraphQL tests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from app.api.openapi import PROBLEM_SCHEMAS
from app.db.database import Database, Session
from app.db.query import Query
from app.db.repositories import cases as case_repo
from app.domain.audit import AuditTrail
from app.domain.crypto import KeyWrapper
from tests.factories import Partner, case_body

PROBLEM = "application/problem+json"
PROBLEM_MEMBERS = frozenset(PROBLEM_SCHEMAS["Problem"]["properties"])
CASES = "/v1/cases"


def iso(moment: datetime) -> str:
    """An aware datetime as the API writes it (``Z`` for UTC)."""
    return moment.isoformat().replace("+00:00", "Z")


def flip(blob: bytes, index: int) -> bytes:
    """``blob`` with the lowest bit of byte ``index`` flipped (tampering in the unit tests)."""
    out = bytearray(blob)
    out[index] ^= 0x01
    return bytes(out)


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    assert body["type"].endswith(code)
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str)
    # Every member is in the document's Problem schema (generated clients type it from there).
    assert set(body) <= PROBLEM_MEMBERS, set(body) - PROBLEM_MEMBERS
    return body


def assert_unauthorized(response: httpx.Response) -> dict[str, Any]:
    body = assert_problem(response, 401, "invalid_token")
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    return body


def assert_forbidden(response: httpx.Response, scope: str) -> dict[str, Any]:
    body = assert_problem(response, 403, "insufficient_scope")
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert scope in body["required_scopes"]
    return body


class StatementCounter:
    """Counts SQL statements a Database runs (install with ``database.statement_hook``)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, sql: str) -> None:
        self.statements.append(" ".join(sql.split()))

    def reset(self) -> None:
        self.statements.clear()

    @property
    def count(self) -> int:
        return len(self.statements)


async def audit_rows(database: Database, action: str, case_id: UUID) -> int:
    """How many audit rows record ``action`` on exactly the case ``case_id``."""
    async with database.pool.acquire() as conn:
        found: int = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = $1 AND case_ids = $2",
            action,
            [case_id],
        )
        return found


def read_and_audit_in_one(counter: StatementCounter, table: str) -> None:
    """The statements ``counter`` saw appended one audit row, in a statement that also read
    ``table`` (e.g. ``"consents s"``; the case's load may read it too, for the policy)."""
    appends = [s for s in counter.statements if "INSERT INTO audit_log" in s]
    assert len(appends) == 1 and f"FROM {table}" in appends[0], counter.statements


async def chain_writer(
    database_url: str, *, avoid: set[int] | frozenset[int] = frozenset(), chain: int | None = None
) -> tuple[Database, int]:
    """A one-connection database whose own audit chain is known: ``chain`` if given and
    reachable from the connection's pid, else some chain other than 0 and those in ``avoid``
    (own chain = ``pg_backend_pid() % audit_chains``; this chooses ``audit_chains``). Its appends
    land there when no other chain of the organisation below ``audit_chains`` is free: for an
    organisation without chains yet, or while the others are held (``holding_audit_head``)."""
    db = Database(database_url, min_size=0, max_size=1)
    await db.connect()
    async with db.pool.acquire() as conn:
        pid: int = await conn.fetchval("SELECT pg_backend_pid()")
    wanted = (lambda c: c == chain) if chain is not None else (lambda c: c not in {0, *avoid})
    n = next((n for n in range(1, 257) if wanted(pid % n)), None)
    if n is None:
        await db.close()
        raise AssertionError(f"no audit_chains puts pid {pid} on the chain wanted")
    db.audit_chains = n
    return db, pid % n


async def audit_append(db: Database | Session, org_id: UUID, count: int = 1) -> None:
    """``count`` audit appends of ``org_id``: in ``db``'s open transaction when given a session
    (each sent at once, as a write's is with its events: a transaction otherwise holds its row
    back until then or its commit), else each in autocommit (as an audited GET)."""
    for _ in range(count):
        if isinstance(db, Session):
            await AuditTrail(db).record_hub(org_id, "case.read", [], ["general"])
            await db.send_deferred()
            continue
        session = db.session(transactional=False)
        try:
            await AuditTrail(session).record_hub(org_id, "case.read", [], ["general"])
        finally:
            await session.close()


@contextlib.asynccontextmanager
async def holding_audit_head(
    db: Database, org_id: UUID, appends: int = 1
) -> AsyncIterator[Session]:
    """A transaction on ``db`` that has appended ``appends`` audit rows of ``org_id``, so holds
    one of its chain heads until the block ends (then commits): other connections' appends
    meanwhile take another chain. The session is yielded for further appends (same chain)."""
    session = db.session(transactional=True)
    try:
        await audit_append(session, org_id, appends)
        yield session
        await session.commit()
    finally:
        await session.close()


async def open_case(client: httpx.AsyncClient, lead: Partner, **overrides: Any) -> dict[str, Any]:
    response = await client.post(CASES, json=case_body(**overrides), headers=lead.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def consent(
    client: httpx.AsyncClient,
    lead: Partner,
    case_id: str,
    to: Partner,
    categories: list[str],
    **kw: Any,
) -> dict[str, Any]:
    body = {
        "granted_by": ["survivor"],
        "recipient_org_id": str(to.org.id),
        "categories": categories,
        "purpose": "medical follow-up",
        "obtained_at": "2026-11-01T09:00:00Z",
        **kw,
    }
    response = await client.post(f"{CASES}/{case_id}/consents", json=body, headers=lead.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


_LAST_EVENT_TXID = Query("SELECT coalesce(max(txid), 0) FROM events")
_HORIZON = Query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")


async def events_settled(database: Database, within: float = 10.0) -> None:
    """Wait until every event written so far is visible to the feed.

    The feed shows an event once no older transaction is still running anywhere on the server
    (app.db.repositories.events), so right after a write, a transaction of another test (or of
    anything else on a shared server) can hold it back for a moment. Tests that read the feed
    right after writing wait here first, so that "not in the feed" means "not emitted"."""
    session = database.session(transactional=False)
    try:
        last = int(await session.fetchval(_LAST_EVENT_TXID))
        deadline = asyncio.get_running_loop().time() + within
        while int(await session.fetchval(_HORIZON)) <= last:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("events did not become visible to the feed")
            await asyncio.sleep(0.01)
    finally:
        await session.close()


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """Every FastAPI route of an app, through included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (router := getattr(route, "original_router", None)) is not None:
            yield from api_routes(router.routes)  # an included router (FastAPI >= 0.160)


async def waiting_for_a_lock(database: Database, request: asyncio.Future[Any]) -> None:
    """Until ``request`` waits for a lock (PostgreSQL says so), not merely until it might."""
    async with database.pool.acquire() as conn:
        for _ in range(200):
            assert not request.done(), "the request should be waiting for a lock"
            if await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ):
                return
            await asyncio.sleep(0.05)
    raise AssertionError("the request never waited for a lock")


async def behind_the_case(
    database: Database,
    lead: Partner,
    case_id: UUID,
    hold: Callable[[Session], Awaitable[None]],
    request: Awaitable[httpx.Response],
) -> httpx.Response:
    """``request``'s response, sent while another transaction holds the case's row lock: it
    locks the case as ``lead`` does for a write, makes its change (``hold``), and commits once
    the request waits for that lock."""
    holding = database.session()
    try:
        assert await case_repo.load_locked(holding, lead.org.id, case_id)
        await hold(holding)
        sent = asyncio.ensure_future(request)
        await waiting_for_a_lock(database, sent)
        await holding.commit()
    finally:
        await holding.close()
    return await sent


def erasure(key_wrapper: KeyWrapper, case_id: UUID) -> Callable[[Session], Awaitable[None]]:
    """An identity erasure of the case (its data key destroyed, a new one made) for
    :func:`behind_the_case`."""

    async def erase(session: Session) -> None:
        await case_repo.erase_identity(
            session,
            case_id,
            new_wrapped_key=key_wrapper.new_data_key(case_id)[1],
            kek_id=key_wrapper.kek_id,
        )

    return erase
