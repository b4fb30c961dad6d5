"""The worker delivering webhooks (in this process) to a real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import orjson
from standardwebhooks.webhooks import Webhook

from app.db.database import Database
from app.db.query import Query
from app.db.repositories import deliveries as deliveries_repo
from app.domain import deliveries
from app.domain.crypto import KeyWrapper
from app.domain.webhook_signing import generate_secret
from app.settings import Settings
from app.worker import ATTEMPT_OUTCOMES, Worker
from bench.receiver import Received, Receiver
from tests.factories import Factory
from tests.worker.conftest import add_webhook, emit, rows


@asynccontextmanager
async def running(
    settings: Settings, database: Database, key_wrapper: KeyWrapper, **kw: Any
) -> AsyncIterator[Worker]:
    worker = Worker(settings, database, key_wrapper, jobs=False, **kw)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)


async def settled(database: Database, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
    """Waits until ``count`` deliveries are no longer leased or pending-now; returns them all."""
    deadline = time.monotonic() + timeout
    while True:
        found = await rows(
            database,
            "SELECT * FROM webhook_deliveries WHERE status <> 'pending' ORDER BY created_at",
        )
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


def script(*statuses: int) -> Callable[[Received], int]:
    """Answers with ``statuses`` in turn, then the last one for ever."""
    answers = list(statuses)

    def answer(_: Received) -> int:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return answer


def sample(worker: Worker, name: str, **labels: str) -> float | None:
    return worker.metrics.registry.get_sample_value(name, labels)


def metric_values(worker: Worker, name: str, label: str) -> dict[str, float]:
    return {
        s.labels[label]: s.value
        for family in worker.metrics.registry.collect()
        for s in family.samples
        if s.name == name
    }


async def test_delivers_the_event_as_the_feed_shows_it_signed(
    factory: Factory,
    database: Database,
    worker_settings: Settings,
    key_wrapper: KeyWrapper,
    receiver: Receiver,
) -> None:
    org = await factory.organization()
    hook = await add_webhook(database, key_wrapper, org.id, receiver.url())
    [event_id] = await emit(database, org.id)
    async with running(worker_settings, database, key_wrapper):
        assert await receiver.wait_for(1)
        [done] = await settled(database, 1)
    [request] = receiver.requests
    assert request.webhook_id == str(event_id)
    Webhook(hook.secret).verify(request.body, request.headers)  # raises if it does not verify
    body = orjson.loads(request.body)
    assert body["id"] == str(event_id)
    assert body["type"] == "webhook.test"
    assert set(body) == {"id", "type", "occurred_at", "subject", "case_id", "data"}
    assert body["data"] == {"status": "test"}
    assert done["status"] == "succeeded" and done["attempts"] == 1
    assert done["leased_until"] is None and done["next_attempt_at"] is None
    [attempt] = await rows(database, "SELECT * FROM webhook_attempts")
    assert (attempt["attempt"], attempt["status"], attempt["response_status"]) == (
        1,
        "succeeded",
        204,
    )


async def test_both_secrets_sign_during_a_rotation(
    factory: Factory,
    database: Database,
    worker_settings: Settings,
    key_wrapper: KeyWrapper,
    receiver: Receiver,
) -> None:
    org = await factory.organization()
    old = generate_secret()
    hook = await add_webhook(database, key_wrapper, org.id, receiver.url(), previous_secret=old)
    await emit(database, org.id)
    async with running(worker_settings, database, key_wrapper):
        assert await receiver.wait_for(1)
    [request] = receiver.requests
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(hook.secret).verify(request.body, request.headers)
    Webhook(old).verify(request.body, request.headers)


async def test_a_failed_attempt_is_retried_with_the_same_webhook_id(
    factory: Factory,
    database: Database,
    worker_settings: Settings,
    key_wrapper: KeyWrapper,
    receiver: Receiver,
) -> None:
    receiver.script = script(500, 200)
    org = await factory.organization()
    await add_webhook(database, key_wrapper, org.id, receiver.url())
    [event_id] = await emit(database, org.id)
    async with running(worker_settings, database, key_wrapper) as worker:
        assert await receiver.wait_for(2, timeout=10)
        [done] = await settled(database, 1)
    first, second = receiver.requests
    assert first.webhook_id == second.webhook_id == str(event_id)
    assert first.body == second.body
    assert second.at - first.at >= 0.9  # the schedule's first delay (1 s here)
    assert done["status"] == "succeeded" and done["attempts"] == 2
    attempts = await rows(
        database,
        "SELECT attempt, status, response_status, error FROM webhook_attempts ORDER BY attempt",
    )
    assert attempts == [
        {"attempt": 1, "status": "failed", "response_status": 500, "error": "http_status"},
        {"attempt": 2, "status": "succeeded", "response_status": 200, "error": None},
    ]
    [hook] = await rows(database, "SELECT consecutive_failures, status FROM webhooks")
    assert hook == {"consecutive_failures": 0, "status": "active"}
    # The worker's metrics: each attempt by outcome, and how long it took.
    attempted = metric_values(worker, "aftercare_webhook_attempts_total", "outcome")
    assert attempted["delivered"] == 1 and attempted["http_status"] == 1
    assert sum(attempted.values()) == 2 and set(attempted) == set(ATTEMPT_OUTCOMES)
    assert sample(worker, "aftercare_webhook_attempt_duration_seconds_count") == 2
    assert sample(worker, "aftercare_webhook_deliveries_failed_total") == 0


async def test_the_delivery_fails_once_the_schedule_is_used_up(
    factory: Factory,
    database: Database,
    worker_settings: Settings,
    key_wrapper: KeyWrapper,
    receiver: Receiver,
) -> None:
    receiver.script = script(500)
    org = await factory.organization()
    await add_webhook(database, key_wrapper, org.id, receiver.url())
    await emit(database, org.id)
    settings = worker_settings.model_copy(update={"webhook_retry_schedule": "1"})
    async with running(settings, database, key_wrapper) as worker:
        assert await receiver.wait_for(2)
        [done] = await settled(database, 1)
    assert done["status"] == "failed" and done["attempts"] == 2
    assert done["next_attempt_at"] is None
    assert len(receiver.requests) == 2
    assert sample(worker, "aftercare_webhook_attempts_total", outcome="http_status") == 2
    assert sample(worker, "aftercare_webhook_deliveries_failed_total") == 1


async def test_a_redirect_is_not_followed_and_fails_the_attempt(
    factory: Factory,
    database: Database,
    worker_settings: Settings,
    key_wrapper: KeyWrapper,
    receiver: Receiver,
) -> None:
    receiver.script = script(302)
    org = await factory.organization()
    await add_webhook(database, key_wrapper, org.id, receiver.url("/moved"))
    await emit(database, org.id)
    settings = worker_settings.model_copy(update={"webhook_retry_schedule": ""})
    async with running(settings, database, key_wrapper):
        assert await receiver.wait_for(1)
        [done] = await settled(database, 1)
    assert [r.path for r in receiver.requests] == ["/moved"]
    assert done["status"] == "failed" and done["last_response_status"] == 302


async def test_consecutive_failures_disable_the_subscription_and_tell_its_owner(
    factory: Factory,
    database: Database,
    worker_settings: Settings,
    key_wrapper: KeyWrapper,
    receiver: Receiver,
) -> None:
    receiver.script = script(500)
    org = await factory.organization()
    hook = await add_webhook(database, key_wrapper, org.id, receiver.url())
    await emit(database, org.id, count=3)
    settings = worker_settings.model_copy(
        update={"webhook_retry_schedule": "", "webhook_disable_after": 3}
    )
    async with running(settings, database, key_wrapper) as worker:
        assert await receiver.wait_for(3)
        await settled(database, 3)
        # A disabled subscription gets no deliveries of later events.
        await emit(database, org.id, count=2)
        await asyncio.sleep(0.5)
    assert len(receiver.requests) == 3
    [webhook] = await rows(
        database, "SELECT status, consecutive_failures, disabled_at, version FROM webhooks"
    )
    assert webhook["status"] == "disabled" and webhook["consecutive_failures"] == 3
    assert webhook["disabled_at"] is not None and webhook["version"] == 2
    disabled = await rows(
        database, "SELECT org_id, subject_id, data FROM events WHERE type = 'webhook.disabled'"
    )
    assert disabled == [
        {"org_id": org.id, "subject_id": hook.id, "data": {"webhook_id": str(hook.id)}}
    ]
    states = await rows(database, "SELECT status FROM webhook_deliveries")
    assert [s["status"] for s in states] == ["failed"] * 3
    assert sample(worker, "aftercare_webhook_subscriptions_disabled_total") == 1
    assert sample(worker, "aftercare_webhook_deliveries_failed_total") == 3


async def test_an_idle_worker_wakes_on_notify(
    factory: Factory,
    database: Database,
    worker_settings: Settings,
    key_wrapper: KeyWrapper,
    receiver: Receiver,
) -> None:
    org = await factory.organization()
    await add_webhook(database, key_wrapper, org.id, receiver.url())
    async with running(worker_settings, database, key_wrapper):
        await asyncio.sleep(0.5)  # idle: nothing due, nothing scheduled (60 s safety timer)
        started = time.time()
        await emit(database, org.id)
        assert await receiver.wait_for(1, timeout=5)
        assert receiver.requests[0].at - started < 1.0


async def test_a_lapsed_lease_makes_the_delivery_due_again(
    factory: Factory,
    database: Database,
    worker_settings: Settings,
    key_wrapper: KeyWrapper,
    receiver: Receiver,
) -> None:
    """What a worker killed after its claim leaves behind: leased deliveries, no attempt."""
    org = await factory.organization()
    await add_webhook(database, key_wrapper, org.id, receiver.url())
    await emit(database, org.id, count=3)
    session = database.session(transactional=False)
    try:
        claimed = await deliveries.claim(session, limit=10, lease_seconds=1.0)
    finally:
        await session.close()
    assert len(claimed) == 3
    async with running(worker_settings, database, key_wrapper):
        await asyncio.sleep(0.5)
        assert receiver.requests == []  # still leased to the "dead" worker
        assert await receiver.wait_for(3, timeout=5)
        done = await settled(database, 3)
    assert {d["status"] for d in done} == {"succeeded"}
    assert len({r.webhook_id for r in receiver.requests}) == 3


async def test_counting_failures_never_waits_for_a_request_appending_deliveries(
    factory: Factory, database: Database, key_wrapper: KeyWrapper
) -> None:
    """A request appending events inserts deliveries, whose foreign-key checks take KEY SHARE
    on the subscriptions, in no particular order, until it commits. The worker counting
    failures locks subscriptions too: with FOR UPDATE it waited for such a request, and a
    request waiting for the worker in turn deadlocked (a 500 under the soak). It now takes
    NO KEY UPDATE, which KEY SHARE does not block."""
    partner = await factory.partner()
    first = await add_webhook(database, key_wrapper, partner.org.id, "http://127.0.0.1:9/a")
    second = await add_webhook(database, key_wrapper, partner.org.id, "http://127.0.0.1:9/b")
    async with database.pool.acquire() as request:
        transaction = request.transaction()
        await transaction.start()
        try:
            event_id = uuid4()
            await request.execute(
                "INSERT INTO events (id, org_id, type, subject_type, subject_id, data) "
                "VALUES ($1, $2, 'webhook.test', 'webhook', $3, '{}')",
                event_id,
                partner.org.id,
                uuid4(),
            )
            await request.execute(
                "INSERT INTO webhook_deliveries (id, webhook_id, event_id) "
                "VALUES ($1, $2, $3), ($4, $5, $3)",
                uuid4(),
                first.id,
                event_id,
                uuid4(),
                second.id,
            )
            worker = database.session(transactional=True)
            try:
                await worker.execute(Query("SET LOCAL lock_timeout = '2s'"))
                counted = await deliveries_repo.count_failures(
                    worker,
                    ids=sorted([first.id, second.id]),
                    resets=[False, False],
                    failures=[1, 1],
                    disable_after=30,
                )
                await worker.commit()
            finally:
                await worker.close()
            assert sorted(c.consecutive_failures for c in counted) == [1, 1]
        finally:
            await transaction.rollback()
