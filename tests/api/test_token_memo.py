"""The token memo with its listener running (as `aftercare serve` runs it): a token found in
order is not looked up again for ``AFTERCARE_TOKEN_STATUS_SECONDS``, and a revocation or a
disabled client still takes effect at once, in this process and (through PostgreSQL's
notifications) in every other. The other tests run without the listener: every request asks the
database, as the memo does whenever it cannot hear the notifications."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.db.database import Database, asyncpg_dsn
from app.domain.tokens import TokenStatuses
from tests.factories import Factory, Partner
from tests.helpers import StatementCounter

ME = "/v1/organizations/me"
# Long enough that only a notification can explain a token refused within the test.
MEMO_SECONDS = 30.0


def token_checks(counter: StatementCounter) -> int:
    return sum("revoked_tokens" in sql for sql in counter.statements)


@pytest.fixture
async def listening(app: FastAPI) -> FastAPI:
    ctx = app.state.ctx
    ctx.token_statuses.seconds = MEMO_SECONDS
    await ctx.listen_for_tokens()  # closed with the app (the app fixture's ctx.close())
    assert ctx.token_statuses.listening()
    return app


@pytest.fixture
async def elsewhere(database: Database) -> AsyncIterator[asyncpg.Connection]:
    """A connection of another process: an operator's SQL, or `aftercare client disable`."""
    conn = await asyncpg.connect(asyncpg_dsn(database.dsn))
    try:
        yield conn
    finally:
        await conn.close()


async def read_me(client: httpx.AsyncClient, who: Partner) -> int:
    return (await client.get(ME, headers=who.headers)).status_code


async def refused_within(client: httpx.AsyncClient, who: Partner, seconds: float) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await read_me(client, who) == 401:
            return True
        await asyncio.sleep(0.02)
    return False


