"""Liveness and readiness (no token)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from app.api.deps import Context
from app.api.problems import problem_response
from app.db.errors import DatabaseUnavailable
from app.db.migrations import head_revision
from app.db.repositories import meta

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> Response:
    return Response(orjson.dumps({"status": "ok"}), media_type="application/json")


@router.get("/readyz", summary="The database is reachable and migrated")
async def readyz(ctx: Context) -> Response:
    session = ctx.db.session(transactional=False)
    try:
        current = await meta.schema_revision(session)
    except DatabaseUnavailable:
        return problem_response(
            503, "service_unavailable", detail="database unreachable", headers={"Retry-After": "1"}
        )
    finally:
        await session.close()
    expected = head_revision()
    if current != expected:
        return problem_response(
            503, "service_unavailable", detail="database schema is not at the current migration"
        )
    return Response(
        orjson.dumps({"status": "ready", "schema": current}), media_type="application/json"
    )
