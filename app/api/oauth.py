"""The OAuth 2.0 authorization server (CONTRACT §2): token, revocation, introspection, JWKS and
RFC 8414 metadata. Errors here use RFC 6749 §5.2 JSON, which OAuth client libraries expect."""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Request
from fastapi import Form as FormField
from pydantic import BaseModel
from starlette.responses import Response

from app.api.context import AppContext
from app.api.deps import Context, DbSession
from app.api.schemas.oauth import IntrospectionOut, RevocationOut, TokenOut
from app.db.database import Session
from app.domain.clients import Client, ClientAuthenticationFailed, ClientService
from app.domain.scopes import SCOPES
from app.domain.tokens import OAuthError

router = APIRouter(tags=["oauth"])

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The public documents may be cached (by caches and clients) for this long.
JWKS_CACHE_CONTROL = "public, max-age=300"
METADATA_CACHE_CONTROL = "public, max-age=3600"


def _cached_for(value: str) -> dict[int | str, dict[str, Any]]:
    """The 200 of a public document, with the ``Cache-Control`` it is sent with."""
    header = {
        "description": "How long the document may be cached",
        "schema": {"type": "string", "enum": [value]},
    }
    return {200: {"headers": {"Cache-Control": header}}}


def _json(body: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={**_NO_STORE, **(headers or {})},
    )


def oauth_error(exc: OAuthError, *, basic: bool = False) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="aftercare"'} if basic and exc.status == 401 else {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return _json({"error": exc.error, "error_description": exc.description}, exc.status, headers)


def is_oauth(path: str) -> bool:
    """The token endpoints, which answer RFC 6749 §5.2 errors instead of problem+json."""
    return path.startswith("/oauth/")


def unreadable(detail: str, status: int = 400) -> Response:
    """A request the token endpoints refuse before reading it (over the body limit: 413; over
    1,000 fields, a file for a parameter: 400), as RFC 6749's ``invalid_request``."""
    return oauth_error(OAuthError("invalid_request", detail, status))


async def _form(request: Request) -> dict[str, str]:
    """The form parameters, each at most once (RFC 6749 §3.2: "Request and response parameters
    MUST NOT be included more than once"); a repeated parameter is ``invalid_request``.

    Values are read here rather than from FastAPI's ``Form`` parameters (which declare the
    request body for the OpenAPI document), because those keep the last of repeated values and
    turn an empty value into "absent" (so ``scope=`` would have meant "every scope").
    """
    if not _is_form(request):  # RFC 6749 §4.4.2, RFC 7009 §2.1, RFC 7662 §2.1
        raise OAuthError("invalid_request", "use application/x-www-form-urlencoded")
    params: dict[str, str] = {}
    for name, value in (await request.form()).multi_items():
        if name in params:
            raise OAuthError("invalid_request", f"parameter {name} is repeated")
        if not isinstance(value, str):
            raise OAuthError("invalid_request", f"parameter {name} must be a plain value")
        if not _encodable(name) or not _encodable(value):
            raise OAuthError("invalid_request", "parameters must be valid UTF-8")
        params[name] = value
    return params