async def listening_becomes(statuses: TokenStatuses, want: bool, seconds: float) -> bool:
    """Whether the memo's ``listening()`` is ``want`` within ``seconds`` (polled)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if statuses.listening() == want:
            return True
        await asyncio.sleep(0.01)
    return statuses.listening() == want


async def test_a_token_is_looked_up_once_then_remembered(
    listening: FastAPI, client: httpx.AsyncClient, partner: Partner, database: Database
) -> None:
    counter = StatementCounter()
    database.statement_hook = counter
    assert await read_me(client, partner) == 200
    assert token_checks(counter) == 1
    counter.reset()
    for _ in range(3):
        assert await read_me(client, partner) == 200
    assert token_checks(counter) == 0
    assert counter.count == 3  # the organisation, nothing else


async def test_revoked_through_the_api_is_refused_by_the_next_request(
    listening: FastAPI, client: httpx.AsyncClient, partner: Partner
) -> None:
    assert await read_me(client, partner) == 200  # remembered
    auth = (partner.client.client_id, partner.secret)
    response = await client.post("/oauth/revoke", data={"token": partner.token}, auth=auth)
    assert response.status_code == 200
    response = await client.get(ME, headers=partner.headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "token revoked"


async def test_a_change_made_elsewhere_is_heard(
    listening: FastAPI,
    client: httpx.AsyncClient,
    partner: Partner,
    factory: Factory,
    database: Database,
    elsewhere: asyncpg.Connection,
) -> None:
    # What `aftercare client disable` (another process) or an operator's SQL does.
    other = await factory.partner()
    other_jti = (
        listening.state.ctx.tokens(database.session(transactional=False)).verify(other.token).jti
    )
    assert await read_me(client, partner) == 200 and await read_me(client, other) == 200
    await elsewhere.execute(
        "UPDATE oauth_clients SET disabled_at = now() WHERE client_id = $1",
        partner.client.client_id,
    )
    assert await refused_within(client, partner, 2.0)
    assert await read_me(client, other) == 200  # forgotten too, found in order again

    # A revocation recorded by another process.
    await elsewhere.execute(
        "INSERT INTO revoked_tokens (jti, client_id, expires_at) "
        "VALUES ($1, $2, now() + interval '1 hour')",
        other_jti,
        other.client.client_id,
    )
    assert await refused_within(client, other, 2.0)


async def test_without_the_listener_every_request_asks_the_database(
    listening: FastAPI,
    client: httpx.AsyncClient,
    partner: Partner,
    database: Database,
    elsewhere: asyncpg.Connection,
) -> None:
    ctx = listening.state.ctx
    assert await read_me(client, partner) == 200  # remembered
    # The listening connection dies (a restart of PostgreSQL, a network cut).
    await elsewhere.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'aftercare-listener' AND datname = current_database()"
    )
    await listening_becomes(ctx.token_statuses, False, 1)
    counter = StatementCounter()
    database.statement_hook = counter
    assert await read_me(client, partner) == 200
    assert await read_me(client, partner) == 200
    assert token_checks(counter) == 2
    # It listens again within a second or so, and remembers again.
    assert await listening_becomes(ctx.token_statuses, True, 3)
    counter.reset()
    assert await read_me(client, partner) == 200
    assert await read_me(client, partner) == 200
    assert token_checks(counter) == 1


async def test_a_truncate_is_heard(
    listening: FastAPI,
    client: httpx.AsyncClient,
    partner: Partner,
    database: Database,
    elsewhere: asyncpg.Connection,
) -> None:
    assert await read_me(client, partner) == 200  # remembered
    await elsewhere.execute("TRUNCATE revoked_tokens")
    counter = StatementCounter()
    database.statement_hook = counter
    for _ in range(100):
        counter.reset()
        assert await read_me(client, partner) == 200
        if token_checks(counter):
            break  # forgotten: looked up again
        await asyncio.sleep(0.01)
    assert token_checks(counter) == 1


async def test_without_the_triggers_the_memo_stays_off(
    app: FastAPI,
    client: httpx.AsyncClient,
    partner: Partner,
    database: Database,
    elsewhere: asyncpg.Connection,
) -> None:
    # A database the triggers are missing from or disabled in (a half-applied upgrade, a
    # restore with triggers off) would never tell a process of a revocation.
    await elsewhere.execute(
        "ALTER TABLE revoked_tokens DISABLE TRIGGER revoked_tokens_tokens_changed"
    )
    ctx = app.state.ctx
    ctx.token_statuses.seconds = MEMO_SECONDS
    await ctx.listen_for_tokens()
    assert not ctx.token_statuses.listening()
    counter = StatementCounter()
    database.statement_hook = counter
    for _ in range(2):
        assert await read_me(client, partner) == 200
    assert token_checks(counter) == 2


async def test_triggers_disabled_while_listening_turn_the_memo_off_within_seconds(
    listening: FastAPI,
    client: httpx.AsyncClient,
    partner: Partner,
    database: Database,
    elsewhere: asyncpg.Connection,
) -> None:
    ctx = listening.state.ctx
    assert await read_me(client, partner) == 200  # remembered
    await elsewhere.execute(
        "ALTER TABLE oauth_clients DISABLE TRIGGER oauth_clients_tokens_changed"
    )
    assert await listening_becomes(
        ctx.token_statuses, False, 3
    )  # asked each second by the listener
    counter = StatementCounter()
    database.statement_hook = counter
    for _ in range(2):
        assert await read_me(client, partner) == 200
    assert token_checks(counter) == 2  # forgotten, and not remembered again
    await elsewhere.execute("ALTER TABLE oauth_clients ENABLE TRIGGER oauth_clients_tokens_changed")
    assert await listening_becomes(ctx.token_statuses, True, 3)
    counter.reset()
    for _ in range(2):
        assert await read_me(client, partner) == 200
    assert token_checks(counter) == 1  # looked up afresh once, then remembered again


async def test_a_listening_connection_that_stops_answering_is_given_up(
    listening: FastAPI,
    client: httpx.AsyncClient,
    partner: Partner,
    database: Database,
    elsewhere: asyncpg.Connection,
) -> None:
    # A connection that hangs without closing (a dead peer, a cut network) hears nothing while
    # it looks open. Here the listener's check hangs behind a lock on the catalog it reads.
    ctx = listening.state.ctx
    assert await read_me(client, partner) == 200  # remembered
    async with elsewhere.transaction():
        await elsewhere.execute("LOCK TABLE pg_trigger IN ACCESS EXCLUSIVE MODE")
        assert await listening_becomes(
            ctx.token_statuses, False, 4
        )  # asked each second, given up after a second without answer
    counter = StatementCounter()
    database.statement_hook = counter
    assert await read_me(client, partner) == 200
    assert token_checks(counter) == 1  # forgotten: looked up again
    assert await listening_becomes(
        ctx.token_statuses, True, 4
    )  # and it listens again once the catalog answers
