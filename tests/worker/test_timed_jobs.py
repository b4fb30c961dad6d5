"""The worker's timed jobs: each unit handled once, even with two workers racing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from app.db.database import Database
from app.db.repositories import cases as case_repo
from app.db.repositories import referrals as referral_repo
from app.db.repositories import timed as timed_repo
from app.domain import timed_jobs
from app.domain.crypto import KeyWrapper
from app.settings import Settings
from app.worker import Worker
from tests.api.test_referrals import REF, refer
from tests.factories import Partner, add_member
from tests.helpers import StatementCounter, consent, erasure, open_case
from tests.worker.conftest import rows


@pytest.fixture
def workers(
    worker_settings: Settings, database: Database, key_wrapper: KeyWrapper
) -> tuple[Worker, Worker]:
    return (
        Worker(worker_settings, database, key_wrapper),
        Worker(worker_settings, database, key_wrapper),
    )


async def race(workers: tuple[Worker, Worker]) -> None:
    await asyncio.gather(*(w.run_timed_jobs() for w in workers))


async def execute(database: Database, sql: str, *args: Any) -> None:
    async with database.pool.acquire() as conn:
        await conn.execute(sql, *args)


async def events_of(database: Database, type: str) -> list[dict[str, Any]]:
    return await rows(
        database,
        "SELECT org_id, subject_id, case_id, data FROM events WHERE type = $1 ORDER BY org_id",
        type,
    )


async def due_referral(
    client: httpx.AsyncClient,
    database: Database,
    lead: Partner,
    case: dict[str, Any],
    clinic: Partner,
) -> UUID:
    referral = await refer(client, lead, case, clinic, respond_by="2099-01-01T00:00:00Z")
    referral_id = UUID(referral["id"])
    await execute(
        database,
        "UPDATE referrals SET respond_by = now() - interval '1 minute' WHERE id = $1",
        referral_id,
    )
    return referral_id


async def test_referral_expiry_writes_timeline_audit_and_events_once(
    client: httpx.AsyncClient,
    database: Database,
    lead: Partner,
    clinic: Partner,
    case: dict[str, Any],
    workers: tuple[Worker, Worker],
) -> None:
    referral_id = await due_referral(client, database, lead, case, clinic)
    await race(workers)
    await race(workers)
    [stored] = await rows(
        database, "SELECT status, expiry_processed_at FROM referrals WHERE id = $1", referral_id
    )
    assert stored["status"] == "expired" and stored["expiry_processed_at"] is not None
    expired = await events_of(database, "referral.expired")
    assert sorted(e["org_id"] for e in expired) == sorted([lead.org.id, clinic.org.id])
    for event in expired:
        assert event["subject_id"] == referral_id
        assert event["data"] == {"referral_id": str(referral_id), "status": "expired"}
    audit = await rows(
        database,
        "SELECT org_id, client_id, jti, case_ids FROM audit_log WHERE action = 'referral.expire'",
    )
    assert audit == [
        {
            "org_id": lead.org.id,
            "client_id": "aftercare-hub",
            "jti": None,
            "case_ids": [UUID(case["id"])],
        }
    ]
    # The timeline entry reads like every referral transition's, authored for the referrer.
    response = await client.get(f"/v1/cases/{case['id']}/updates", headers=lead.headers)
    summaries = [u["summary"] for u in response.json()["items"]]
    assert summaries.count("Referral for medical expired") == 1


async def due_backlog(
    client: httpx.AsyncClient, database: Database, lead: Partner, clinic: Partner, prefix: str
) -> list[UUID]:
    """Five referrals past their deadline, each of its own case (``prefix``-n)."""
    return [
        await due_referral(
            client,
            database,
            lead,
            await open_case(client, lead, external_ref=f"{prefix}-{n}"),
            clinic,
        )
        for n in range(5)
    ]


async def test_a_backlog_is_expired_in_batches_of_few_locked_cases(
    client: httpx.AsyncClient,
    database: Database,
    lead: Partner,
    clinic: Partner,
    workers: tuple[Worker, Worker],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The expiry holds its cases' locks until it commits, so it takes few at a time
    (`CASE_LOCK_BATCH`) and one run works a backlog off batch after batch."""
    due = await due_backlog(client, database, lead, clinic, "BACKLOG")
    monkeypatch.setattr(timed_jobs, "CASE_LOCK_BATCH", 2)
    locked: list[int] = []
    expire = timed_repo.expire_referrals

    async def counting(session: Any, limit: int) -> Any:
        expired = await expire(session, limit)
        locked.append(len({r.case_id for r in expired}))
        return expired

    monkeypatch.setattr(timed_repo, "expire_referrals", counting)
    totals = await workers[0].run_timed_jobs()
    assert totals["referrals_expired"] == 5
    assert locked == [2, 2, 1]
    stored = await rows(database, "SELECT status FROM referrals WHERE id = ANY ($1::uuid[])", due)
    assert [r["status"] for r in stored] == ["expired"] * 5


