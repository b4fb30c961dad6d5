"""Who is calling: the verified access token, reduced to what the rules need."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: str
    org_id: UUID
    scopes: frozenset[str]
    jti: UUID
    expires_at: int
    request_id: str | None = None

    def in_request(self, request_id: str | None) -> Principal:
        """The same caller in one request (``dataclasses.replace`` without its field walk:
        this runs on every request)."""
        return Principal(
            self.client_id, self.org_id, self.scopes, self.jti, self.expires_at, request_id
        )

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def missing_scopes(self, required: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(s for s in required if s not in self.scopes)
