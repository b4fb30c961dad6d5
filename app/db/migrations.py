"""Applying and checking Alembic migrations from code (CLI, readiness, tests)."""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory

from alembic import command

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str, key_wrapper: Any = None) -> Config:
    """``key_wrapper`` (an ``app.domain.crypto.KeyWrapper``) is what data steps encrypt with;
    without one they read the keys from the settings."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.attributes["url"] = url
    cfg.attributes["skip_logging_config"] = True
    if key_wrapper is not None:
        cfg.attributes["key_wrapper"] = key_wrapper
    return cfg


@cache
def head_revision() -> str:
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused"))
    head = script.get_current_head()
    if head is None:  # pragma: no cover - the project always ships migrations
        raise RuntimeError("no Alembic head revision")
    return head


def upgrade(url: str, revision: str = "head", key_wrapper: Any = None) -> None:
    command.upgrade(alembic_config(url, key_wrapper), revision)


def downgrade(url: str, revision: str, key_wrapper: Any = None) -> None:
    command.downgrade(alembic_config(url, key_wrapper), revision)


def current_revision(url: str) -> str | None:
    """The revision the database is at (None when it has never been migrated)."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    from app.db.database import sqlalchemy_url

    async def read() -> str | None:
        engine = create_async_engine(sqlalchemy_url(url), poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())


async def upgrade_async(url: str, revision: str = "head") -> None:
    # env.py runs its own event loop, so it must run outside the caller's.
    await asyncio.to_thread(upgrade, url, revision)
