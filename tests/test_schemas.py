"""Committed artefacts stay true: the OpenAPI document and the migrations."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, Index, Table
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from app.db.database import asyncpg_dsn, sqlalchemy_url
from app.db.migrations import downgrade, head_revision, upgrade
from app.db.tables import metadata
from app.schema_export import GRAPHQL_PATH, OPENAPI_PATH, render_graphql, render_openapi
from tests.conftest import with_database


def test_openapi_json_is_current() -> None:
    assert OPENAPI_PATH.read_bytes() == render_openapi(), (
        "openapi/openapi.json is stale: run `make schema` and commit the result"
    )


def test_schema_graphql_is_current() -> None:
    assert GRAPHQL_PATH.read_bytes() == render_graphql(), (
        "openapi/schema.graphql is stale: run `make schema` and commit the result"
    )


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


async def _model_diff(url: str) -> list[object]:
    engine = create_async_engine(sqlalchemy_url(url), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await engine.dispose()


async def test_migrations_match_the_models(database_url: str) -> None:
    """The equivalent of `alembic check`: migrating to head leaves nothing to autogenerate."""
    assert await _model_diff(database_url) == []


@pytest.fixture
async def empty_database(server_url: str, admin: asyncpg.Connection) -> AsyncIterator[str]:
    name = f"act_{os.getpid()}_stairway"
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    yield with_database(server_url, name)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_stairway_every_migration_downgrades_and_upgrades(empty_database: str) -> None:
    from alembic.script import ScriptDirectory

    from app.db.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config(empty_database))
    revisions = list(reversed(list(script.walk_revisions())))
    for revision in revisions:
        await asyncio.to_thread(upgrade, empty_database, revision.revision)
        await asyncio.to_thread(downgrade, empty_database, str(revision.down_revision or "base"))
        await asyncio.to_thread(upgrade, empty_database, revision.revision)
    assert revisions[-1].revision == head_revision()
    assert await _model_diff(empty_database) == []


def _options(options: list[str] | None) -> dict[str, str]:
    return dict(option.split("=", 1) for option in options or [])


async def test_storage_options_of_the_models_are_migrated(database_url: str) -> None:
    """What autogenerate does not compare: each table's and index's storage options
    (``postgresql_with``) in the models are those of the migrated database."""
    expected: dict[str, dict[str, str]] = {}
    for table in metadata.tables.values():
        elements: list[Table | Index] = [table, *table.indexes]
        for element in elements:
            options = element.dialect_options["postgresql"]["with"] or {}
            expected[str(element.name)] = {
                name: (str(value).lower() if isinstance(value, bool) else str(value))
                for name, value in options.items()
            }
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await conn.fetch(
            "SELECT c.relname, c.reloptions FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')"
        )
    finally:
        await conn.close()
    found = {r["relname"]: _options(r["reloptions"]) for r in rows}
    assert {name: found.get(name) for name in expected} == expected
    assert expected["audit_log"]["autovacuum_analyze_threshold"] == "100000"
