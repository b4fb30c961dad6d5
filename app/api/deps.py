"""Request dependencies, each exposed as an ``Annotated`` alias.

``DbSession`` is the request's unit of work: committed after the endpoint returns and before the
response is sent, rolled back on any error. ``require_scopes(...)`` is the caller's
:class:`~app.domain.context.RequestContext`, built once per request by :func:`request_context`:
it authenticates the bearer token (and spends one unit of the client's rate limit, see
:mod:`app.api.rate_limits`), checks scopes and binds the caller to the unit of work; aliases
such as ``CasesWriteCtx`` name the common scope sets. Endpoints take one of them
(``ctx: CasesWriteCtx``) and build services from it (``CaseService(ctx)``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

import structlog
from fastapi import Depends, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2
from fastapi.security.utils import get_authorization_scheme_param

from app.api.context import AppContext
from app.db.database import Session
from app.domain.context import RequestContext
from app.domain.errors import InsufficientScope, InvalidToken, RateLimited
from app.domain.principal import Principal
from app.domain.scopes import SCOPES

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
T = TypeVar("T")


async def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Context = Annotated[AppContext, Depends(get_context)]


class UnitOfWork:
    """A dependency yielding the request's session: committed after the endpoint returns and
    before the response is sent, rolled back on any error. REST and GraphQL differ only in the
    session they open (``open_session``)."""

    def __init__(self, open_session: Callable[[Request], Session]) -> None:
        self.open_session = open_session

    async def __call__(self, request: Request) -> AsyncIterator[Session]:
        session = self.open_session(request)
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
        finally:
            await session.close()

    async def run(self, request: Request, work: Callable[[Session], Awaitable[T]]) -> T:
        """``work(session)`` inside the request's unit of work: the same commit/rollback/close as
        the dependency, for a caller that does not go through FastAPI's dependency solver (the
        lean route path, :mod:`app.api.lean`)."""
        session = self.open_session(request)
        try:
            result = await work(session)
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
        finally:
            await session.close()
        return result


def _rest_session(request: Request) -> Session:
    app: AppContext = request.app.state.ctx
    return app.db.session(transactional=request.method not in _READ_METHODS)


DbSession = Annotated[Session, Depends(UnitOfWork(_rest_session), scope="function")]


class _BearerToken(OAuth2):
    """Bearer token from the Authorization header; documents the client-credentials flow."""

    def __init__(self) -> None:
        super().__init__(
            flows=OAuthFlows(
                clientCredentials=OAuthFlowClientCredentials(
                    tokenUrl="/oauth/token", scopes=dict(SCOPES)
                )
            ),
            scheme_name="OAuth2ClientCredentials",
            auto_error=False,
        )

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return bearer_token_of(request)


def bearer_token_of(request: Request) -> str | None:
    """The request's bearer token, ``None`` without an ``Authorization`` header."""
    authorization = request.headers.get("Authorization")
    if not authorization:
        return None
    scheme, token = get_authorization_scheme_param(authorization)
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("Authorization must be a Bearer token")
    return token


bearer_token = _BearerToken()


_ADMITTED = "admitted_principal"


async def admit(request: Request, token: str | None) -> Principal:
    """What a bearer token tells without the database, once per request: its signature and
    claims (401), then the per-client limit (429; after the signature check, so the client id
    is ours). A route with a JSON body runs this before reading the body
    (:mod:`app.api.json_body`), so nobody gets a body parsed without a valid token and a unit of
    the limit; :func:`authenticate` then finds it done."""
    state = request.scope.setdefault("state", {})
    admitted: Principal | None = state.get(_ADMITTED)
    if admitted is not None:
        return admitted
    if token is None:
        raise InvalidToken("Missing bearer token")
    ctx: AppContext = request.app.state.ctx
    principal = ctx.verify_token(token)
    quota = await ctx.rate_limits.hit_client(principal.client_id)
    if quota is not None:
        add_response_headers(request, quota.headers)
        if not quota.allowed:
            raise RateLimited(
                "Too many requests for this client; retry later", retry_after=quota.reset
            )
    state[_ADMITTED] = principal
    return principal


async def authenticate(request: Request, session: Session, token: str | None) -> Principal:
    """The one way a request's bearer token becomes a :class:`Principal` (REST and GraphQL):
    :func:`admit`, then the database's word on the client and the token (revoked, disabled)."""
    principal = await admit(request, token)
    ctx: AppContext = request.app.state.ctx
    principal = await ctx.tokens(session).check_status(principal)
    principal = principal.in_request(request.scope.get("state", {}).get("request_id"))
    structlog.contextvars.bind_contextvars(
        client_id=principal.client_id, org_id=str(principal.org_id)
    )
    return principal


def add_response_headers(request: Request, headers: list[tuple[bytes, bytes]]) -> None:
    """Headers for whatever response this request ends with (success or problem); sent by
    :class:`app.api.middleware.ApiMiddleware`."""
    request.scope.setdefault("state", {}).setdefault("response_headers", []).extend(headers)


async def request_context(
    request: Request, session: Session, token: str | None, scopes: tuple[str, ...] = ()
) -> RequestContext:
    """The one :class:`RequestContext` of a request (REST and GraphQL): the bearer token
    authenticated, ``scopes`` checked, the caller bound to its unit of work."""
    principal = await authenticate(request, session, token)
    missing = principal.missing_scopes(scopes)
    if missing:
        raise InsufficientScope(missing)
    if request.scope.get("query_string"):
        _refuse_unknown_query(request)
    app: AppContext = request.app.state.ctx
    return RequestContext(
        session,
        principal,
        app.key_wrapper,
        max_details_bytes=app.settings.max_details_bytes,
        report_min_cell=app.settings.report_min_cell_size,
        access_memo=app.access_memo,
    )