def _encodable(text: str) -> bool:
    """No lone surrogates (which a decoder with ``surrogateescape`` or some codecs produce)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise OAuthError("invalid_client", "unsupported client authentication", 401)
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthError("invalid_client", "malformed Basic credentials", 401) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "malformed Basic credentials", 401)
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)


async def _client_from(
    request: Request, session: DbSession, params: dict[str, str]
) -> tuple[Client, bool]:
    """Client authentication (Basic or form fields). Failed secret checks are limited per source
    address (``AFTERCARE_TOKEN_FAILURE_LIMIT``; not per client id, see
    ``RateLimiter._failure_key``): once it is spent the answer is 429 before any secret is
    hashed."""
    basic = _basic_credentials(request)
    form_id, form_secret = params.get("client_id") or None, params.get("client_secret") or None
    if basic and (form_id or form_secret):
        raise OAuthError("invalid_request", "use one client authentication method, not two")
    if basic:
        client_id, secret = basic
    elif form_id and form_secret:
        client_id, secret = form_id, form_secret
    else:
        raise OAuthError("invalid_client", "client authentication required", 401)
    limiter = request.app.state.ctx.rate_limits
    address = limiter.source_address(request)
    wait = await limiter.failure_retry_after(address)
    if wait is not None:
        raise OAuthError(
            "rate_limited",
            "too many failed client authentications; retry later",
            429,
            retry_after=wait,
        )
    try:
        client = await ClientService(session).authenticate(client_id, secret)
    except ClientAuthenticationFailed:
        await limiter.record_failure(address)
        raise OAuthError("invalid_client", "client authentication failed", 401) from None
    return client, basic is not None


# Declares the form fields for the OpenAPI document; handlers read values with ``_form``.
FormStr = Annotated[str | None, FormField()]

_RATE_LIMITED: dict[int | str, dict[str, Any]] = {
    429: {"description": "rate_limited: too many failed client authentications (see Retry-After)"}
}


@router.post(
    "/oauth/token",
    summary="Client-credentials token endpoint",
    responses={
        200: {"model": TokenOut, "description": "An access token (RFC 6749 §5.1)"},
        400: {
            "description": "RFC 6749 error (invalid_request, invalid_scope, unsupported_grant_type)"
        },
        401: {"description": "invalid_client"},
        **_RATE_LIMITED,
    },
)
async def token(
    request: Request,
    session: DbSession,
    ctx: Context,
    grant_type: FormStr = None,
    scope: FormStr = None,
    client_id: FormStr = None,
    client_secret: FormStr = None,
) -> Response:
    basic = request.headers.get("Authorization", "").lower().startswith("basic")
    try:
        params = await _form(request)
        client, basic = await _client_from(request, session, params)
        grant = params.get("grant_type") or None
        if grant is None:
            raise OAuthError("invalid_request", "grant_type is required")
        if grant != "client_credentials":
            raise OAuthError("unsupported_grant_type", "only client_credentials is supported")
        # An empty ``scope=`` asks for nothing: invalid_scope (grant_scopes), never "everything".
        issued = ctx.tokens(session).issue(client, params.get("scope"))
    except OAuthError as exc:
        return oauth_error(exc, basic=basic)
    answer = TokenOut(
        access_token=issued.access_token,
        token_type="Bearer",  # noqa: S106 - the token type, not a secret
        expires_in=issued.expires_in,
        scope=issued.scope,
    )
    return _json(answer.model_dump())


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == (
        "application/x-www-form-urlencoded"
    )


# Revocation and introspection: the client authenticated, then one thing done with `token`.
TokenAction = Callable[[AppContext, Session, Client, str], Awaitable[object]]


def _token_endpoint(name: str, summary: str, act: TokenAction, answer: type[BaseModel]) -> None:
    responses = {200: {"model": answer, "description": summary}, **_RATE_LIMITED}

    @router.post(f"/oauth/{name}", name=name, summary=summary, responses=responses)
    async def endpoint(
        request: Request,
        session: DbSession,
        ctx: Context,
        token: FormStr = None,
        token_type_hint: FormStr = None,
        client_id: FormStr = None,
        client_secret: FormStr = None,
    ) -> Response:
        basic = False
        try:
            params = await _form(request)
            client, basic = await _client_from(request, session, params)
            value = params.get("token")
            if not value:
                raise OAuthError("invalid_request", "token is required")
            result = await act(ctx, session, client, value)
        except OAuthError as exc:
            return oauth_error(exc, basic=basic)
        return _json(result)


async def _revoke(ctx: AppContext, session: Session, client: Client, value: str) -> object:
    await ctx.tokens(session).revoke(client, value)
    return {}


async def _introspect(ctx: AppContext, session: Session, client: Client, value: str) -> object:
    return await ctx.tokens(session).introspect(client, value)


_token_endpoint("revoke", "Token revocation (RFC 7009)", _revoke, RevocationOut)
_token_endpoint("introspect", "Token introspection (RFC 7662)", _introspect, IntrospectionOut)


@router.get(
    "/.well-known/jwks.json",
    summary="Public signing keys (JWKS)",
    responses=_cached_for(JWKS_CACHE_CONTROL),
)
async def jwks(ctx: Context) -> Response:
    ctx.keyring.refresh()
    return Response(
        orjson.dumps(ctx.keyring.keyset.jwks()),
        media_type="application/json",
        headers={"Cache-Control": JWKS_CACHE_CONTROL},
    )


def authorization_server_metadata(ctx: AppContext) -> dict[str, object]:
    issuer = ctx.token_config.issuer.rstrip("/")
    return {
        "issuer": ctx.token_config.issuer,
        "token_endpoint": f"{issuer}/oauth/token",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "scopes_supported": sorted(SCOPES),
        "response_types_supported": [],
        "access_token_signing_alg_values_supported": ["RS256"],
    }


@router.get(
    "/.well-known/oauth-authorization-server",
    summary="Authorization server metadata (RFC 8414)",
    responses=_cached_for(METADATA_CACHE_CONTROL),
)
async def metadata(ctx: Context) -> Response:
    return Response(
        orjson.dumps(authorization_server_metadata(ctx)),
        media_type="application/json",
        headers={"Cache-Control": METADATA_CACHE_CONTROL},
    )
