"""Test harness: a real PostgreSQL, a schema built by the migrations, a fresh database per test.

The server is the embedded PostgreSQL (under ``.aftercare-test/``) unless
``AFTERCARE_TEST_DATABASE_URL`` names another (PostgreSQL 15+; the role must be allowed to create
databases). The migrations run once into a template database; every test gets its own copy
(``CREATE DATABASE … TEMPLATE``), so tests are isolated even when they commit or run concurrently.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import os
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest
from fastapi import FastAPI

from app.db.database import Database, asyncpg_dsn
from app.db.embedded import EmbeddedPostgres
from app.db.migrations import upgrade
from app.domain.keys import KeyRing
from app.logging import configure_logging
from app.main import create_app
from app.settings import Settings
from tests.factories import Factory

pytest_plugins = ["tests.fixtures"]

ROOT = Path(__file__).resolve().parents[1]

# Every log line of the run goes here, so tests can assert what is (not) logged.
LOG_STREAM = io.StringIO()
configure_logging("INFO", json=True, stream=LOG_STREAM)
logging.getLogger("httpx").setLevel(logging.WARNING)  # the test client, not the app
DB_PREFIX = "act"
_counter = itertools.count()


def with_database(url: str, name: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    explicit = os.environ.get("AFTERCARE_TEST_DATABASE_URL")
    if explicit:
        yield explicit
        return
    server = EmbeddedPostgres(ROOT / ".aftercare-test" / "pgdata", tuned_for_tests=True)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def admin(server_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(server_url))
    # Drop databases left behind by test runs that were killed.
    rows = await conn.fetch(
        "SELECT datname FROM pg_database WHERE datname LIKE $1", DB_PREFIX + "_%"
    )
    for row in rows:
        pid = row["datname"].split("_")[1]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            await conn.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    yield conn
    await conn.close()


@pytest.fixture(scope="session")
async def template_name(server_url: str, admin: asyncpg.Connection) -> AsyncIterator[str]:
    name = f"{DB_PREFIX}_{os.getpid()}_template"
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await asyncio.to_thread(upgrade, with_database(server_url, name))
    yield name
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database_url(
    server_url: str, admin: asyncpg.Connection, template_name: str
) -> AsyncIterator[str]:
    name = f"{DB_PREFIX}_{os.getpid()}_{next(_counter)}"
    await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"')
    yield with_database(server_url, name)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, min_size=0, max_size=10)
    await db.connect()
    yield db
    await db.close()


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def keyring(keys_dir: Path) -> KeyRing:
    return KeyRing(keys_dir, create=True)


@pytest.fixture
def settings(database_url: str, keys_dir: Path, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        keys_dir=keys_dir,
        max_body_bytes=64 * 1024,
        log_json=True,
    )


@pytest.fixture
async def app(settings: Settings, database: Database, keyring: KeyRing) -> AsyncIterator[FastAPI]:
    app = create_app(settings, database=database, keyring=keyring, configure_logs=False)
    yield app
    await app.state.ctx.close()  # the change feed's listening connection, if a test opened it


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def factory(database: Database, app: FastAPI) -> Factory:
    return Factory(database, app.state.ctx)
