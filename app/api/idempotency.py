"""``Idempotency-Key`` for creating POSTs, as a dependency endpoints call explicitly:

async def create_x(..., idem: Idempotent):
    if (replay := await idem.replay()) is not None:
        return replay
    ...
    return await idem.respond(201, model, headers={"Location": ...})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Request
from pydantic import BaseModel
from starlette.responses import Response

from app.api.context import AppContext
from app.api.deps import AnyPrincipal, DbSession
from app.db.database import Session
from app.domain.audit import AuditTrail
from app.domain.idempotency import IdempotencyService, StoredResponse, check_key, fingerprint
from app.domain.principal import Principal


class IdempotentRequest:
    def __init__(
        self,
        request: Request,
        session: Session,
        principal: Principal,
        key: str | None,
        ctx: AppContext,
    ) -> None:
        self._request = request
        self._session = session
        self._principal = principal
        self._key = check_key(key) if key is not None else None
        self._service = IdempotencyService(
            session, ctx.key_wrapper, ttl_hours=ctx.settings.idempotency_ttl_hours
        )
        self._hash = b""

    async def replay(self) -> Response | None:
        if self._key is None:
            return None
        body = await self._request.body()
        self._hash = fingerprint(self._request.method, self._request.url.path, body)
        stored = await self._service.claim(self._principal.client_id, self._key, self._hash)
        if stored is None:
            return None
        if stored.case_id is not None:
            # The replayed body shows the case again: that is a read like any other.
            await AuditTrail(self._session).record(
                self._principal, "idempotent.replay", [stored.case_id]
            )
        return Response(
            stored.body,
            status_code=stored.status,
            headers={**stored.headers, "Idempotent-Replayed": "true"},
            media_type="application/json",
        )

    async def respond(
        self,
        status: int,
        model: BaseModel,
        headers: Mapping[str, str] | None = None,
        *,
        exclude_unset: bool = False,
        case_id: UUID | None = None,
    ) -> Response:
        body = model.__pydantic_serializer__.to_json(model, exclude_unset=exclude_unset)
        headers = dict(headers or {})
        if self._key is not None:
            await self._service.store(
                self._principal.client_id,
                self._key,
                method=self._request.method,
                path=self._request.url.path,
                request_hash=self._hash,
                response=StoredResponse(status=status, headers=headers, body=body, case_id=case_id),
            )
        return Response(body, status_code=status, headers=headers, media_type="application/json")


async def _idempotent(
    request: Request,
    session: DbSession,
    principal: AnyPrincipal,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Makes the create safe to retry: the same key and body replay the "
            "first response; keys are scoped to your client",
        ),
    ] = None,
) -> IdempotentRequest:
    ctx: AppContext = request.app.state.ctx
    return IdempotentRequest(request, session, principal, idempotency_key, ctx)


Idempotent = Annotated[IdempotentRequest, Depends(_idempotent)]
