"""Application factory: wires routers, error handlers, middleware and the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from fastapi.telemetry._asgi import ExceptionTelemetryMiddleware
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp

from app import __version__
from app.api import (
    care_plan,
    cases,
    events,
    follow_ups,
    health,
    http_server,
    legal,
    oauth,
    openapi,
    organizations,
    placements,
    referrals,
    reports,
    webhooks,
)
from app.api.context import AppContext
from app.api.docs import docs_router
from app.api.graphql.router import graphql_router
from app.api.lean import LeanDispatch
from app.api.metrics import forget_process
from app.api.middleware import ApiMiddleware
from app.api.problems import install_problem_handlers, problem_responses
from app.api.rate_limits import RateLimiter
from app.api.telemetry import RedactingTracerProvider
from app.db.bootstrap import database_url_for
from app.db.database import Database
from app.domain.crypto import KeyWrapper
from app.domain.facts import AccessMemo
from app.domain.keys import KeyRing
from app.domain.tokens import TokenConfig, TokenStatuses
from app.logging import configure_logging, log
from app.settings import Settings
from app.worker import Worker, WorkerMetrics

DESCRIPTION = """\
The hub that partner NGOs, government shelters, legal advocates and medical providers share to
care for survivors of human trafficking. Authenticate with OAuth 2.0 client credentials at
`/oauth/token`; every `/v1` call needs `Authorization: Bearer <token>`. Errors are
`application/problem+json`.
"""

# Set by `aftercare serve --workers N` for its server processes (app_from_env): the in-process
# worker runs in the one process holding an exclusive lock on this file.
WORKER_LOCK_ENV = "AFTERCARE_SERVE_WORKER_LOCK"
WORKER_LOCK_RETRY_SECONDS = 1.0
POOL_METRICS_SECONDS = 1.0  # several processes: how often each one writes its pool gauges


class HubAPI(FastAPI):
    """FastAPI with a shorter middleware stack around the routes.

    FastAPI wraps every request in ServerErrorMiddleware, its exception-telemetry and body-limit
    middleware, the user's middleware, ExceptionMiddleware and an AsyncExitStack (for uploaded
    files and forms). Here: the user's middleware (``ApiMiddleware``, which is also the last word on
    unexpected errors, and CORS when configured), the exception-telemetry layer only when
    OpenTelemetry is on, ExceptionMiddleware (the problem+json handlers) and the
    AsyncExitStack. ``ApiMiddleware`` limits bodies and answers unexpected errors; each layer
    dropped is a call and an await less on every message of every request."""

    def build_middleware_stack(self) -> ASGIApp:
        handlers = {
            key: value
            for key, value in self.exception_handlers.items()
            if key not in (500, Exception)
        }
        middleware = [
            *self.user_middleware,
            *([Middleware(ExceptionTelemetryMiddleware)] if self.state.telemetry else []),
            Middleware(ExceptionMiddleware, handlers=handlers, debug=self.debug),
            Middleware(AsyncExitStackMiddleware),  # FastAPI closes parsed forms with it
        ]
        # Hot reads are routed and run without FastAPI's per-request machinery (app.api.lean).
        app: ASGIApp = LeanDispatch(self.router, self.router.routes)
        for cls, args, kwargs in reversed(middleware):
            app = cls(app, *args, **kwargs)
        return app


# How many net allocations of tracked objects start a collection of the youngest generation
# (CPython's default: 700). Requests leave no reference cycles (tests/api/test_no_cycles.py),
# so their objects go by reference counting and a young collection mostly walks the requests
# still in flight, to free nothing: at 32 concurrent requests, collecting every 10,000 instead
# of every 700 cut the collector's share of a GraphQL page from 0.93 to 0.39 ms of CPU and of
# the two REST calls from 0.45 to 0.10 ms (bench/README.md, sixth session).
GC_YOUNG_THRESHOLD = 10_000


def build_database(settings: Settings) -> Database:
    return Database(
        database_url_for(settings),
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        connect_timeout=settings.db_connect_timeout_seconds,
        acquire_timeout=settings.db_acquire_timeout_seconds,
        audit_chains=settings.audit_chains,
    )


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    keyring: KeyRing | None = None,
    key_wrapper: KeyWrapper | None = None,
    configure_logs: bool = True,
    worker: bool = False,
    worker_lock: Path | None = None,
) -> FastAPI:
    """The API. ``worker=True`` also runs one webhook/timed-jobs worker in this process (what
    `aftercare serve` does in development; tests and production use separate workers). With a
    ``worker_lock`` file (several server processes), only the process that holds an exclusive
    lock on it runs that worker; the others keep trying, so a replacement of the holder takes
    over."""
    settings = settings or Settings()
    if configure_logs:
        configure_logging(settings.log_level, json=settings.log_json)
    # this process's connections
    http_server.configure(
        settings.keepalive_max_requests,
        settings.keepalive_timeout_seconds,
        settings.request_read_timeout_seconds,
    )
    keyring = keyring or KeyRing(
        settings.resolved_keys_dir,
        create=settings.is_development,
        refresh_interval=settings.keyset_refresh_seconds,
    )
    if key_wrapper is None:
        key_wrapper = settings.key_wrapper()
    ctx = AppContext(
        settings=settings,
        database=database,
        keyring=keyring,
        token_config=TokenConfig(
            issuer=settings.issuer,
            audience=settings.audience,
            ttl_seconds=settings.access_token_ttl_seconds,
        ),
        key_wrapper=key_wrapper,
        token_statuses=TokenStatuses(settings.token_status_seconds),
        access_memo=AccessMemo(settings.access_memo_entries)
        if settings.access_memo_entries
        else None,
        rate_limits=RateLimiter(
            request_limit=settings.rate_limit,
            failure_limit=settings.token_failure_limit,
            redis_url=settings.redis_url.get_secret_value() if settings.redis_url else None,
            trusted_proxies=settings.trusted_proxy_networks,
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owns_database = ctx.database is None
        if ctx.database is None:
            ctx.database = build_database(settings)
        await ctx.database.connect()
        await ctx.listen_for_tokens()
        # Start-up objects live as long as the process: keep them out of every GC pass.
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
        log.info(
            "started",
            env=settings.env,
            version=__version__,
            rate_limit_storage="redis" if ctx.rate_limits.shared else "memory",
        )
        in_process: Worker | None = None
        running: asyncio.Task[None] | None = None
        if worker:
            in_process = Worker(
                settings,
                ctx.database,
                ctx.key_wrapper,
                metrics=WorkerMetrics(ctx.metrics.registry),
            )
            running = asyncio.create_task(
                _run_worker(in_process, worker_lock), name="in-process-worker"
            )
        loop_lag = asyncio.create_task(ctx.metrics.watch_event_loop(), name="loop-lag")
        pool_metrics: asyncio.Task[None] | None = None
        shared_metrics = ctx.metrics.multiprocess
        if shared_metrics is not None:
            # Only the scraped process reads its pool at scrape time: the others write theirs
            # every second.
            pool_metrics = asyncio.create_task(_write_pool_metrics(ctx), name="pool-metrics")
        try:
            yield
        finally:
            loop_lag.cancel()
            await asyncio.gather(loop_lag, return_exceptions=True)
            if in_process is not None and running is not None:
                in_process.stop()  # attempts in flight finish first
                await asyncio.gather(running, return_exceptions=True)
            if pool_metrics is not None and shared_metrics is not None:
                pool_metrics.cancel()
                await asyncio.gather(pool_metrics, return_exceptions=True)
                forget_process(os.getpid(), shared_metrics)
            await ctx.close()
            await ctx.rate_limits.close()
            if owns_database:
                await ctx.database.close()
                ctx.database = None

    dev = settings.is_development
    app = HubAPI(
        title="Aftercare Exchange",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # Swagger UI (/docs) and ReDoc (/redoc) come from app/api/static (no CDN), in
        # development only (app.api.docs); the document itself is served in production too.
        docs_url=None,
        generate_unique_id_function=openapi.operation_id,
        redoc_url=None,
        openapi_url="/openapi.json",
        swagger_ui_oauth2_redirect_url=None,
        # AFTERCARE_OPENTELEMETRY: spans without paths, query strings or ids (app.api.telemetry),
        # exported as the standard OTEL_EXPORTER_OTLP_* variables say (docs/operations.md).
        telemetry={
            "tracer_provider": RedactingTracerProvider() if settings.opentelemetry else None,
            "auto_configure": settings.opentelemetry,
            "tracing": settings.opentelemetry,
            "metrics": settings.opentelemetry,
            "logs": False,
            "operation_spans": settings.opentelemetry,
        },
    )
    app.state.ctx = ctx
    app.state.telemetry = settings.opentelemetry
    openapi.install(app)
    install_problem_handlers(app)
    # Routes are matched in the order they are included, each candidate at some cost: the
    # most requested first (a partner's own organisation, /graphql, cases, referrals), the
    # health checks and the token endpoint (a call per token lifetime) last.
    # Every /v1 operation may answer 429 (per-client rate limit, app.api.rate_limits).
    app.include_router(organizations.router, responses=problem_responses(429))
    app.include_router(graphql_router(settings))
    for router in (
        cases.router,
        referrals.router,
        legal.router,
        placements.router,
        follow_ups.router,
        care_plan.router,
        events.router,
        webhooks.router,
        reports.router,
    ):
        app.include_router(router, responses=problem_responses(429))
    app.include_router(health.router)
    app.include_router(oauth.router)
    if dev:
        app.include_router(docs_router())
    app.add_middleware(ApiMiddleware, max_bytes=settings.max_body_bytes, metrics=ctx.metrics)
    if settings.cors_origin_list:
        # Off unless origins are configured: partners' servers don't need CORS, and a browser
        # portal is an explicit decision of the operator.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-Match",
                "If-None-Match",
                "X-Request-ID",
            ],
            expose_headers=[
                "ETag",
                "Location",
                "Retry-After",
                "X-Request-ID",
                "Idempotent-Replayed",
                "RateLimit",
                "RateLimit-Policy",
                "Deprecation",  # with Sunset and Link, on retired operations (app.api.deprecation)
                "Sunset",
                "Link",
            ],
            max_age=600,
        )
    return app


def app_from_env() -> FastAPI:
    """The app of each server process of `aftercare serve --workers N` (an import string for
    uvicorn: ``uvicorn --factory app.main:app_from_env``): settings from the environment, and
    the in-process worker only when ``AFTERCARE_SERVE_WORKER_LOCK`` names the lock file."""
    lock = os.environ.get(WORKER_LOCK_ENV)
    return create_app(worker=bool(lock), worker_lock=Path(lock) if lock else None)


async def _run_worker(worker: Worker, lock: Path | None) -> None:
    """Run ``worker``; with a ``lock`` file, once this process holds the lock."""
    if lock is None:
        await worker.run()
        return
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while not worker.stopping:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another server process runs it
                await worker.wait_stopping(WORKER_LOCK_RETRY_SECONDS)
                continue
            log.info("in_process_worker", pid=os.getpid())
            await worker.run()
            return
    finally:
        os.close(fd)  # releases the lock


async def _write_pool_metrics(ctx: AppContext) -> None:
    while True:
        with contextlib.suppress(RuntimeError):  # not connected (yet, or any more)
            ctx.metrics.set_pool(*ctx.db.pool_stats())
        await asyncio.sleep(POOL_METRICS_SECONDS)


def openapi_document(app: FastAPI) -> dict[str, object]:
    """The OpenAPI document regardless of environment (for `make schema` and the drift test)."""
    return openapi.document(app)
