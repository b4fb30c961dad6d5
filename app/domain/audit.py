"""Tamper-evident audit of every read and write of survivor data.

Each audit row records who (organisation, client, token ``jti``), what (action, categories) and
which cases, with the request id — never survivor data. An acting organisation's rows form
several hash chains (``chain`` 0..255, one per database connection modulo
``AFTERCARE_AUDIT_CHAINS``): ``hash_n = sha256(hash_{n-1} || seq_n || entry_n)`` where ``entry``
is the canonical JSON of the row's fields and ``hash_0`` is the chain's genesis
(:func:`~app.db.repositories.audit.chain_genesis`). Rows are appended in the same transaction as
the access they record, so an access that fails leaves no trace and a trace never lacks its
access.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any
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
# Newest first by (occurred_at, org_id, chain, seq): the primary key makes the order total. A
# cursor issued before there were several chains has one value fewer and is refused (422).
ACCESS_LOG_LIST = KeysetList(
    ACCESS_LOG,
    ("occurred_at", "org_id", "chain", "seq"),
    (datetime.fromisoformat, UUID, int, int),
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


def audit_row(
    org_id: UUID,
    client_id: str,
    jti: UUID | None,
    request_id: str | None,
    action: str,
    case_ids: Iterable[UUID],
    categories: Iterable[Category | str],
) -> dict[str, Any]:
    """An audit row's values as the repository appends them, with its canonical entry."""
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
    return {
        "org_id": org_id,
        "entry": entry,
        "occurred_at": occurred_at,
        "client_id": client_id,
        "jti": jti,
        "request_id": request_id,
        "action": action,
        "case_ids": ids,
        "categories": cats,
    }


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
        await repo.append(self.session, **self.row(principal, action, case_ids, categories))

    async def record_hub(
        self,
        org_id: UUID,
        action: str,
        case_ids: Iterable[UUID],
        categories: Iterable[Category | str] = (),
    ) -> None:
        """What the hub itself did (a timed job of the worker: no token, no request), in the
        chain of the organisation it acted for (client ``HUB_CLIENT_ID``)."""
        await repo.append(
            self.session,
            **audit_row(org_id, HUB_CLIENT_ID, None, None, action, case_ids, categories),
        )

    def row(
        self,
        principal: Principal,
        action: str,
        case_ids: Iterable[UUID],
        categories: Iterable[Category | str] = (),
    ) -> dict[str, Any]:
        """The audit row :meth:`record` would append, for a repository read that appends it in
        its own statement (``repo.appending``): a read whose audit row is known before its rows
        are, in one round trip."""
        return audit_row(
            principal.org_id,
            principal.client_id,
            principal.jti,
            principal.request_id,
            action,
            case_ids,
            categories,
        )

    async def access_log(
        self, case_id: UUID, *, limit: int, cursor: str | None
    ) -> Page[AccessLogRow]:
        before = ACCESS_LOG_LIST.position(cursor)
        rows = await repo.access_log(
            self.session,
            case_id,
            **ACCESS_LOG_LIST.bind(before, "before_at", "before_org", "before_chain", "before_seq"),
            limit=limit + 1,
        )
        return ACCESS_LOG_LIST.page(rows, limit)


@dataclass(frozen=True, slots=True)
class ChainBreak:
    org_id: UUID
    chain: int
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


def _entry_of(row: repo.ChainRow) -> bytes:
    return canonical_entry(
        org_id=row.org_id,
        occurred_at=row.occurred_at,
        client_id=row.client_id,
        jti=row.jti,
        request_id=row.request_id,
        action=row.action,
        case_ids=row.case_ids,
        categories=row.categories,
    )


def _chain_end(
    chain: tuple[UUID, int], last_seq: int, last_hash: bytes, head: tuple[int, bytes] | None
) -> ChainBreak | None:
    """How a chain's last row disagrees with its ``audit_heads`` entry, if it does."""
    org_id, number = chain
    if head is None:
        return ChainBreak(org_id, number, last_seq, "chain has no recorded head")
    head_seq, head_hash = head
    if last_seq < head_seq:
        return ChainBreak(org_id, number, last_seq, "chain ends before its recorded head")
    if last_seq > head_seq:
        return ChainBreak(org_id, number, head_seq + 1, "chain runs past its recorded head")
    if last_hash != head_hash:
        return ChainBreak(org_id, number, last_seq, "last row is not the recorded head")
    return None


