"""Rate limits: per client on /v1 and /graphql (IETF RateLimit headers, 429 + Retry-After), and
failed client authentications at /oauth/* per client id and per source address. Tiny limits keep
these tests fast; counters live in memory unless a test asks for the local Redis."""

from __future__ import annotations

import asyncio
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from app.api.rate_limits import RateLimiter
from app.settings import Settings
from tests.conftest import LOG_STREAM
from tests.factories import Factory, Partner, case_body
from tests.helpers import assert_problem

ME = "/v1/organizations/me"
TOKEN = "/oauth/token"
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(autouse=True)
async def _away_from_a_window_edge() -> None:
    """The sliding-window counter weighs the previous minute's hits: a test that crosses a
    minute boundary would see its remaining allowance shift by one. Start clear of the edge."""
    left = 60 - time.time() % 60
    if left < 5:
        await asyncio.sleep(left + 0.2)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit": "3/minute", "token_failure_limit": "2/minute"})


def _policy(response: httpx.Response) -> str:
    return response.headers["ratelimit-policy"]


def _remaining(response: httpx.Response) -> int:
    match = re.fullmatch(r'"default";r=(\d+);t=(\d+)', response.headers["ratelimit"])
    assert match, response.headers["ratelimit"]
    return int(match.group(1))