async def test_a_referral_a_read_stored_as_expired_is_announced_too(
    client: httpx.AsyncClient,
    database: Database,
    lead: Partner,
    clinic: Partner,
    case: dict[str, Any],
    workers: tuple[Worker, Worker],
) -> None:
    referral_id = await due_referral(client, database, lead, case, clinic)
    read = await client.get(f"{REF}/{referral_id}", headers=clinic.headers)
    assert read.json()["status"] == "expired"  # and stored so by the read
    await race(workers)
    assert len(await events_of(database, "referral.expired")) == 2
    await race(workers)
    assert len(await events_of(database, "referral.expired")) == 2


async def expired_now(worker: Worker) -> int:
    """The referrals one run of ``worker``'s timed jobs expired; it must not wait for a lock."""
    totals = await asyncio.wait_for(worker.run_timed_jobs(), timeout=10)
    return totals["referrals_expired"]


class TestReferralExpiryAndTheCaseLock:
    """The expiry locks the referrals' cases first, skipping a case another transaction holds.

    Before: it stored the referrals as expired (locking them) with the case's data key read
    without the case lock, then waited for the case row when its timeline entry touched it.
    """

    async def test_behind_an_erasure_it_skips_the_case_then_seals_with_the_new_key(
        self,
        client: httpx.AsyncClient,
        database: Database,
        key_wrapper: KeyWrapper,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
        workers: tuple[Worker, Worker],
    ) -> None:
        """Before: it waited for the erasure, then sealed the "expired" entry with the key the
        erasure destroyed, and the entry read back as erased."""
        case_id = UUID(case["id"])
        await due_referral(client, database, lead, case, clinic)
        holding = database.session()
        try:
            assert await case_repo.load_locked(holding, lead.org.id, case_id)
            await erasure(key_wrapper, case_id)(holding)
            assert await expired_now(workers[0]) == 0
            await holding.commit()
        finally:
            await holding.close()
        assert await expired_now(workers[0]) == 1
        response = await client.get(f"/v1/cases/{case_id}/updates", headers=lead.headers)
        summaries = [u["summary"] for u in response.json()["items"]]
        # The referral's "sent" entry went with the erased key; the expiry's is readable.
        assert sorted(summaries) == ["Referral for medical expired", "[erased]"]

    async def test_beside_a_transition_holding_the_case_neither_deadlocks(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
        workers: tuple[Worker, Worker],
    ) -> None:
        """A transition locks the case, then the referral. Before: the expiry locked the
        referral, then waited for the case, and PostgreSQL aborted one of the two (40P01)."""
        referral_id = await due_referral(client, database, lead, case, clinic)
        holding = database.session()
        try:
            assert await referral_repo.lock_case_of(holding, referral_id, clinic.org.id)
            assert await expired_now(workers[0]) == 0
            connection = await holding.connection()
            await connection.execute(
                "UPDATE referrals SET status = 'accepted' WHERE id = $1", referral_id
            )
            await holding.commit()
        finally:
            await holding.close()
        assert await expired_now(workers[0]) == 0
        [stored] = await rows(database, "SELECT status FROM referrals WHERE id = $1", referral_id)
        assert stored["status"] == "accepted"
        assert await events_of(database, "referral.expired") == []


async def test_consent_expiry_revokes_access_once(
    client: httpx.AsyncClient,
    database: Database,
    lead: Partner,
    member: Partner,
    case: dict[str, Any],
    workers: tuple[Worker, Worker],
) -> None:
    case_id = UUID(case["id"])
    await add_member(database, case_id, member.org.id, ["demographics", "medical"])
    given = await consent(
        client, lead, case["id"], member, ["medical"], expires_at="2099-01-01T00:00:00Z"
    )
    await race(workers)
    assert await events_of(database, "case.access_revoked") == []
    await execute(
        database,
        "UPDATE consents SET expires_at = now() - interval '1 second' WHERE id = $1",
        UUID(given["id"]),
    )
    await race(workers)
    await race(workers)
    assert await events_of(database, "case.access_revoked") == [
        {
            "org_id": member.org.id,
            "subject_id": case_id,
            "case_id": case_id,
            "data": {"visible_categories": ["demographics"]},
        }
    ]