def _refuse_unknown_query(request: Request) -> None:
    """422 for a query parameter the route does not take (``?stauts=open`` would otherwise list
    every case, and ``cursor`` on the event feed, which pages with ``after``, the first page
    again): as a body's unknown field is. Checked after the caller is known and allowed, so a
    caller without a token still gets 401 first."""
    taken: frozenset[str] | None = getattr(request.scope.get("route"), "query_names", None)
    if taken is None:
        return
    unknown = sorted(set(request.query_params.keys()) - taken)
    if unknown:
        takes = ", ".join(sorted(taken)) or "none"
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": f"Unknown query parameter; this operation takes: {takes}",
                }
                for name in unknown
            ]
        )


_rest_unit_of_work = UnitOfWork(_rest_session)


class LeanDependency:
    """A dependency that can also run without FastAPI's dependency solver (the lean path,
    :mod:`app.api.lean`): :meth:`run` awaits ``endpoint(value)`` inside what the dependency's
    ``yield`` wraps (its unit of work), exactly as FastAPI would with a ``scope="function"``
    dependency."""

    async def run(self, request: Request, endpoint: Callable[[Any], Awaitable[T]]) -> T:
        raise NotImplementedError


class ContextFor(_BearerToken, LeanDependency):
    """The dependency for one scope set: the unit of work, the bearer token and the context in
    one flat dependency (no sub-dependencies for FastAPI to resolve on every request: that
    resolution was a fifth of a hot request's CPU). It is the bearer security scheme itself,
    so the OpenAPI document names the scheme and the scopes exactly as before."""

    def __init__(self, scopes: tuple[str, ...]) -> None:
        super().__init__()
        self.scopes = scopes
        self._unit_of_work = asynccontextmanager(_rest_unit_of_work.__call__)

    async def __call__(self, request: Request) -> AsyncIterator[RequestContext]:  # type: ignore[override]
        token = bearer_token_of(request)
        async with self._unit_of_work(request) as session:
            yield await request_context(request, session, token, self.scopes)

    async def refuse_early(self, request: Request) -> None:
        """The token (401), the per-client limit (429) and the scopes (403), without the
        database: what a route with a JSON body checks before it reads the body
        (:mod:`app.api.json_body`). Nothing is parsed or validated for a caller refused here."""
        principal = await admit(request, bearer_token_of(request))
        missing = principal.missing_scopes(self.scopes)
        if missing:
            raise InsufficientScope(missing)

    async def refuse_revoked(self, request: Request) -> None:
        """The database's word on a token :meth:`refuse_early` admitted (revoked, client
        disabled or moved: 401), for a request refused before its unit of work opens (a body
        not sent as JSON, or not valid): such a token is 401 on a route with a body as on any
        other, not 415 or 422. Only refusals pay this round trip."""
        principal = await admit(request, bearer_token_of(request))
        app: AppContext = request.app.state.ctx
        session = app.db.session(transactional=False)
        try:
            await app.tokens(session).check_status(principal)
        finally:
            await session.close()

    async def run(self, request: Request, endpoint: Callable[[RequestContext], Awaitable[T]]) -> T:
        """``endpoint(ctx)`` with this dependency's context, as FastAPI would run it (token read,
        unit of work opened, caller authenticated and scopes checked, committed after the
        endpoint returns): for :mod:`app.api.lean`, which calls endpoints directly."""
        token = bearer_token_of(request)

        async def work(session: Session) -> T:
            return await endpoint(await request_context(request, session, token, self.scopes))

        return await _rest_unit_of_work.run(request, work)


def require_scopes(*scopes: str) -> params.Security:
    """What builds the caller's :class:`RequestContext` for a token holding every scope in
    ``scopes``: an endpoint's ``ctx: Annotated[RequestContext, require_scopes(…)]`` (the
    aliases below)."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:  # a typo here would silently lock an endpoint
        raise ValueError(f"unknown scopes {unknown}")
    # ``scope="function"``: committed after the endpoint returns, before the response is sent.
    return params.Security(ContextFor(scopes), scopes=list(scopes), scope="function")


AnyCtx = Annotated[RequestContext, require_scopes()]
DirectoryWriteCtx = Annotated[RequestContext, require_scopes("directory:write")]
CasesReadCtx = Annotated[RequestContext, require_scopes("cases:read")]
CasesWriteCtx = Annotated[RequestContext, require_scopes("cases:write")]
ConsentsWriteCtx = Annotated[RequestContext, require_scopes("consents:write")]
AuditReadCtx = Annotated[RequestContext, require_scopes("audit:read")]
EventsReadCtx = Annotated[RequestContext, require_scopes("events:read")]
WebhooksManageCtx = Annotated[RequestContext, require_scopes("webhooks:manage")]
ReferralsReadCtx = Annotated[RequestContext, require_scopes("referrals:read")]
ReferralsWriteCtx = Annotated[RequestContext, require_scopes("referrals:write")]
LegalReadCtx = Annotated[RequestContext, require_scopes("legal:read")]
LegalWriteCtx = Annotated[RequestContext, require_scopes("legal:write")]
PlacementsReadCtx = Annotated[RequestContext, require_scopes("placements:read")]
PlacementsWriteCtx = Annotated[RequestContext, require_scopes("placements:write")]
ReportsReadCtx = Annotated[RequestContext, require_scopes("reports:read")]
