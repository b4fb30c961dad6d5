"""A transaction's audit row is held back until the statement that appends its events, which
carries it (one round trip for both), or until just before ``COMMIT``; it commits with the
transaction or not at all (app.db.repositories.audit.append)."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import pytest

from app.db.database import Database
from app.db.repositories import audit as audit_repo
from app.db.repositories import events as events_repo
from app.db.serialized import SerializedSession
from app.domain.audit import HUB_CLIENT_ID, audit_row, verify_chains
from tests.factories import Factory
from tests.helpers import StatementCounter


def _row(org_id: UUID, action: str) -> dict[str, Any]:
    return audit_row(org_id, HUB_CLIENT_ID, None, None, action, [uuid4()], ["general"])


def _event(org_id: UUID) -> dict[str, Any]:
    return {
        "id": uuid4(),
        "org_id": org_id,
        "type": "case.updated",
        "subject_type": "case",
        "subject_id": uuid4(),
        "case_id": None,
        "data": {},
    }


async def _actions(database: Database, org_id: UUID) -> list[tuple[int, int, str]]:
    async with database.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT chain, seq, action FROM audit_log WHERE org_id = $1 ORDER BY chain, seq",
            org_id,
        )
    return [(r["chain"], r["seq"], r["action"]) for r in rows]


@pytest.fixture
def counter(database: Database) -> Any:
    counter = StatementCounter()
    database.statement_hook = counter
    yield counter
    database.statement_hook = None


async def test_the_events_append_carries_the_held_row(
    database: Database, factory: Factory, counter: StatementCounter
) -> None:
    org = await factory.organization()
    counter.reset()
    session = database.session(transactional=True)
    try:
        await session.begin()
        await audit_repo.append(session, **_row(org.id, "update.create"))
        assert counter.statements == ["BEGIN"]  # the row is held back: not sent yet
        await events_repo.append(session, [_event(org.id)])
        await session.commit()
    finally:
        await session.close()
    assert counter.statements[0] == "BEGIN"
    (carrier,) = [s for s in counter.statements if "INSERT INTO audit_log" in s]
    assert "INSERT INTO events" in carrier
    assert counter.statements == ["BEGIN", carrier, "COMMIT"]
    assert [(seq, a) for _, seq, a in await _actions(database, org.id)] == [(1, "update.create")]
    async with database.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events WHERE org_id = $1", org.id) == 1
    check = database.session(transactional=True)
    try:
        assert (await verify_chains(check)).ok
    finally:
        await check.close()


async def test_a_held_row_without_events_is_appended_before_commit(
    database: Database, factory: Factory, counter: StatementCounter
) -> None:
    org = await factory.organization()
    counter.reset()
    session = database.session(transactional=True)
    try:
        await session.begin()
        await audit_repo.append(session, **_row(org.id, "case.update"))
        await session.commit()
    finally:
        await session.close()
    assert len(counter.statements) == 3
    assert counter.statements[0] == "BEGIN" and counter.statements[2] == "COMMIT"
    assert "INSERT INTO audit_log" in counter.statements[1]
    assert [a for _, _, a in await _actions(database, org.id)] == ["case.update"]


async def test_a_second_row_appends_the_first_so_a_transaction_keeps_its_order(
    database: Database, factory: Factory, counter: StatementCounter
) -> None:
    org = await factory.organization()
    counter.reset()
    session = database.session(transactional=True)
    try:
        await session.begin()
        for action in ("first", "second", "third"):
            await audit_repo.append(session, **_row(org.id, action))
        await events_repo.append(session, [_event(org.id)])
        await session.commit()
    finally:
        await session.close()
    rows = await _actions(database, org.id)
    assert [a for _, _, a in rows] == ["first", "second", "third"]
    assert len({chain for chain, _, _ in rows}) == 1  # one chain, in order
    assert [seq for _, seq, _ in rows] == [1, 2, 3]


async def test_a_rolled_back_transaction_leaves_no_row(
    database: Database, factory: Factory, counter: StatementCounter
) -> None:
    org = await factory.organization()
    counter.reset()
    session = database.session(transactional=True)
    try:
        await session.begin()
        await audit_repo.append(session, **_row(org.id, "never"))
        await session.rollback()
        await session.commit()  # nothing held any more: nothing to send
    finally:
        await session.close()
    assert not any("audit_log" in s for s in counter.statements)
    assert await _actions(database, org.id) == []


async def test_outside_a_transaction_the_row_is_appended_at_once(
    database: Database, factory: Factory, counter: StatementCounter
) -> None:
    org = await factory.organization()
    counter.reset()
    session = database.session(transactional=False)
    try:
        await audit_repo.append(session, **_row(org.id, "report.read"))
        assert len(counter.statements) == 1
    finally:
        await session.close()
    assert [a for _, _, a in await _actions(database, org.id)] == ["report.read"]


async def test_only_a_transaction_holds_one_statement_back(database: Database) -> None:
    plain = database.session(transactional=False)
    with pytest.raises(RuntimeError, match="transaction"):
        plain.defer(audit_repo._APPEND, {})
    session = database.session(transactional=True)
    session.defer(audit_repo._APPEND, {})
    with pytest.raises(RuntimeError, match="held already"):
        session.defer(audit_repo._APPEND, {})
    assert session.take_deferred(events_repo._APPEND) is None  # not the held statement
    assert session.take_deferred(audit_repo._APPEND) == {}
    assert session.take_deferred(audit_repo._APPEND) is None
    await session.close()


async def test_a_savepoint_keeps_what_was_held_before_it_and_drops_what_it_held(
    database: Database, factory: Factory
) -> None:
    """GraphQL runs each mutation of a request in a savepoint: one that fails takes its own
    audit row with it, never the row of a mutation before it."""
    org = await factory.organization()
    session = SerializedSession(database, transactional=True)
    try:
        await session.begin()
        await audit_repo.append(session, **_row(org.id, "before"))

        async def failing_mutation() -> None:
            async with session.savepoint():
                await audit_repo.append(session, **_row(org.id, "failed"))
                raise RuntimeError("the mutation failed")

        with pytest.raises(RuntimeError, match="the mutation failed"):
            await failing_mutation()
        async with session.savepoint():
            await audit_repo.append(session, **_row(org.id, "after"))
        await session.commit()
    finally:
        await session.close()
    assert [a for _, _, a in await _actions(database, org.id)] == ["before", "after"]


async def test_concurrent_appends_of_one_transaction_are_all_kept(
    database: Database, factory: Factory
) -> None:
    """Resolvers of one GraphQL mutation may record at once: each takes the held row and holds
    its own without a pause in between, and sends the one it took; every row is kept."""
    org = await factory.organization()
    session = SerializedSession(database, transactional=True)
    try:
        await session.begin()
        await asyncio.gather(
            *(audit_repo.append(session, **_row(org.id, f"r{n}")) for n in range(5))
        )
        await session.commit()
    finally:
        await session.close()
    rows = await _actions(database, org.id)
    assert sorted(a for _, _, a in rows) == [f"r{n}" for n in range(5)]
    assert [seq for _, seq, _ in rows] == [1, 2, 3, 4, 5]
