"""Runtime configuration, read from the environment (prefix ``AFTERCARE_``)."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.domain.report_rules import DEFAULT_MIN_CELL, ROUNDING

if TYPE_CHECKING:
    from app.domain.crypto import KeyWrapper


class Settings(BaseSettings):
    # hide_input_in_errors: a rejected value may hold a secret (a password in AFTERCARE_REDIS_URL).
    model_config = SettingsConfigDict(
        env_prefix="AFTERCARE_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    env: Literal["development", "production"] = "development"
    database_url: str | None = Field(
        default=None,
        description="postgresql+asyncpg://… ; unset → embedded PostgreSQL under data_dir",
    )
    data_dir: Path = Path(".aftercare")
    keys_dir: Path | None = Field(
        default=None,
        description="Signing-key directory; defaults to <data_dir>/keys in development",
    )
    kek: SecretStr | None = Field(
        default=None,
        description="Key-encryption key for survivor identity (base64, 32 bytes); "
        "defaults to <keys_dir>/kek, generated in development",
    )
    kek_previous: SecretStr | None = Field(
        default=None,
        description="Previous key-encryption keys, comma-separated base64, still accepted for "
        "unwrapping while `aftercare kek rotate` re-wraps everything under AFTERCARE_KEK",
    )
    blind_index_key: SecretStr | None = Field(
        default=None,
        description="Secret keying the external_ref blind index (base64, 32 bytes; never "
        "rotated); defaults to <keys_dir>/blind_index_key, generated in development",
    )
    issuer: str = "http://127.0.0.1:8000"
    audience: str = "aftercare-exchange"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86400)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_details_bytes: int = Field(
        default=16_384,
        ge=1024,
        description="Largest `details` of a case update, as compact JSON (bytes); above → 422",
    )
    report_min_cell_size: int = Field(
        default=DEFAULT_MIN_CELL,
        ge=DEFAULT_MIN_CELL,
        le=100,
        multiple_of=ROUNDING,
        description="Smallest count a report publishes (a multiple of 5); smaller ones, zero "
        "included, are suppressed",
    )
    keepalive_max_requests: int = Field(
        default=100,
        ge=1,
        le=1_000_000,
        description="Requests one HTTP connection serves before `aftercare serve` closes it "
        "(the last response says `Connection: close`), so that long-lived clients' connections "
        "spread over the server processes as they are renewed",
    )
    keepalive_timeout_seconds: int = Field(
        default=75,
        ge=1,
        le=3600,
        description="How long `aftercare serve` keeps an idle HTTP connection open for its next "
        "request (nginx's `keepalive_timeout` default): longer than a load balancer's idle "
        "timeout (60 s for AWS ALB and nginx, 600 s for Google Cloud's), so that the balancer "
        "never sends a request on a connection the server is closing",
    )
    request_read_timeout_seconds: int = Field(
        default=60,
        ge=1,
        le=3600,
        description="How long `aftercare serve` waits for a request to arrive whole, head and "
        "body, from its first byte (nginx's `client_header_timeout` default; the whole body "
        "counts, not the gap between two reads): a late head is answered 408, a late body "
        "closes the connection, so that a client trickling bytes cannot hold a connection and "
        "its request open for ever",
    )
    db_pool_min_size: int = Field(default=2, ge=0)
    db_pool_max_size: int = Field(default=10, ge=1)
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    db_acquire_timeout_seconds: float = Field(default=5.0, gt=0)
    audit_chains: int = Field(
        default=64,
        ge=1,
        le=256,
        description="Audit hash chains per organisation (at most; created as concurrency needs "
        "them): an append takes a chain no other transaction holds (the connection's own, "
        "pg_backend_pid() % N, first), or creates one, and waits only when N are held, so one "
        "partner's concurrent audited requests do not queue behind each other's commit",
    )
    idempotency_ttl_hours: int = Field(default=24, ge=1)
    graphql_max_cost: int = Field(
        default=100_000,
        ge=100,
        description="GraphQL: most fields an operation may ask for, counted before it runs, each "
        "connection's fields multiplied by its `first` (default 25); above → query_too_costly",
    )
    graphql_max_response_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=64 * 1024,
        description="GraphQL: largest response (bytes of JSON). An operation whose response "
        "could weigh more (each field at the most it may hold) is refused before it runs; "
        "execution stops once a response outgrows it all the same (query_too_costly, mutations "
        "rolled back)",
    )
    keyset_refresh_seconds: float = Field(
        default=1.0,
        ge=0,
        le=5,
        description="How often (at most) each process looks at keyset.json for rotations and "
        "retirements: a retired key stops verifying everywhere within this bound",
    )
    access_memo_entries: int = Field(
        default=10_000,
        ge=0,
        le=100_000,
        description="Case-read decisions each process remembers (per organisation, scopes and "
        "case), so that a repeated case or care plan read appends its audit row in the "
        "statement that reads the case: one round trip instead of two. The database checks the "
        "policy's facts are the same before the row is appended. 0: off",
    )
    token_status_seconds: float = Field(
        default=2.0,
        ge=0,
        le=30,
        description="How long (at most) a process trusts that a token it found in order (client "
        "enabled, token not revoked) still is, without asking the database; a revocation or a "
        "disabled client is heard within milliseconds through PostgreSQL's notifications; this "
        "bounds what could go unheard. 0: ask on every request",
    )
    rate_limit: str = Field(
        default="600/minute",
        description="Requests per client on /v1 and /graphql (limits notation, e.g. 600/minute)",
    )
    token_failure_limit: str = Field(
        default="10/minute",
        description="Failed client authentications at /oauth/* per source address",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks of reverse proxies whose "
        "X-Forwarded-For is believed (for the per-address limits); empty: none",
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated browser origins allowed to call the API (CORS), e.g. "
        "https://portal.example.org; empty (the default): no CORS headers at all",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="redis://… : rate-limit counters shared by every replica (else in memory)",
    )
    webhook_allow_private_networks: bool = Field(
        default=False,
        description="Let webhooks reach loopback, private, link-local and other non-public "
        "addresses (tests and local demos only: it turns the SSRF guard off)",
    )
    webhook_retry_schedule: str = Field(
        default="5,300,1800,7200,18000,36000,36000",
        description="Seconds to wait before each retry of a failed webhook delivery, "
        "comma-separated; after the last one the delivery is marked failed",
    )
    webhook_disable_after: int = Field(
        default=30,
        ge=1,
        description="Consecutive failed webhook attempts after which a subscription is disabled",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="Deadline of one webhook attempt (resolving, connecting, sending, reading)",
    )
    webhook_lease_seconds: float = Field(
        default=60.0,
        ge=1,
        le=3600,
        description="How long a worker holds a claimed webhook delivery: if the worker dies, "
        "another one makes the attempt once this has passed (longer than an attempt's deadline)",
    )
    worker_concurrency: int = Field(
        default=32,
        ge=1,
        le=1000,
        description="Webhook attempts in flight at once in one worker process "
        "(`aftercare worker --concurrency` overrides it)",
    )
    worker_job_interval_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Longest a worker waits between looks at the timed jobs (expiries, overdue "
        "visits); each is also run when its next moment comes",
    )
    event_retention_days: int = Field(
        default=30,
        ge=30,
        le=3650,
        description="Days events (and their webhook deliveries and attempts) are kept; at least 30",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_json: bool = True
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's OpenTelemetry spans and metrics (off: they cost every request "
        "and span attributes could carry request details)",
    )

    @field_validator("rate_limit", "token_failure_limit")
    @classmethod
    def _rate_limit_notation(cls, value: str) -> str:
        from limits import parse_many

        try:
            items = parse_many(value)
        except ValueError:
            items = []
        if len(items) != 1 or items[0].amount < 1:
            raise ValueError("expected one limit such as 600/minute")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip():
                ipaddress.ip_network(part.strip(), strict=False)  # ValueError → settings error
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in (o.strip() for o in value.split(",")):
            if origin and (
                not origin.startswith(("https://", "http://")) or origin.count("/") != 2
            ):
                raise ValueError("expected origins such as https://portal.example.org")
        return value

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property  # not cached: model_copy(update=...) would carry a cached value over
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(
            ipaddress.ip_network(part.strip(), strict=False)
            for part in self.trusted_proxies.split(",")
            if part.strip()
        )

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _retry_schedule(cls, value: str) -> str:
        _parse_retry_schedule(value)  # ValueError → settings error
        return value

    @property  # not cached: model_copy(update=...) would carry a cached value over
    def webhook_retry_delays(self) -> tuple[int, ...]:
        """``AFTERCARE_WEBHOOK_RETRY_SCHEDULE`` as seconds: the wait before retry 1, 2, …"""
        return _parse_retry_schedule(self.webhook_retry_schedule)

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://")):
            raise ValueError("expected redis://… or rediss://…")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _a_stored_update_fits_a_graphql_response(self) -> Settings:
        # one update read back must fit, even one stored before details were bounded (as
        # large as a request body) or under a larger AFTERCARE_MAX_DETAILS_BYTES
        if self.graphql_max_response_bytes < self.max_body_bytes:
            raise ValueError(
                "AFTERCARE_GRAPHQL_MAX_RESPONSE_BYTES must be at least AFTERCARE_MAX_BODY_BYTES"
            )
        if self.max_details_bytes > self.max_body_bytes:
            raise ValueError("AFTERCARE_MAX_DETAILS_BYTES must be at most AFTERCARE_MAX_BODY_BYTES")
        return self

    @model_validator(mode="after")
    def _a_lease_outlasts_an_attempt(self) -> Settings:
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "AFTERCARE_WEBHOOK_LEASE_SECONDS must be longer than "
                "AFTERCARE_WEBHOOK_TIMEOUT_SECONDS"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_explicit_config(self) -> Settings:
        if self.env == "production":
            missing = [
                name
                for name, value in (
                    ("AFTERCARE_DATABASE_URL", self.database_url),
                    ("AFTERCARE_KEYS_DIR", self.keys_dir),
                )
                if value is None
            ]
            if missing:
                raise ValueError(
                    "production refuses to start without explicit " + ", ".join(missing)
                )
        return self

    @property
    def is_development(self) -> bool:
        return self.env == "development"

    @cached_property
    def resolved_keys_dir(self) -> Path:
        return (self.keys_dir or self.data_dir / "keys").resolve()

    def key_wrapper(self) -> KeyWrapper:
        """The KEKs and blind-index secret this process works with (raises ``KekError``)."""
        from app.domain.crypto import (
            KeyWrapper,
            load_index_secret,
            load_kek,
            load_previous_keks,
        )

        def secret(value: SecretStr | None) -> str | None:
            return value.get_secret_value() if value else None

        directory = self.resolved_keys_dir
        return KeyWrapper(
            load_kek(secret(self.kek), directory, create=self.is_development),
            load_previous_keks(secret(self.kek_previous)),
            index_secret=load_index_secret(
                secret(self.blind_index_key), directory, create=self.is_development
            ),
        )

    @cached_property
    def embedded_pgdata(self) -> Path:
        return (self.data_dir / "pgdata").resolve()


def _parse_retry_schedule(value: str) -> tuple[int, ...]:
    parts = [part.strip() for part in value.split(",")]
    if value.strip() == "":
        return ()  # no retry: the first failed attempt fails the delivery
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise ValueError("expected whole seconds separated by commas, such as 5,300,1800")
    delays = tuple(int(part) for part in parts)
    if any(delay < 1 or delay > 7 * 86400 for delay in delays):
        raise ValueError("each retry delay must be between 1 second and 7 days")
    if len(delays) > 100:
        raise ValueError("at most 100 retries")
    return delays
