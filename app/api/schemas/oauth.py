"""The token endpoint's answer (RFC 6749 §5.1), for the OpenAPI document and the endpoint alike."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.api.schemas.common import ResponseModel


class TokenOut(ResponseModel):
    """An access token from the client credentials grant (RFC 6749 §4.4.3, §5.1)."""

    access_token: str = Field(
        description="An RS256 JWT (RFC 9068): send it as `Authorization: Bearer <access_token>`"
    )
    token_type: Literal["Bearer"]
    expires_in: int = Field(description="Seconds until the token expires (900 by default)")
    scope: str = Field(
        description="The scopes granted, space-separated: those asked for, or all of the "
        "client's when `scope` was left out"
    )


class IntrospectionOut(ResponseModel):
    """What a token is (RFC 7662 §2.2): only `active` (`false`) for a token that is expired,
    revoked, malformed, or another organisation's; the claims besides for an active one."""

    active: bool
    scope: str | None = Field(default=None, description="The scopes granted, space-separated")
    client_id: str | None = None
    org_id: str | None = Field(default=None, description="The organisation the token acts for")
    token_type: Literal["Bearer"] | None = None
    exp: int | None = Field(default=None, description="Expiry, seconds since the epoch")
    iat: int | None = Field(default=None, description="Issued at, seconds since the epoch")
    nbf: int | None = Field(default=None, description="Not before, seconds since the epoch")
    sub: str | None = None
    aud: str | None = None
    iss: str | None = None
    jti: str | None = None


class RevocationOut(ResponseModel):
    """RFC 7009 §2.2: an empty object, whether or not the token was valid (or yours)."""
