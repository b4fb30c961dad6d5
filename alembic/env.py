"""Alembic environment: async engine over asyncpg, schema from ``app.db.tables``.

The URL comes from ``config.attributes["url"]`` (set by ``app.db.migrations``) or, when Alembic is
run by hand, from the settings (starting the embedded PostgreSQL if no URL is configured).
"""

from __future__ import annotations

import asyncio
import logging.config

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from alembic import context
from app.db.database import sqlalchemy_url
from app.db.tables import metadata

config = context.config
if config.config_file_name is not None and not config.attributes.get("skip_logging_config"):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = config.attributes.get("url")
    if url:
        return str(url)
    from app.db.bootstrap import database_url_for
    from app.settings import Settings

    return database_url_for(Settings())


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=metadata,
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=True,
    )


def run_offline() -> None:
    _configure(url=sqlalchemy_url(_url()))
    with context.begin_transaction():
        context.run_migrations()


def _run_sync(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_async_engine(sqlalchemy_url(_url()), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    asyncio.run(run_online())