async def verify_chains(session: Session) -> VerifyResult:
    """Recompute every chain of every organisation; report the first row that does not follow
    from its predecessor, or the first chain whose end is not its recorded head.

    Heads and rows are read in one snapshot, so appends running meanwhile cannot look like a
    break. ``chains`` counts the (organisation, chain) pairs that hold rows."""
    await session.begin(snapshot=True)
    heads = {(r.org_id, r.chain): (r.seq, bytes(r.hash)) for r in await repo.heads(session)}
    rows = 0
    current: tuple[UUID, int] | None = None
    previous, expected_seq = repo.GENESIS, 1
    seen: set[tuple[UUID, int]] = set()

    async for row in repo.iterate_chain(session):
        rows += 1
        key = (row.org_id, row.chain)
        if key != current:
            if current is not None:
                broken = _chain_end(current, expected_seq - 1, previous, heads.get(current))
                if broken:
                    return VerifyResult(len(seen), rows, broken)
            current = key
            seen.add(key)
            previous, expected_seq = repo.chain_genesis(row.chain), 1
        if row.seq != expected_seq:
            return VerifyResult(
                len(seen),
                rows,
                ChainBreak(row.org_id, row.chain, row.seq, f"expected seq {expected_seq}"),
            )
        digest = chain_hash(previous, row.seq, _entry_of(row))
        if digest != bytes(row.hash):
            return VerifyResult(
                len(seen),
                rows,
                ChainBreak(row.org_id, row.chain, row.seq, "hash does not match"),
            )
        previous, expected_seq = digest, expected_seq + 1
    if current is not None:
        broken = _chain_end(current, expected_seq - 1, previous, heads.get(current))
        if broken:
            return VerifyResult(len(seen), rows, broken)
    missing = sorted(set(heads) - seen)
    if missing:
        org_id, number = missing[0]
        return VerifyResult(
            len(seen),
            rows,
            ChainBreak(org_id, number, heads[missing[0]][0], "chain rows are missing"),
        )
    return VerifyResult(len(seen), rows, None)


# -- anchors: the chain heads, signed, to keep outside the database ------------------------------
ANCHOR_TYPE = "aftercare-audit-anchor+jwt"


@dataclass(frozen=True, slots=True)
class Anchor:
    """Signed chain heads: ``token`` is what proves them; ``heads`` (``[organisation, chain,
    seq, hash]``) and ``anchored_at`` are the same claims, readable without decoding it."""

    token: str
    anchored_at: datetime
    heads: list[list[Any]]


async def anchor(session: Session, key: jwt.SigningKey, issuer: str) -> Anchor:
    """Every chain's head ``[organisation, chain, seq, hash]`` at this moment, signed with the
    hub's current signing key. Kept outside the database (printed by ``aftercare audit
    anchor``), it proves later that no row up to those heads was changed, removed or rewritten
    with its successors, which a chain alone cannot prove against someone who can rewrite the
    whole chain."""
    await session.begin(snapshot=True)
    rows = await repo.heads(session)
    anchored_at = datetime.now(UTC).replace(microsecond=0)
    heads: list[list[Any]] = [[str(h.org_id), h.chain, h.seq, bytes(h.hash).hex()] for h in rows]
    claims = {"iss": issuer, "iat": int(anchored_at.timestamp()), "heads": heads}
    return Anchor(jwt.encode_document(claims, key, ANCHOR_TYPE), anchored_at, heads)


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
    :class:`jwt.TokenRejected` when the anchor's signature does not verify, ``ValueError`` when
    a head is not ``[org, chain, seq, hash]`` (or, in anchors made before there were several
    chains, ``[org, seq, hash]``: chain 0)."""
    claims = jwt.decode_document(token, find_key=find_key, typ=ANCHOR_TYPE)
    heads = [_anchored_head(head) for head in claims["heads"]]
    found = await repo.hashes_at(session, [(org, chain, seq) for org, chain, seq, _ in heads])
    anchored_at = datetime.fromtimestamp(int(claims["iat"]), UTC)
    for org, chain, seq, digest in sorted(heads):
        current = found.get((org, chain, seq))
        if current is None:
            return AnchorCheck(
                anchored_at, len(heads), ChainBreak(org, chain, seq, "anchored row missing")
            )
        if current != digest:
            return AnchorCheck(
                anchored_at, len(heads), ChainBreak(org, chain, seq, "anchored row rewritten")
            )
    return AnchorCheck(anchored_at, len(heads), None)


def _anchored_head(head: Any) -> tuple[UUID, int, int, bytes]:
    try:
        return _parse_head(head)
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"malformed anchored head: {exc}") from None


def _parse_head(head: Any) -> tuple[UUID, int, int, bytes]:
    if not isinstance(head, list):
        raise ValueError("an anchored head is not a list")
    if len(head) == 3:  # anchored before there were several chains per organisation
        org, seq, digest = head
        chain = 0
    elif len(head) == 4:
        org, chain, seq, digest = head
    else:
        raise ValueError("an anchored head has neither 3 nor 4 values")
    if type(chain) is not int or not 0 <= chain < repo.MAX_CHAINS or type(seq) is not int:
        raise ValueError("an anchored head's chain or seq is not a valid integer")
    return UUID(org), chain, seq, bytes.fromhex(digest)
