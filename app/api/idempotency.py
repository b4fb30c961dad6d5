"""``Idempotency-Key`` for creating POSTs. An endpoint declared with ``routes.create``
(:mod:`app.api.routes`) gets it by its kind: it returns what it made, and the kind answers
through :meth:`IdempotentRequest.create`::

    @routes.create("/v1/x", XOut)
    async def create_x(body: XIn, ctx: XWriteCtx) -> Created:
        \"\"\"Make an x\"\"\"
        row = await XService(ctx).create(...)
        return Created(XOut.of(row), location=f"/v1/x/{row.id}", case_id=row.case_id)

The endpoint runs only when the request is not a retry; a retry gets the stored response (with
``Idempotent-Replayed: true``), a concurrent one 409 ``idempotency_in_flight``, a retry with
another body 422 ``idempotency_key_reused``. Without the header the work simply runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Request
from pydantic import BaseModel
from starlette.responses import Response

from app.api.context import AppContext
from app.api.responses import version_tag
from app.domain.cases import CaseService
from app.domain.context import RequestContext
from app.domain.errors import ValidationFailed
from app.domain.idempotency import IdempotencyService, StoredResponse, check_key, fingerprint

Rerender = Callable[[UUID], Awaitable[bytes]]
# Reads what a retry's first request made (its case, its id) as any read of it would: the read's
# own rules (404 when the caller may no longer see it) and its own audit row.
Again = Callable[[UUID, UUID], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Created:
    """What a creating endpoint made: the response body and how the response is filed."""

    body: BaseModel
    location: str | None = None
    # The case the resource belongs to: a replay is audited as a read of it (or re-rendered),
    # and erasing the case forgets the stored response.
    case_id: UUID | None = None
    # Sent after Location, and after the body's ETag when it is a versioned resource
    # (app.api.responses.version_tag), which they may replace.
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def in_case(
        cls,
        case_id: UUID,
        kind: str,
        item_id: UUID,
        body: BaseModel,
    ) -> Created:
        """An item of a case's ``kind`` list, at ``/v1/cases/{case_id}/{kind}/{item_id}``."""
        return cls(body, location=f"/v1/cases/{case_id}/{kind}/{item_id}", case_id=case_id)


def _made_id(stored: StoredResponse) -> UUID | None:
    """The id of what the first request made: the last segment of its ``Location`` (None
    without one: the replay then checks the case, as for any other create)."""
    try:
        return UUID(stored.headers["Location"].rsplit("/", 1)[-1])
    except (KeyError, ValueError):
        return None


class IdempotentRequest:
    """The ``Idempotency-Key`` of a creating request; :meth:`create` runs the work for the
    caller's :class:`RequestContext` (the endpoint's own, so the caller is authenticated once)."""

    def __init__(self, request: Request, key: str | None, ttl_hours: int) -> None:
        self._request = request
        self._key = check_key(key) if key is not None else None
        self._ttl_hours = ttl_hours
        self._hash = b""

    async def create(
        self,
        ctx: RequestContext,
        create: Callable[[], Awaitable[Created]],
        *,
        status: int = 201,
        rerender: Rerender | None = None,
        again: Again | None = None,
    ) -> Response:
        """Replay the stored response of a retry, or run ``create`` and store its response.

        With ``rerender`` (resources that hold survivor data) no body is stored: a replay renders
        the resource afresh through the access policy; with ``again`` a replay first reads what
        was made (see :meth:`_replay`)."""
        service = IdempotencyService(ctx.session, ctx.key_wrapper, ttl_hours=self._ttl_hours)
        if (replayed := await self._replay(ctx, service, rerender, again)) is not None:
            return replayed
        made = await create()
        headers = {"Location": made.location} if made.location is not None else {}
        headers.update({**version_tag(made.body), **made.headers})
        return await self._respond(
            ctx,
            service,
            status,
            made.body,
            headers,
            case_id=made.case_id,
            rerendered=rerender is not None,
        )

    # The two halves of :meth:`create`.
    async def _replay(
        self,
        ctx: RequestContext,
        service: IdempotencyService,
        rerender: Rerender | None = None,
        again: Again | None = None,
    ) -> Response | None:
        """The stored response when this is a retry. With ``rerender`` (resources that hold
        survivor data) the body is rendered afresh through the access policy, so a replay never
        shows more than the caller may see now, and is audited as the read it is. With ``again``
        the stored body is answered only when the caller may still read what was made (a goal in
        a category whose consent was revoked since is 404, as its ``GET`` and GraphQL's retry
        are), and the replay is audited as that read (in its category where the read names
        one)."""
        if self._key is None:
            return None
        body = await self._request.body()
        self._hash = fingerprint(self._request.method, self._request.url.path, body)
        stored = await service.claim(ctx.principal.client_id, self._key, self._hash)
        if stored is None:
            return None
        if rerender is not None and stored.case_id is not None:
            content = await rerender(stored.case_id)
        elif again is not None and stored.case_id is not None and (made := _made_id(stored)):
            await again(stored.case_id, made)
            content = stored.readable()
        elif stored.case_id is not None:
            # A replay shows what the caller made in the case: it must still see the case, or
            # the answer is the 404 of any read (a former care-team member, a lead that handed
            # the case over, would otherwise learn that it still exists). Then an answer erased
            # with the survivor's identity is refused (409), never made again.
            await CaseService(ctx).load(stored.case_id)
            content = stored.readable()
            await ctx.audit.record(ctx.principal, "idempotent.replay", [stored.case_id])
        else:
            content = stored.readable()
        return Response(
            content,
            status_code=stored.status,
            headers={**stored.headers, "Idempotent-Replayed": "true"},
            media_type="application/json",
        )

    async def _respond(
        self,
        ctx: RequestContext,
        service: IdempotencyService,
        status: int,
        model: BaseModel,
        headers: Mapping[str, str] | None = None,
        *,
        case_id: UUID | None = None,
        rerendered: bool = False,
    ) -> Response:
        # As every answer (app.api.responses): a field not set is one the caller may not see.
        body = model.__pydantic_serializer__.to_json(model, exclude_unset=True)
        stored_body = b"" if rerendered else body
        headers = dict(headers or {})
        if self._key is not None:
            await service.store(
                ctx.principal.client_id,
                self._key,
                method=self._request.method,
                path=self._request.url.path,
                request_hash=self._hash,
                response=StoredResponse(
                    status=status, headers=headers, body=stored_body, case_id=case_id
                ),
            )
        return Response(body, status_code=status, headers=headers, media_type="application/json")


async def _idempotent(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Makes the create safe to retry: the same key and body replay the "
            "first response; keys are scoped to your client",
        ),
    ] = None,
) -> IdempotentRequest:
    if len(request.headers.getlist("idempotency-key")) > 1:
        # Which one would a proxy, a retry or a log keep? One request, one key.
        raise ValidationFailed("Send one Idempotency-Key", loc=["Idempotency-Key"], where="header")
    app: AppContext = request.app.state.ctx
    return IdempotentRequest(request, idempotency_key, app.settings.idempotency_ttl_hours)


Idempotent = Annotated[IdempotentRequest, Depends(_idempotent)]
