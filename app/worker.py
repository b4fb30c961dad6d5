"""The worker: delivers webhooks and runs the hub's timed jobs (``aftercare worker``).

Any number of workers may run, on any number of machines, against the same database; nothing
is assigned to a particular one.

Deliveries. The worker claims due deliveries in one short statement (``FOR UPDATE SKIP LOCKED``;
its own transaction, committed at once) that leases them for ``AFTERCARE_WEBHOOK_LEASE_SECONDS``;
makes each attempt outside any transaction, at most ``concurrency`` at a time; and records the
outcomes in small batches (attempt log, delivery state, failure counts, auto-disable with its
``webhook.disabled`` event, one transaction per batch). A worker killed mid-attempt records
nothing: when the lease runs out, the delivery is due again and some worker makes the attempt
again (delivery is at least once; ``webhook-id`` lets receivers drop duplicates).

Idle, it waits on ``LISTEN aftercare_deliveries`` (notified when a transaction that created a
delivery commits) and on a timer set to the next scheduled retry; it does not poll.

Timed jobs (app.domain.timed_jobs) run beside the deliveries: each whenever its next moment comes
(and at least every ``AFTERCARE_WORKER_JOB_INTERVAL_SECONDS``), retention and housekeeping every
five minutes.

Stopping (SIGTERM/SIGINT from the command, or the app's shutdown for the in-process worker):
no more claims, the attempts in flight finish and are recorded, then :meth:`Worker.run` returns.

Metrics (:class:`WorkerMetrics`): attempts by outcome, their duration, deliveries given up and
subscriptions disabled. They reach Prometheus through the app's ``/metrics`` (the in-process
worker shares the app's registry; a worker process given the servers' ``PROMETHEUS_MULTIPROC_DIR``
writes into it) or through ``aftercare worker --metrics-port``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar, get_args
from uuid import UUID

import certifi
from prometheus_client import CollectorRegistry, Counter, Histogram

from app.db.database import Database, Session
from app.db.errors import TransactionAborted
from app.db.notify import DELIVERIES_CHANNEL, Interest, Notifications
from app.db.repositories.deliveries import AttemptRecord, ClaimedDelivery
from app.domain import deliveries, timed_jobs
from app.domain.crypto import KeyWrapper
from app.domain.webhook_delivery import DeliveryResult, ErrorCode, WebhookSender
from app.logging import log
from app.settings import Settings

T = TypeVar("T")

CLAIM_BATCH = 100  # deliveries claimed per statement, at most
RECORD_BATCH = 500  # attempts recorded per transaction, at most
RECORD_LINGER_SECONDS = 0.005  # gather attempts this long before recording them
IDLE_SAFETY_SECONDS = 60.0  # never trust silence longer (a notification lost in a reconnect)
HOUSEKEEPING_SECONDS = 300.0
RETRY_SECONDS = 1.0  # after a database error
SENDER_CONNECTIONS = 2  # keep-alive connections per sender (one attempt at a time uses it)

# Every value the outcome label may take: a 2xx, another status, or why no status came.
ATTEMPT_OUTCOMES: tuple[str, ...] = ("delivered", "http_status", *get_args(ErrorCode))
_ATTEMPT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class WorkerMetrics:
    """Webhook attempt metrics of one worker; labels from fixed sets only (no URL, no id)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.attempts = Counter(
            "aftercare_webhook_attempts",
            "Webhook attempts made, by outcome: delivered (2xx), http_status (another status) "
            "or why no status came (timeout, connection_error, dns_error, refused_address, ...)",
            ["outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "aftercare_webhook_attempt_duration_seconds",
            "Time one webhook attempt took (resolving, connecting, sending, reading the status)",
            buckets=_ATTEMPT_BUCKETS,
            registry=self.registry,
        )
        self.failed = Counter(
            "aftercare_webhook_deliveries_failed",
            "Webhook deliveries given up after the last retry of the schedule",
            registry=self.registry,
        )
        self.disabled = Counter(
            "aftercare_webhook_subscriptions_disabled",
            "Webhook subscriptions disabled after too many consecutive failed attempts",
            registry=self.registry,
        )
        for outcome in ATTEMPT_OUTCOMES:  # every series from the start, at 0
            self.attempts.labels(outcome)

    def attempted(self, result: DeliveryResult) -> None:
        outcome = "delivered" if result.ok else (result.error_code or "http_status")
        self.attempts.labels(outcome).inc()
        self.duration.observe(result.duration_ms / 1000)


class Worker:
    def __init__(
        self,
        settings: Settings,
        database: Database,
        key_wrapper: KeyWrapper,
        *,
        concurrency: int | None = None,
        jobs: bool = True,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or WorkerMetrics()
        self.database = database
        self.concurrency = concurrency or settings.worker_concurrency
        self.secrets = deliveries.SecretBox(key_wrapper)
        self.key_wrapper = key_wrapper
        self.retry_delays = settings.webhook_retry_delays
        self.lease_seconds = settings.webhook_lease_seconds
        self.run_jobs = jobs
        self._senders: asyncio.Queue[WebhookSender] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._done: list[tuple[UUID, AttemptRecord]] = []
        self._have_done = asyncio.Event()
        self.delivered = 0  # attempts recorded by this worker (for tests and benchmarks)

    def stop(self) -> None:
        """Stop claiming; :meth:`run` returns once the attempts in flight are recorded."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def wait_stopping(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait ``timeout`` seconds or until :meth:`stop`, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout)

    # -- the loops -------------------------------------------------------------------------------
    async def run(self) -> None:
        notifications = Notifications(self.database.dsn, DELIVERIES_CHANNEL)
        # One sender (connection pool) per attempt in flight, each used by one attempt at a
        # time: httpcore's pool slows down sharply when many requests wait on one pool.
        tls = ssl.create_default_context(cafile=certifi.where())  # as httpx's default
        senders = [
            WebhookSender(
                ssl_context=tls,
                allow_private=self.settings.webhook_allow_private_networks,
                require_https=not self.settings.is_development,
                timeout=self.settings.webhook_timeout_seconds,
                max_connections=SENDER_CONNECTIONS,
            )
            for _ in range(self.concurrency)
        ]
        for sender in senders:
            self._senders.put_nowait(sender)
        recorder = asyncio.create_task(self._record_loop(), name="worker-record")
        jobs = asyncio.create_task(self._jobs_loop(), name="worker-jobs") if self.run_jobs else None
        log.info("worker_started", concurrency=self.concurrency)
        try:
            await self._deliver_loop(notifications)
        finally:
            # Drain: what is in flight finishes and is recorded.
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)
            self._stop.set()
            self._have_done.set()
            await asyncio.gather(recorder, return_exceptions=True)
            if jobs is not None:
                jobs.cancel()
                await asyncio.gather(jobs, return_exceptions=True)
            await notifications.close()
            for sender in senders:
                await sender.aclose()
            log.info("worker_stopped")

    async def _deliver_loop(self, notifications: Notifications) -> None:
        # Interest is registered before the first claim: a delivery committed between a claim
        # that found nothing and the wait still wakes the wait.
        with notifications.interest(None) as interest:
            await notifications.ensure_listening()
            while not self.stopping:
                free = self.concurrency - len(self._inflight)
                # Busy: claim again once a quarter of the slots are free (one statement for
                # several deliveries rather than one per finished attempt).
                if free < max(1, self.concurrency // 4) and self._inflight:
                    await self._first_of(
                        asyncio.wait(self._inflight, return_when="FIRST_COMPLETED")
                    )
                    continue
                asked = min(free, CLAIM_BATCH)
                # A retry recorded from here on wakes the idle wait below (cleared before the
                # claim, not after it, so that such a wake-up is never lost).
                self._wake.clear()
                try:
                    claimed = await self._in_session(
                        partial(deliveries.claim, limit=asked, lease_seconds=self.lease_seconds),
                        transactional=False,
                    )
                except Exception as exc:
                    log.warning("worker_claim_failed", error_type=type(exc).__name__)
                    await self._first_of(asyncio.sleep(RETRY_SECONDS))
                    continue
                for item in claimed:
                    task = asyncio.create_task(self._attempt(item))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                if len(claimed) == asked:
                    continue  # there may be more due right now
                await self._idle(interest)

    async def _idle(self, interest: Interest) -> None:
        try:
            due = await self._in_session(deliveries.next_due, transactional=False)
        except Exception as exc:
            log.warning("worker_claim_failed", error_type=type(exc).__name__)
            due = None
        wait = IDLE_SAFETY_SECONDS
        if due is not None:
            wait = min(wait, max(0.0, (due - datetime.now(UTC)).total_seconds()))
        if wait <= 0:
            # Due now but not claimable (leased by another worker, or just recorded): look again
            # shortly rather than spin.
            wait = 0.05
        await self._first_of(interest.wait(wait), self._wake.wait())

    async def _attempt(self, claimed: ClaimedDelivery) -> None:
        try:
            body, headers = deliveries.request_of(claimed, self.secrets)
        except Exception as exc:  # a secret that cannot be opened: a failed attempt
            log.warning("webhook_signing_failed", error_type=type(exc).__name__)
            result = DeliveryResult(None, 0, "unexpected_error")
        else:
            sender = self._senders.get_nowait()  # never empty: one per attempt in flight
            try:
                result = await sender.deliver(claimed.url, body, headers)
            finally:
                self._senders.put_nowait(sender)
        self.metrics.attempted(result)
        record = deliveries.outcome(claimed, result, self.retry_delays)
        self._done.append((claimed.webhook_id, record))
        self._have_done.set()

    async def _record_loop(self) -> None:
        while True:
            if self.stopping and not self._done and not self._inflight:
                return
            await self._have_done.wait()
            if not self._done:
                self._have_done.clear()
                continue
            if not self.stopping:
                await asyncio.sleep(RECORD_LINGER_SECONDS)  # let a few more finish
            batch, self._done = self._done[:RECORD_BATCH], self._done[RECORD_BATCH:]
            if not self._done:
                self._have_done.clear()
            try:
                recorded = await self._in_session(
                    partial(
                        deliveries.record,
                        attempts=batch,
                        disable_after=self.settings.webhook_disable_after,
                    )
                )
            except Exception as exc:
                # Keep them and try again; should this worker die first, the leases run out
                # and the attempts are made again (at least once, never lost).
                log.warning("worker_record_failed", error_type=type(exc).__name__)
                self._done[:0] = batch
                self._have_done.set()
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self.delivered += recorded.attempts
            given_up = sum(1 for _, r in batch if r.delivery_status == "failed")
            if given_up:
                self.metrics.failed.inc(given_up)
            if recorded.disabled:
                self.metrics.disabled.inc(len(recorded.disabled))
            for webhook_id in recorded.disabled:
                log.info("webhook_disabled", webhook_id=str(webhook_id))
            if any(r.delivery_status == "pending" for _, r in batch):
                self._wake.set()  # a retry was scheduled: the idle timer may need to be sooner

    async def _jobs_loop(self) -> None:
        last_housekeeping = 0.0
        while not self.stopping:
            try:
                await self.run_timed_jobs()
                if time.monotonic() - last_housekeeping >= HOUSEKEEPING_SECONDS:
                    counts = await self._in_session(
                        lambda s: timed_jobs.prune(s, self.settings.event_retention_days)
                    )
                    last_housekeeping = time.monotonic()
                    if any(counts.values()):
                        log.info("pruned", **counts)
                moment = await self._in_session(timed_jobs.next_moment, transactional=False)
            except TransactionAborted as exc:
                # Rolled back to settle a conflict with a request (nothing was stored): the
                # work is still due, so look again in a second, not after the full interval.
                log.info("worker_job_rolled_back", sqlstate=exc.sqlstate)
                moment = datetime.now(UTC)
            except Exception as exc:
                log.warning("worker_job_failed", error_type=type(exc).__name__)
                moment = None
            wait = self.settings.worker_job_interval_seconds
            if moment is not None:
                until = (moment - datetime.now(UTC)).total_seconds()
                # Due already but claimed by another worker (or locked): look again in a while.
                wait = min(wait, until if until > 0 else 1.0)
            await self._first_of(asyncio.sleep(wait))

    async def run_timed_jobs(self) -> dict[str, int]:
        """Each timed job, batch after batch (one transaction each) until nothing is due."""
        totals: dict[str, int] = {}
        jobs: dict[str, tuple[Callable[[Session], Awaitable[int]], int]] = {
            "referrals_expired": (
                lambda s: timed_jobs.expire_referrals(
                    s, self.key_wrapper, timed_jobs.CASE_LOCK_BATCH
                ),
                timed_jobs.CASE_LOCK_BATCH,
            ),
            "consents_expired": (timed_jobs.expire_consents, timed_jobs.BATCH),
            "consents_activated": (timed_jobs.activate_consents, timed_jobs.BATCH),
            "visits_overdue": (timed_jobs.announce_overdue_visits, timed_jobs.BATCH),
        }
        for name, (job, batch) in jobs.items():
            total = 0
            while not self.stopping:
                done = await self._in_session(job)
                total += done
                if done < batch:  # a short batch: nothing more is due (or the rest is held)
                    break
            totals[name] = total
            if total:
                log.info("timed_job", job=name, count=total)
        return totals

    # -- helpers ---------------------------------------------------------------------------------
    async def _first_of(self, *waits: Awaitable[Any]) -> None:
        """Wait for the first of ``waits`` or for :meth:`stop`."""
        tasks = [asyncio.ensure_future(w) for w in waits]
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [*tasks, stopper]:
                if not task.done():
                    task.cancel()
            for task in [*tasks, stopper]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _in_session(
        self, work: Callable[[Session], Awaitable[T]], *, transactional: bool = True
    ) -> T:
        session = self.database.session(transactional=transactional)
        try:
            result = await work(session)
            await session.commit()
            return result
        except BaseException:
            await session.rollback()
            raise
        finally:
            await session.close()