async def test_a_consent_recorded_ahead_of_its_moment_grants_access_then_once(
    client: httpx.AsyncClient,
    database: Database,
    lead: Partner,
    member: Partner,
    case: dict[str, Any],
    workers: tuple[Worker, Worker],
) -> None:
    case_id = UUID(case["id"])
    await add_member(database, case_id, member.org.id, ["demographics", "medical"])
    ahead = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
    given = await consent(client, lead, case["id"], member, ["medical"], obtained_at=ahead)
    await race(workers)
    assert await events_of(database, "case.access_granted") == []  # not yet in effect
    # Its moment comes (moved here rather than waited for).
    await execute(
        database,
        "UPDATE consents SET obtained_at = now() - interval '1 second', "
        "created_at = now() - interval '1 minute' WHERE id = $1",
        UUID(given["id"]),
    )
    await race(workers)
    await race(workers)
    assert await events_of(database, "case.access_granted") == [
        {
            "org_id": member.org.id,
            "subject_id": case_id,
            "case_id": case_id,
            "data": {"visible_categories": ["demographics", "medical"]},
        }
    ]


async def test_an_overdue_visit_is_announced_once_per_period(
    database: Database,
    lead: Partner,
    member: Partner,
    case: dict[str, Any],
    workers: tuple[Worker, Worker],
) -> None:
    case_id = UUID(case["id"])
    # A member that may not see placements hears nothing about them.
    await add_member(database, case_id, member.org.id, ["demographics"])
    placement_id = uuid4()
    await execute(
        database,
        "INSERT INTO placements (id, case_id, org_id, placed_by_org_id, setting, started_at) "
        "VALUES ($1, $2, $3, $3, 'community_family', now() - interval '10 days')",
        placement_id,
        case_id,
        lead.org.id,
    )
    await race(workers)
    await race(workers)
    overdue = await events_of(database, "placement.visit_overdue")
    assert [(e["org_id"], e["subject_id"]) for e in overdue] == [(lead.org.id, placement_id)]
    assert set(overdue[0]["data"]) == {"placement_id", "due_on"}

    async def visit(ago: str) -> None:
        await execute(
            database,
            "INSERT INTO placement_visits (id, placement_id, visitor_org_id, visited_at, "
            f"summary_enc) VALUES ($1, $2, $3, now() - interval '{ago}', '\\x00')",
            uuid4(),
            placement_id,
            lead.org.id,
        )

    await visit("8 days")  # a visit, and the next one overdue again: a new period
    await race(workers)
    await race(workers)
    assert len(await events_of(database, "placement.visit_overdue")) == 2
    await visit("1 hour")  # visited: nothing overdue
    await race(workers)
    assert len(await events_of(database, "placement.visit_overdue")) == 2


async def test_retention_prunes_events_past_the_retention_period(
    database: Database,
    lead: Partner,
    case: dict[str, Any],
    worker_settings: Settings,
    key_wrapper: KeyWrapper,
) -> None:
    from app.domain import timed_jobs

    async with database.pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO events (id, org_id, type, subject_type, subject_id, occurred_at) "
            "VALUES ($1, $2, 'webhook.test', 'webhook', $1, now() - interval '31 days'), "
            "($3, $2, 'webhook.test', 'webhook', $3, now() - interval '29 days')",
            uuid4(),
            lead.org.id,
            uuid4(),
        )
    session = database.session(transactional=True)
    try:
        counts = await timed_jobs.prune(session, worker_settings.event_retention_days)
        await session.commit()
    finally:
        await session.close()
    assert counts["events"] == 1
    left = await rows(database, "SELECT occurred_at FROM events WHERE type = 'webhook.test'")
    assert len(left) == 1


async def test_the_housekeeping_sweep_expires_in_batches_and_skips_a_held_referral(
    client: httpx.AsyncClient,
    database: Database,
    lead: Partner,
    clinic: Partner,
) -> None:
    """``referrals.expire_due`` (``aftercare db prune``, the worker's housekeeping) works a
    backlog off a bounded batch a statement, and passes over a referral a request holds rather
    than waiting for it (a later sweep, or the expiry job, takes it)."""
    due = await due_backlog(client, database, lead, clinic, "SWEEP")
    counter = StatementCounter()
    async with database.pool.acquire() as holder, holder.transaction():
        await holder.execute("SELECT 1 FROM referrals WHERE id = $1 FOR UPDATE", due[0])
        database.statement_hook = counter  # (a session takes the hook when it is made)
        session = database.session(transactional=True)
        database.statement_hook = None
        try:
            swept = await asyncio.wait_for(referral_repo.expire_due(session, batch=2), 10)
            await session.commit()
        finally:
            await session.close()
    assert swept == 4
    # 2, 2, then none: a statement per batch of at most 2, until one finds fewer.
    sweeps = [s for s in counter.statements if s.startswith("UPDATE referrals SET status")]
    assert len(sweeps) == 3
    stored = await rows(
        database, "SELECT id, status FROM referrals WHERE id = ANY ($1::uuid[])", due
    )
    assert {r["id"]: r["status"] for r in stored} == {
        due[0]: "pending",
        **{d: "expired" for d in due[1:]},
    }
    session = database.session(transactional=True)
    try:
        assert await referral_repo.expire_due(session) == 1  # once it is let go
        await session.commit()
    finally:
        await session.close()
