"""Request dependencies, each exposed as an ``Annotated`` alias.

``DbSession`` is the request's unit of work: committed after the endpoint returns and before the
response is sent, rolled back on any error. ``require_scopes(...)`` authenticates the bearer token
(and spends one unit of the client's rate limit, see :mod:`app.api.rate_limits`) and checks
scopes; aliases such as ``DirectoryWrite`` name the common combinations.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import OAuth2
from fastapi.security.utils import get_authorization_scheme_param

from app.api.context import AppContext
from app.db.database import Session
from app.domain.errors import InsufficientScope, InvalidToken, RateLimited
from app.domain.principal import Principal
from app.domain.scopes import SCOPES

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Context = Annotated[AppContext, Depends(get_context)]


async def _db_session(request: Request) -> AsyncIterator[Session]:
    ctx: AppContext = request.app.state.ctx
    session = ctx.db.session(transactional=request.method not in _READ_METHODS)
    try:
        yield session
    except BaseException:
        await session.rollback()
        raise
    else:
        await session.commit()
    finally:
        await session.close()


DbSession = Annotated[Session, Depends(_db_session, scope="function")]


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
        authorization = request.headers.get("Authorization")
        if not authorization:
            return None
        scheme, token = get_authorization_scheme_param(authorization)
        if scheme.lower() != "bearer" or not token:
            raise InvalidToken("Authorization must be a Bearer token")
        return token


bearer_token = _BearerToken()


async def _authenticate(
    request: Request, session: DbSession, token: Annotated[str | None, Depends(bearer_token)]
) -> Principal:
    return await authenticate(request, session, token)


async def authenticate(request: Request, session: Session, token: str | None) -> Principal:
    """The one way a request's bearer token becomes a :class:`Principal` (REST and GraphQL)."""
    if token is None:
        raise InvalidToken("Missing bearer token")
    ctx: AppContext = request.app.state.ctx
    tokens = ctx.tokens(session)
    principal = tokens.verify(token)
    # The per-client limit: after the signature check (the client id is ours), before the
    # database is asked anything.
    quota = await ctx.rate_limits.hit_client(principal.client_id)
    if quota is not None:
        add_response_headers(request, quota.headers)
        if not quota.allowed:
            raise RateLimited(
                "Too many requests for this client; retry later", retry_after=quota.reset
            )
    principal = await tokens.check_status(principal)
    principal = replace(principal, request_id=request.scope.get("state", {}).get("request_id"))
    structlog.contextvars.bind_contextvars(
        client_id=principal.client_id, org_id=str(principal.org_id)
    )
    return principal


def add_response_headers(request: Request, headers: list[tuple[bytes, bytes]]) -> None:
    """Headers for whatever response this request ends with (success or problem); sent by
    :class:`app.api.middleware.RequestContextMiddleware`."""
    request.scope.setdefault("state", {}).setdefault("response_headers", []).extend(headers)


class _ScopeCheck:
    def __init__(self, scopes: tuple[str, ...]) -> None:
        self.scopes = scopes

    async def __call__(self, principal: Annotated[Principal, Depends(_authenticate)]) -> Principal:
        missing = principal.missing_scopes(self.scopes)
        if missing:
            raise InsufficientScope(missing)
        return principal


def require_scopes(*scopes: str) -> Any:
    """``Annotated[Principal, …]`` for a token holding every scope in ``scopes``."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:  # a typo here would silently lock an endpoint
        raise ValueError(f"unknown scopes {unknown}")
    return Annotated[Principal, Security(_ScopeCheck(scopes), scopes=list(scopes))]


AnyPrincipal = require_scopes()
DirectoryWrite = require_scopes("directory:write")
CasesRead = require_scopes("cases:read")
CasesWrite = require_scopes("cases:write")
ConsentsWrite = require_scopes("consents:write")
AuditRead = require_scopes("audit:read")
ReferralsRead = require_scopes("referrals:read")
ReferralsWrite = require_scopes("referrals:write")
LegalRead = require_scopes("legal:read")
LegalWrite = require_scopes("legal:write")
PlacementsRead = require_scopes("placements:read")
PlacementsWrite = require_scopes("placements:write")