async def test_v1_requests_over_the_client_limit_are_429_with_retry_after(
    client: httpx.AsyncClient, partner: Partner, factory: Factory
) -> None:
    remaining = []
    for _ in range(3):
        response = await client.get(ME, headers=partner.headers)
        assert response.status_code == 200
        assert _policy(response) == '"default";q=3;w=60'
        remaining.append(_remaining(response))
    assert remaining == [2, 1, 0]
    refused = await client.get(ME, headers=partner.headers)
    assert_problem(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert _remaining(refused) == 0 and _policy(refused) == '"default";q=3;w=60'
    # Another client has its own allowance.
    other = await factory.partner()
    assert (await client.get(ME, headers=other.headers)).status_code == 200


async def test_idempotent_create_authenticates_once_and_spends_one_unit(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    # The Idempotency-Key dependency used to authenticate the caller a second time: a create
    # spent two units of the allowance and answered two RateLimit headers.
    response = await client.post(
        "/v1/cases",
        json=case_body(),
        headers=partner.headers_with(**{"Idempotency-Key": "one-unit-0123456789"}),
    )
    assert response.status_code == 201, response.text
    assert len(response.headers.get_list("ratelimit")) == 1
    assert _remaining(response) == 2  # the client's first request: one unit of three


async def test_graphql_spends_the_same_client_allowance(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    query = {"query": "{ me { id } }"}
    for _ in range(2):
        assert (await client.get(ME, headers=partner.headers)).status_code == 200
    last = await client.post("/graphql", json=query, headers=partner.headers)
    assert last.status_code == 200, last.text
    assert _remaining(last) == 0
    refused = await client.post("/graphql", json=query, headers=partner.headers)
    assert_problem(refused, 429, "rate_limited")
    assert "retry-after" in refused.headers


async def test_unauthenticated_requests_carry_no_rate_limit_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(ME)
    assert response.status_code == 401
    assert "ratelimit" not in response.headers


def _basic(client_id: str, secret: str) -> httpx.BasicAuth:
    return httpx.BasicAuth(client_id, secret)


async def _token(http: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await http.post(
        TOKEN, data={"grant_type": "client_credentials"}, auth=_basic(client_id, secret)
    )


def _rate_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= 60


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    from app.domain import clients

    calls: list[str] = []
    real = clients._verify

    def counting(secret_hash: str, secret: str) -> bool:
        calls.append(secret_hash)
        return real(secret_hash, secret)

    monkeypatch.setattr(clients, "_verify", counting)
    return calls


async def test_failed_authentications_of_a_client_id_elsewhere_do_not_lock_it_out(
    app: FastAPI, partner: Partner, argon2_calls: list[str]
) -> None:
    """Client ids are not secret (a lead sees its partners' in the access log): failures from
    other addresses spend those addresses' allowances, never the client's own."""
    client_id = partner.client.client_id
    for host in ("10.0.0.1", "10.0.0.2"):
        transport = httpx.ASGITransport(app=app, client=(host, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            for _ in range(2):
                assert (await _token(http, client_id, "acs_wrong")).status_code == 401
            _rate_limited(await _token(http, client_id, partner.secret))  # that address: spent
            for endpoint in ("/oauth/revoke", "/oauth/introspect"):
                response = await http.post(
                    endpoint, data={"token": partner.token}, auth=_basic(client_id, partner.secret)
                )
                _rate_limited(response)
    assert len(argon2_calls) == 4  # the refused attempts hashed nothing
    transport = httpx.ASGITransport(app=app, client=("10.0.0.3", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await _token(http, client_id, partner.secret)).status_code == 200


async def test_failed_client_authentications_are_limited_per_source_address(
    app: FastAPI, partner: Partner, factory: Factory, argon2_calls: list[str]
) -> None:
    transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        for n in range(2):
            response = await _token(http, f"acx_guess{n}", "acs_guess")
            assert response.status_code == 401
        # A different client id, a spoofed X-Forwarded-For: still this address.
        response = await http.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            auth=_basic("acx_guess9", "acs_guess"),
            headers={"X-Forwarded-For": "198.51.100.1"},
        )
        _rate_limited(response)
        _rate_limited(await _token(http, partner.client.client_id, partner.secret))
        assert len(argon2_calls) == 2
    other = httpx.ASGITransport(app=app, client=("192.0.2.8", 1234))
    async with httpx.AsyncClient(transport=other, base_url="http://t") as http:
        assert (await _token(http, partner.client.client_id, partner.secret)).status_code == 200


async def test_successful_authentications_do_not_count(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    for _ in range(4):
        response = await _token(client, partner.client.client_id, partner.secret)
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("rate_limit", "lots"),
        ("rate_limit", "0/minute"),
        ("token_failure_limit", "1/s;2/m"),
        ("redis_url", "memcached://127.0.0.1"),
    ],
)
def test_rate_limit_settings_are_validated(name: str, value: str) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({name: value})


def _redis_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture
async def redis_limiters(app: FastAPI) -> AsyncIterator[list[RateLimiter]]:
    if not _redis_answers():
        pytest.skip("no Redis answering on 127.0.0.1:6379 (AFTERCARE_REDIS_URL tests need one)")
    prefix = f"aftercare-test-{uuid.uuid4().hex}"  # the Redis may be shared: own keys only
    limiters = [
        RateLimiter(
            request_limit="3/minute",
            failure_limit="2/minute",
            redis_url=REDIS_URL,
            key_prefix=prefix,
        )
        for _ in range(2)
    ]
    try:
        yield limiters
    finally:
        for limiter in limiters:
            await limiter.close()


async def test_redis_counters_are_shared_between_replicas(
    app: FastAPI, settings: Settings, factory: Factory, redis_limiters: list[RateLimiter]
) -> None:
    from app.main import create_app

    partner = await factory.partner()
    replica = create_app(settings, database=factory.database, keyring=factory.ctx.keyring)
    app.state.ctx.rate_limits, replica.state.ctx.rate_limits = redis_limiters
    assert redis_limiters[0].shared
    remaining = []
    for target in (app, replica, app):
        transport = httpx.ASGITransport(app=target)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.get(ME, headers=partner.headers)
            assert response.status_code == 200
            remaining.append(_remaining(response))
    assert remaining == [2, 1, 0]
    transport = httpx.ASGITransport(app=replica)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert_problem(await http.get(ME, headers=partner.headers), 429, "rate_limited")


async def test_redis_down_fails_open_with_a_warning(
    client: httpx.AsyncClient, app: FastAPI, partner: Partner
) -> None:
    down = RateLimiter(
        request_limit="1/minute", failure_limit="1/minute", redis_url="redis://127.0.0.1:9/0"
    )
    app.state.ctx.rate_limits = down
    try:
        before = LOG_STREAM.tell()
        for _ in range(3):
            response = await client.get(ME, headers=partner.headers)
            assert response.status_code == 200
            assert "ratelimit" not in response.headers
        for _ in range(3):
            assert (await _token(client, partner.client.client_id, "acs_wrong")).status_code == 401
        LOG_STREAM.seek(before)
        logged = LOG_STREAM.read()
        LOG_STREAM.seek(0, 2)
        assert logged.count("rate_limit_storage_unavailable") == 1  # not once per request
    finally:
        await down.close()


async def test_behind_a_trusted_proxy_the_forwarded_address_is_limited(
    settings: Settings, factory: Factory, partner: Partner
) -> None:
    from app.main import create_app

    behind = settings.model_copy(update={"trusted_proxies": "127.0.0.1"})
    app = create_app(behind, database=factory.database, keyring=factory.ctx.keyring)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:

        async def attempt(forwarded: str, client_id: str, secret: str) -> httpx.Response:
            return await http.post(
                TOKEN,
                data={"grant_type": "client_credentials"},
                auth=_basic(client_id, secret),
                headers={"X-Forwarded-For": forwarded},
            )

        for n in range(2):
            assert (await attempt("198.51.100.1", f"acx_guess{n}", "acs_x")).status_code == 401
        _rate_limited(await attempt("198.51.100.1", "acx_guess9", "acs_x"))
        # Another caller behind the same proxy is not locked out.
        ok = await attempt("198.51.100.2", partner.client.client_id, partner.secret)
        assert ok.status_code == 200


def test_trusted_proxies_setting_is_validated() -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({"trusted_proxies": "10.0.0.0/8, not-an-address"})
    assert Settings.model_validate({"trusted_proxies": "10.0.0.0/8, ::1"}).trusted_proxy_networks
