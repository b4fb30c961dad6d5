"""Turning settings into a database URL, starting the embedded PostgreSQL when none is set."""

from __future__ import annotations

import atexit

from app.db.embedded import EmbeddedPostgres
from app.settings import Settings

_embedded: dict[str, EmbeddedPostgres] = {}


def database_url_for(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    if not settings.is_development:  # pragma: no cover - Settings already refuses this
        raise RuntimeError("production requires AFTERCARE_DATABASE_URL")
    key = str(settings.embedded_pgdata)
    server = _embedded.get(key)
    if server is None:
        server = EmbeddedPostgres(settings.embedded_pgdata)
        server.start()
        _embedded[key] = server
        atexit.register(server.stop)
    return server.url()


def stop_embedded() -> None:
    while _embedded:
        _, server = _embedded.popitem()
        server.stop()
