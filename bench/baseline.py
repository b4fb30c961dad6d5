"""The benchmark's baseline: the same SQL as the real app, on a bare Starlette + asyncpg stack.

What a request here costs is close to the floor for "HTTP in, the app's statements, JSON out" on
this runtime: no FastAPI, no pydantic, no SQLAlchemy on the request path, no middleware, no
dependency injection and no logging. It runs the very SQL texts the app's repositories compile
(imported from them, so they cannot drift) with the same parameters, on a pool built by the app's
own :class:`~app.db.database.Database` (same ``server_settings``, orjson JSON codecs, cheap reset,
sizes and timeouts, read from the same ``AFTERCARE_*`` variables as the app's settings).

It does NOT verify the bearer token: it base64-decodes the payload for ``client_id``, ``org_id``
and ``jti``. The app/baseline ratio therefore includes the app's RS256 verification as well as its
framework, validation and serialisation cost.

Run by ``bench/run.py`` as ``uvicorn bench.baseline:create_app --factory``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.db.database import Database
from app.db.repositories.clients import _TOKEN_STATUS
from app.db.repositories.organizations import _GET as _ORGANIZATION_GET

TOKEN_STATUS_SQL: str = _TOKEN_STATUS.sql
ORGANIZATION_GET_SQL: str = _ORGANIZATION_GET.sql

# Parameters are bound positionally in the order the compiled statements name them; refuse to
# start if that order changes rather than binding a jti where a client id belongs.
if _TOKEN_STATUS.names != ("jti", "client_id") or _ORGANIZATION_GET.names != ("id",):
    raise RuntimeError(
        f"parameter order changed: token_status {_TOKEN_STATUS.names}, "
        f"organizations.get {_ORGANIZATION_GET.names}; update bench/baseline.py"
    )

_JSON = "application/json"
_UNAUTHORIZED = Response(b'{"status":401}', status_code=401, media_type=_JSON)
_NOT_FOUND = Response(b'{"status":404}', status_code=404, media_type=_JSON)


def database_from_env(environ: Mapping[str, str] = os.environ) -> Database:
    """The pool the app would build from the same ``AFTERCARE_*`` variables (same defaults)."""
    return Database(
        environ["AFTERCARE_DATABASE_URL"],
        min_size=int(environ.get("AFTERCARE_DB_POOL_MIN_SIZE", "2")),
        max_size=int(environ.get("AFTERCARE_DB_POOL_MAX_SIZE", "10")),
        connect_timeout=float(environ.get("AFTERCARE_DB_CONNECT_TIMEOUT_SECONDS", "5.0")),
        acquire_timeout=float(environ.get("AFTERCARE_DB_ACQUIRE_TIMEOUT_SECONDS", "5.0")),
    )


def unverified_claims(authorization: str | None) -> dict[str, Any] | None:
    """The JWT payload of a ``Bearer`` header, decoded WITHOUT checking the signature."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1]
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:  # binascii.Error and orjson.JSONDecodeError are ValueErrors
        return None
    return claims if isinstance(claims, dict) else None


def organization_json(row: asyncpg.Record) -> bytes:
    """The app's ``OrganizationOut`` shape, straight from the row (capacity is decoded jsonb)."""
    return orjson.dumps(
        {
            "id": str(row["id"]),
            "name": row["name"],
            "kind": row["kind"],
            "country": row["country"],
            "services": row["services"],
            "languages": row["languages"],
            "regions": row["regions"],
            "populations": {
                "accepts_minors": row["accepts_minors"],
                "accepts_adults": row["accepts_adults"],
                "genders": row["genders"],
            },
            "capacity": row["capacity"],
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "version": row["version"],
        },
        option=orjson.OPT_UTC_Z,
    )


async def organizations_me(request: Request) -> Response:
    claims = unverified_claims(request.headers.get("authorization"))
    if claims is None:
        return _UNAUTHORIZED
    try:
        client_id = str(claims["client_id"])
        org_id = UUID(str(claims["org_id"]))
        jti = UUID(str(claims["jti"]))
    except (KeyError, ValueError):
        return _UNAUTHORIZED
    database: Database = request.app.state.database
    async with database.pool.acquire(timeout=database.acquire_timeout) as conn:
        status = await conn.fetchrow(TOKEN_STATUS_SQL, jti, client_id)
        if status is None or not status["client_active"] or status["revoked"]:
            return _UNAUTHORIZED
        row = await conn.fetchrow(ORGANIZATION_GET_SQL, org_id)
    if row is None:
        return _NOT_FOUND
    return Response(
        organization_json(row), media_type=_JSON, headers={"ETag": f'"{row["version"]}"'}
    )


async def healthz(request: Request) -> Response:
    return Response(b'{"status":"ok"}', media_type=_JSON)


def create_app() -> Starlette:
    database = database_from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await database.connect()
        try:
            yield
        finally:
            await database.close()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/v1/organizations/me", organizations_me),
        ],
        lifespan=lifespan,
    )
    app.state.database = database
    return app
