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
