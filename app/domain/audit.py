"""Tamper-evident audit of every read and write of survivor data.

Each audit row records who (organisation, client, token ``jti``), what (action, categories) and
which cases, with the request id — never survivor data. Rows form one hash chain per acting
organisation: ``hash_n = sha256(hash_{n-1} || seq_n || entry_n)`` where ``entry`` is the canonical
JSON of the row's fields. Rows are appended in the same transaction as the access they record,
so an access that fails leaves no trace and a trace never lacks its access.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from uuid import UUID

import orjson

from app.db.database import Session
from app.db.repositories import audit as repo
from app.db.repositories.audit import AccessLogRow as AccessLogRow  # what access_log pages hold
from app.domain import jwt
from app.domain.pagination import KeysetList, Page
from app.domain.principal import Principal
from app.domain.vocabulary import Category

# The client id of what the hub does by itself (the worker's timed jobs) in audit rows and as
# the author of timeline entries.
HUB_CLIENT_ID = "aftercare-hub"
ACCESS_LOG = "access-log"
ACCESS_LOG_LIST = KeysetList(
    ACCESS_LOG, ("occurred_at", "org_id", "seq"), (datetime.fromisoformat, UUID, int)
)


def canonical_entry(
    *,
    org_id: UUID,
    occurred_at: datetime,
    client_id: str,
    jti: UUID | None,
    request_id: str | None,
    action: str,
    case_ids: Sequence[UUID],
    categories: Sequence[str],
) -> bytes:
    return orjson.dumps(
        [
            str(org_id),
            occurred_at.astimezone(UTC).isoformat(),
            client_id,
            str(jti) if jti else None,
            request_id,
            action,
            [str(c) for c in case_ids],
            list(categories),
        ]
    )


def chain_hash(previous: bytes, seq: int, entry: bytes) -> bytes:
    return sha256(previous + seq.to_bytes(8, "big", signed=True) + entry).digest()


class AuditTrail:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def record(
        self,
        principal: Principal,
        action: str,
        case_ids: Iterable[UUID],
        categories: Iterable[Category | str] = (),
    ) -> None:
        await self._append(
            principal.org_id,
            principal.client_id,
            principal.jti,
            principal.request_id,
            action,
            case_ids,
            categories,
        )

    async def record_hub(
        self,
        org_id: UUID,
        action: str,
        case_ids: Iterable[UUID],
        categories: Iterable[Category | str] = (),
    ) -> None:
        """What the hub itself did (a timed job of the worker: no token, no request), in the
        chain of the organisation it acted for (client ``HUB_CLIENT_ID``)."""
        await self._append(org_id, HUB_CLIENT_ID, None, None, action, case_ids, categories)

    async def _append(
        self,
        org_id: UUID,
        client_id: str,
        jti: UUID | None,
        request_id: str | None,
        action: str,
        case_ids: Iterable[UUID],
        categories: Iterable[Category | str],
    ) -> None:
        ids = list(dict.fromkeys(case_ids))
        cats = sorted({str(c) for c in categories})
        occurred_at = datetime.now(UTC)
        entry = canonical_entry(
            org_id=org_id,
            occurred_at=occurred_at,
            client_id=client_id,
            jti=jti,
            request_id=request_id,
            action=action,
            case_ids=ids,
            categories=cats,
        )
        await repo.append(
            self.session,
            org_id=org_id,
            entry=entry,
            occurred_at=occurred_at,
            client_id=client_id,
            jti=jti,
            request_id=request_id,
            action=action,
            case_ids=ids,
            categories=cats,
        )

    async def access_log(
        self, case_id: UUID, *, limit: int, cursor: str | None
    ) -> Page[AccessLogRow]:
        before = ACCESS_LOG_LIST.position(cursor)
        rows = await repo.access_log(
            self.session,
            case_id,
            **ACCESS_LOG_LIST.bind(before, "before_at", "before_org", "before_seq"),
            limit=limit + 1,
        )
        return ACCESS_LOG_LIST.page(rows, limit)


@dataclass(frozen=True, slots=True)
class ChainBreak:
    org_id: UUID
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    chains: int
    rows: int
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


async def verify_chains(session: Session) -> VerifyResult:
    """Recompute every chain; report the first row that does not follow from its predecessor.

    Heads and rows are read in one snapshot, so appends running meanwhile cannot look like a
    break."""
    await session.begin(snapshot=True)
    heads = {r.org_id: (r.seq, bytes(r.hash)) for r in await repo.heads(session)}
    rows = 0
    org: UUID | None = None
    previous, expected_seq = repo.GENESIS, 1
    seen: set[UUID] = set()

    def finished(chain_org: UUID | None, last_seq: int, last_hash: bytes) -> ChainBreak | None:
        if chain_org is None:
            return None
        head = heads.get(chain_org)
        if head is None or head != (last_seq, last_hash):
            return ChainBreak(chain_org, last_seq, "chain ends before its recorded head")
        return None

    async for row in repo.iterate_chain(session):
        rows += 1
        if row.org_id != org:
            broken = finished(org, expected_seq - 1, previous)
            if broken:
                return VerifyResult(len(seen), rows, broken)
            org = row.org_id
            seen.add(org)
            previous, expected_seq = repo.GENESIS, 1
        if row.seq != expected_seq:
            return VerifyResult(
                len(seen),
                rows,
                ChainBreak(row.org_id, row.seq, f"expected seq {expected_seq}"),
            )
        entry = canonical_entry(
            org_id=row.org_id,
            occurred_at=row.occurred_at,
            client_id=row.client_id,
            jti=row.jti,
            request_id=row.request_id,
            action=row.action,
            case_ids=row.case_ids,
            categories=row.categories,
        )
        digest = chain_hash(previous, row.seq, entry)
        if digest != bytes(row.hash):
            return VerifyResult(
                len(seen), rows, ChainBreak(row.org_id, row.seq, "hash does not match")
            )
        previous, expected_seq = digest, expected_seq + 1
    broken = finished(org, expected_seq - 1, previous)
    if broken is None:
        missing = sorted(set(heads) - seen)
        if missing:
            broken = ChainBreak(missing[0], heads[missing[0]][0], "chain rows are missing")
    return VerifyResult(len(seen), rows, broken)


# -- anchors: the chain heads, signed, to keep outside the database ------------------------------
ANCHOR_TYPE = "aftercare-audit-anchor+jwt"


async def anchor(session: Session, key: jwt.SigningKey, issuer: str) -> str:
    """Every chain's head (organisation, seq, hash) at this moment, signed with the hub's current
    signing key. Kept outside the database (printed by ``aftercare audit anchor``), it proves
    later that no row up to those heads was changed, removed or rewritten with its successors,
    which a chain alone cannot prove against someone who can rewrite the whole chain."""
    await session.begin(snapshot=True)
    heads = await repo.heads(session)
    claims = {
        "iss": issuer,
        "iat": int(datetime.now(UTC).timestamp()),
        "heads": [[str(h.org_id), h.seq, bytes(h.hash).hex()] for h in heads],
    }
    return jwt.encode_document(claims, key, ANCHOR_TYPE)


@dataclass(frozen=True, slots=True)
class AnchorCheck:
    anchored_at: datetime
    heads: int
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


async def check_anchor(
    session: Session, token: str, find_key: Callable[[str], jwt.VerificationKey | None]
) -> AnchorCheck:
    """Check a signed anchor against the database: each anchored row must still exist with the
    anchored hash. Together with :func:`verify_chains` (every row follows from the one before)
    this shows nothing before the anchor was altered, even by rewriting whole chains. Raises
    :class:`jwt.TokenRejected` when the anchor's signature does not verify."""
    claims = jwt.decode_document(token, find_key=find_key, typ=ANCHOR_TYPE)
    heads = [(UUID(org), int(seq), bytes.fromhex(digest)) for org, seq, digest in claims["heads"]]
    found = await repo.hashes_at(session, [(org, seq) for org, seq, _ in heads])
    anchored_at = datetime.fromtimestamp(int(claims["iat"]), UTC)
    for org, seq, digest in sorted(heads):
        current = found.get((org, seq))
        if current is None:
            return AnchorCheck(
                anchored_at, len(heads), ChainBreak(org, seq, "anchored row missing")
            )
        if current != digest:
            return AnchorCheck(
                anchored_at, len(heads), ChainBreak(org, seq, "anchored row rewritten")
            )
    return AnchorCheck(anchored_at, len(heads), None)
