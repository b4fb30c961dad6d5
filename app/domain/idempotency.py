"""Idempotent creation (CONTRACT §3): replay, reuse with another body, and in-flight requests.

The first request with a key takes a transaction-scoped advisory lock on (client, key), does its
work and stores its response in the same transaction, so the created resource and the stored
response commit together or not at all. A concurrent request with the same key fails to take the
lock (409); a later one finds the stored response and replays it, or gets 422 when its body
differs. Only successful responses are stored: a failed attempt rolled back and may be retried.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from uuid import UUID

from app.db.database import Session
from app.db.repositories import idempotency as repo
from app.domain.crypto import KeyWrapper
from app.domain.errors import (
    IdempotencyInFlight,
    IdempotencyKeyReused,
    IdempotencyResponseErased,
    ValidationFailed,
    Where,
)

_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    headers: dict[str, str]
    # None: erased with the case's identity (see :meth:`StoredResponse.readable`).
    body: bytes | None
    case_id: UUID | None = None

    def readable(self) -> bytes:
        """The stored body; refused (409) when it was erased with the survivor's identity: the
        first request succeeded, and running it again would create the resource twice and
        bring the erased text back."""
        if self.body is None:
            raise IdempotencyResponseErased(
                "The first request with this Idempotency-Key succeeded; its response was "
                "erased with the survivor's identity. Read the case instead of retrying."
            )
        return self.body


def fingerprint(method: str, path: str, body: bytes) -> bytes:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


@dataclass(frozen=True, slots=True)
class KeyInput:
    """Where a request carries its key, for the errors about it: REST's ``Idempotency-Key``
    header, or GraphQL's ``idempotencyKey`` argument (a path the API already wrote)."""

    name: str = "Idempotency-Key"
    where: Where | None = "header"


HEADER = KeyInput()


def check_key(key: str, given: KeyInput = HEADER) -> str:
    if not _KEY_PATTERN.fullmatch(key):
        raise ValidationFailed(
            f"{given.name} must be 1-255 visible ASCII characters",
            loc=[given.name],
            where=given.where,
        )
    return key


class IdempotencyService:
    """Stored bodies are sealed with the KEK (a created case's body holds survivor identity) and
    bound to their client and key, so no response is at rest in plain text."""

    def __init__(self, session: Session, sealer: KeyWrapper, *, ttl_hours: int = 24) -> None:
        self.session = session
        self.sealer = sealer
        self.ttl_hours = ttl_hours

    async def claim(
        self, client_id: str, key: str, request_hash: bytes, given: KeyInput = HEADER
    ) -> StoredResponse | None:
        """Take the key for this request; return the stored response when it is a replay."""
        await self.session.begin()
        if not await repo.try_lock(self.session, client_id, key):
            raise IdempotencyInFlight("Retry when the first request has finished")
        row = await repo.get(self.session, client_id, key)
        if row is None or not row.live:
            return None
        if bytes(row.request_hash) != request_hash:
            raise IdempotencyKeyReused(
                f"This {given.name} was used with a different request",
                loc=[given.name],
                where=given.where,
            )
        sealed = row.response_body
        return StoredResponse(
            status=row.response_status,
            headers=dict(row.response_headers),
            body=None
            if sealed is None
            else self.sealer.open("idempotency", f"{client_id}:{key}", bytes(sealed)),
            case_id=row.case_id,
        )

    async def store(
        self,
        client_id: str,
        key: str,
        *,
        method: str,
        path: str,
        request_hash: bytes,
        response: StoredResponse,
    ) -> None:
        await repo.store(
            self.session,
            client_id=client_id,
            key=key,
            method=method,
            path=path,
            request_hash=request_hash,
            status=response.status,
            headers=response.headers,
            body=self.sealer.seal("idempotency", f"{client_id}:{key}", response.readable()),
            case_id=response.case_id,
            ttl_hours=self.ttl_hours,
        )
