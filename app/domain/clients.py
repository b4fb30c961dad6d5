"""OAuth clients: creation (secret shown once, stored as an Argon2id hash) and authentication."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.db.database import Session
from app.db.repositories import clients as repo
from app.db.repositories import organizations as org_repo
from app.domain.errors import NotFound, ValidationFailed
from app.domain.scopes import unknown_scopes

# Secrets are 256 random bits, so the hash guards against a leaked table rather than weak
# passwords; OWASP's minimum Argon2id profile keeps the token endpoint quick.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
_DUMMY_HASH = _hasher.hash("dummy-secret-for-constant-time-misses")

_T = TypeVar("_T")

# Every hash runs on this pool, never on more than half the cores: a flood of bad client
# credentials from many addresses (each under its own failure limit) then queues behind itself
# instead of taking the CPU that the API's requests need.
HASH_SLOTS = max(1, (os.cpu_count() or 2) // 2)
_hash_pool = ThreadPoolExecutor(max_workers=HASH_SLOTS, thread_name_prefix="argon2")


async def _in_hash_pool(fn: Callable[..., _T], *args: object) -> _T:
    return await asyncio.get_running_loop().run_in_executor(_hash_pool, fn, *args)


CLIENT_ID_PREFIX = "acx_"
SECRET_PREFIX = "acs_"  # noqa: S105 - a prefix for secret scanners, not a secret


class ClientAuthenticationFailed(Exception):
    """Unknown client, wrong secret or disabled client (deliberately indistinguishable)."""


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    org_id: UUID
    name: str
    scopes: list[str]


@dataclass(frozen=True, slots=True)
class CreatedClient:
    client: Client
    client_secret: str


def _verify(secret_hash: str, secret: str) -> bool:
    try:
        return _hasher.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


class ClientService:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def create(self, *, org_id: UUID, name: str, scopes: list[str]) -> CreatedClient:
        bad = unknown_scopes(scopes)
        if bad:
            raise ValidationFailed("Unknown scope(s): " + " ".join(bad), loc=["scopes"])
        if not name.strip():
            raise ValidationFailed("A client needs a name", loc=["name"])
        if await org_repo.get(self.session, org_id) is None:
            raise NotFound("No such organization")
        client_id = CLIENT_ID_PREFIX + secrets.token_urlsafe(16)
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        secret_hash = await _in_hash_pool(_hasher.hash, secret)
        unique_scopes = sorted(set(scopes))
        await repo.insert(
            self.session,
            client_id=client_id,
            org_id=org_id,
            name=name.strip(),
            secret_hash=secret_hash,
            scopes=unique_scopes,
        )
        return CreatedClient(
            client=Client(client_id=client_id, org_id=org_id, name=name, scopes=unique_scopes),
            client_secret=secret,
        )

    async def disable(self, client_id: str) -> datetime:
        disabled_at = await repo.disable(self.session, client_id)
        if disabled_at is None:
            raise NotFound("No such client")
        return disabled_at

    async def authenticate(self, client_id: str, secret: str) -> Client:
        plausible = len(client_id) <= 200 and "\x00" not in client_id
        row = await repo.get(self.session, client_id) if plausible else None
        # Verify against a dummy hash on a miss so timing does not reveal which client ids exist.
        ok = await _in_hash_pool(_verify, row.secret_hash if row else _DUMMY_HASH, secret)
        if row is None or not ok or row.disabled_at is not None:
            raise ClientAuthenticationFailed()
        return Client(client_id=row.client_id, org_id=row.org_id, name=row.name, scopes=row.scopes)
