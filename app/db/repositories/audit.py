"""The audit log: hash-chained appends and reads."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from hashlib import sha256
from typing import Any
from uuid import UUID

from app.db.database import MAX_AUDIT_CHAINS, Session
from app.db.query import Placeholders, Query
from app.db.rows import Rows

GENESIS = bytes(32)
MAX_CHAINS = MAX_AUDIT_CHAINS  # chain numbers are 0..MAX_CHAINS - 1


@dataclass(frozen=True, slots=True)
class AccessLogRow:
    """An audit row naming a case, with the acting organisation's name (`access_log`)."""

    org_id: UUID
    chain: int
    seq: int
    occurred_at: datetime
    client_id: str
    action: str
    categories: list[str]
    request_id: str | None
    org_name: str | None


@dataclass(frozen=True, slots=True)
class HeadRow:
    org_id: UUID
    chain: int
    seq: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class ChainRow:
    """An audit row as the chain hashes it."""

    org_id: UUID
    chain: int
    seq: int
    hash: bytes
    occurred_at: datetime
    client_id: str
    jti: UUID | None
    request_id: str | None
    action: str
    case_ids: list[UUID]
    categories: list[str]


ACCESS_LOG_ROWS = Rows(AccessLogRow)
HEAD_ROWS = Rows(HeadRow)
CHAIN_ROWS = Rows(ChainRow)

# One statement appends a row to a chain of the organisation, waiting only when every chain it
# may use is busy (docs/architecture.md "The audit log"):
# - ``free`` locks ONE existing head of the organisation with ``FOR UPDATE SKIP LOCKED``, skipping
#   heads that other transactions hold: the one this transaction already holds first (so a
#   transaction's appends stay on one chain), then the connection's own chain
#   ``pg_backend_pid() % $chains``, then the next ones after it (so connections start their
#   search at different chains). Under READ COMMITTED the lock is taken on the head's latest
#   committed version (a version updated since the statement's snapshot is followed, not skipped).
# - Only when every existing head below $chains is held by another transaction does ``c`` fall
#   back to a chain number below $chains that has no head yet (the own one first, then the next
#   ones), which the upsert creates; when all $chains exist (all held), to the connection's own
#   chain, whose holder's commit the upsert waits for. So chains are created only under
#   concurrency, and one is waited for only when there are $chains appenders at once.
# - The upsert's ON CONFLICT DO UPDATE extends the latest committed head (re-read after any
#   wait, and the head ``free`` locked cannot change in between), so a chain cannot fork; the
#   primary key (org_id, chain, seq) backs this up. The head's row lock is held until commit.
# A transaction that already holds a head of the organisation always finds it lockable, so it
# never waits for the organisation's heads again: two transactions cannot deadlock on them.
# hash_n = sha256(hash_{n-1} || int8(seq_n) || entry_n); hash_0 is $genesis (32 zero bytes) for
# chain 0, the chain of every row written before there were several, and
# sha256($genesis || int2(chain)) for the others (the chain number bound into its first link).
# The chain numbers ``c`` tries are a constant series cut at $chains, not
# ``generate_series(0, $chains - 1)``: with a parameter bound the planner cannot size the
# series, so it costed the generic plan above the custom ones and planned every append again
# (about 0.6 ms of PostgreSQL's CPU each, on every audited request; bench/README.md).
_APPEND_CTES = """
    free AS MATERIALIZED (
        SELECT h.chain FROM audit_heads h
        WHERE h.org_id = $1 AND h.chain < $11::integer
        ORDER BY h.xmin = xid(pg_current_xact_id_if_assigned()) IS NOT TRUE,
                 (h.chain + $11::integer - pg_backend_pid() % $11::integer) % $11::integer
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    ),
    c AS (
        SELECT COALESCE(
            (SELECT chain FROM free),
            (SELECT ((pg_backend_pid() % $11::integer + g.n) % $11::integer)::smallint
             FROM generate_series(0, {max_chain}) AS g(n)
             WHERE g.n < $11::integer AND NOT EXISTS (
                 SELECT FROM audit_heads x
                 WHERE x.org_id = $1
                   AND x.chain = (pg_backend_pid() % $11::integer + g.n) % $11::integer)
             ORDER BY g.n LIMIT 1),
            (pg_backend_pid() % $11::integer)::smallint) AS chain
    ),
    head AS (
        INSERT INTO audit_heads AS h (org_id, chain, seq, hash)
        SELECT $1, c.chain, 1,
               sha256(CASE WHEN c.chain = 0 THEN $2::bytea
                           ELSE sha256($2::bytea || int2send(c.chain)) END
                      || int8send(1) || $3::bytea)
        FROM c{when}
        ON CONFLICT (org_id, chain) DO UPDATE
            SET seq = h.seq + 1, hash = sha256(h.hash || int8send(h.seq + 1) || $3::bytea)
        RETURNING chain, seq, hash
    )
""".replace("{max_chain}", str(MAX_CHAINS - 1))
_APPEND_ROW = """
    INSERT INTO audit_log (org_id, chain, seq, hash, occurred_at, client_id, jti, request_id,
                           action, case_ids, categories)
    SELECT $1, head.chain, head.seq, head.hash, $4, $5, $6, $7, $8, $9, $10 FROM head
"""
_APPEND_NAMES = (
    "org_id", "genesis", "entry", "occurred_at", "client_id", "jti", "request_id", "action",
    "case_ids", "categories", "chains",
)  # fmt: skip
_APPEND = Query("WITH" + _APPEND_CTES.format(when="") + _APPEND_ROW, _APPEND_NAMES)
# A placeholder ($n, not part of a longer name); with a string literal before it as the other
# choice, so that a literal's text is skipped (left as it is) rather than renumbered.
_BARE_PLACEHOLDER = re.compile(r"(?<![\w$])\$(\d+)(?!\w)")
_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|" + _BARE_PLACEHOLDER.pattern)
# What the renumbering does not read: comments, quoted identifiers, E'' and dollar-quoted strings.
_UNREAD = re.compile(r"--|/\*|\"|\bE'|\$[A-Za-z_]*\$", re.IGNORECASE)
# The CTEs the append puts ahead of the read: a relation of one of these names in the read
# would be taken for the CTE.
_APPEND_RELATIONS = ("free", "c", "head", "appended", "r")


def appending(read: Query, *, when: Query | None = None) -> Query:
    """``read`` (one ``SELECT``) as one statement that also appends an audit row (``_APPEND``,
    as data-modifying CTEs ahead of it): an audited read whose audit row is known before its
    rows are (what the caller may see is decided before the read) costs one round trip instead
    of two. Its parameters are ``read``'s and the audit row's, prefixed ``audit_``
    (:func:`appended_params`). ``read`` may start with a ``WITH`` of its own (its CTEs then
    follow the append's; the events' append carries a transaction's audit row so, see
    :func:`take_pending`), except with ``when``.

    With ``when`` (an SQL condition over ``r``, the read's rows, whose placeholders continue
    ``read``'s: ``$3`` after a read of two), the read is evaluated first, as ``r``, and the row
    is appended only if one of its rows meets the condition; the statement answers ``read``'s
    columns and ``audited``, whether the row was appended. Its parameters are then the audit
    row's, ``read``'s and ``when``'s.

    The statement is atomic: an error in the read appends nothing, and a failed append
    answers no rows. In autocommit (a ``GET``), asyncpg hands over the rows only once the
    statement's commit succeeded; in a transaction, the request commits before it answers."""
    sql = read.sql.lstrip()
    own_ctes = re.match(r"WITH\s", sql, re.IGNORECASE) is not None and when is None
    if not (own_ctes or sql.upper().startswith("SELECT")):
        raise ValueError("appending() takes a SELECT (with a WITH of its own only without when)")
    condition = when.sql if when is not None else ""
    for text in (sql, condition):
        if _UNREAD.search(_BARE_PLACEHOLDER.sub("", text)):
            raise ValueError("appending() takes no comments, quoted names or special strings")
    names = read.names + (when.names if when is not None else ())
    if any(n.startswith("audit_") for n in names):
        raise ValueError("the read's parameter names must not start with audit_")
    words = set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", sql + " " + condition, re.IGNORECASE))
    # (and a CTE of the read's own must not define one again)
    words |= set(re.findall(r"(\w+)\s+AS\s+(?:NOT\s+)?(?:MATERIALIZED\s+)?\(", sql, re.I))
    if words & set(_APPEND_RELATIONS):
        raise ValueError(f"the read names a relation the append defines: {words}")
    shift = len(_APPEND_NAMES)
    seen: set[int] = set()

    def renumber(match: re.Match[str]) -> str:
        if not match.group(1):
            return match.group(0)
        seen.add(int(match.group(1)))
        return f"${int(match.group(1)) + shift}"

    body = _PLACEHOLDER.sub(renumber, sql)
    condition = _PLACEHOLDER.sub(renumber, condition)
    if seen != set(range(1, len(names) + 1)):
        raise ValueError(f"the read's placeholders {sorted(seen)} are not $1..${len(names)}")
    audit_names = tuple(f"audit_{n}" for n in _APPEND_NAMES)
    if when is None:
        # The read's own CTEs (``WITH a AS (...) SELECT``) continue the append's list.
        rest = f", {body[4:].lstrip()}" if own_ctes else f" {body}"
        return Query(
            f"WITH{_APPEND_CTES.format(when='')}, appended AS ({_APPEND_ROW}){rest}",
            audit_names + names,
        )
    # `r` first: a CTE sees only the ones before it. MATERIALIZED: read once, whatever uses it.
    ctes = _APPEND_CTES.format(when=f" WHERE EXISTS (SELECT FROM r WHERE {condition})")
    return Query(
        f"WITH r AS MATERIALIZED ({body}),{ctes}, appended AS ({_APPEND_ROW})"  # noqa: S608
        " SELECT r.*, EXISTS (SELECT FROM head) AS audited FROM r",  # (constant statements)
        audit_names + names,
    )


def _append_params(session: Session, values: Mapping[str, Any]) -> dict[str, Any]:
    """``_APPEND``'s parameters: the row's ``values`` (:func:`append`'s), the genesis hash and
    the session's number of chains."""
    return {**values, "genesis": GENESIS, "chains": session.audit_chains}


def appended_params(session: Session, values: Mapping[str, Any]) -> dict[str, Any]:
    """The audit row's parameters of an :func:`appending` statement: ``values`` as
    :func:`append` takes them."""
    params = _append_params(session, values)
    return {f"audit_{n}": params[n] for n in _APPEND_NAMES}


# A case's access log, newest first: a statement for the first page and one after a cursor (no
# catch-all `$n IS NULL OR …`), compiled once per process.
@cache
def access_log_query(before: bool) -> Query:
    """Parameters: ``case_id``, [``before_at``, ``before_org``, ``before_chain``,
    ``before_seq``], ``limit``."""
    params = Placeholders("case_id")
    cursor = ""
    if before:
        at, org = params.bind("before_at", "timestamptz"), params.bind("before_org", "uuid")
        chain, seq = params.bind("before_chain", "smallint"), params.bind("before_seq", "bigint")
        cursor = f" AND (a.occurred_at, a.org_id, a.chain, a.seq) < ({at}, {org}, {chain}, {seq})"
    return params.query(
        "SELECT a.org_id, a.chain, a.seq, a.occurred_at, a.client_id, a.action, a.categories,"  # noqa: S608
        " a.request_id, o.name AS org_name"
        " FROM audit_log a LEFT JOIN organizations o ON o.id = a.org_id"
        f" WHERE a.case_ids @> ARRAY[$1::uuid]{cursor}"
        " ORDER BY a.occurred_at DESC, a.org_id DESC, a.chain DESC, a.seq DESC"
        f" LIMIT {params.bind('limit')}"
    )


_HEADS = Query("SELECT org_id, chain, seq, hash FROM audit_heads ORDER BY org_id, chain")
_CHAIN = """
    SELECT org_id, chain, seq, hash, occurred_at, client_id, jti, request_id, action, case_ids,
           categories
    FROM audit_log ORDER BY org_id, chain, seq
"""


def chain_genesis(chain: int) -> bytes:
    """hash_0 of chain ``chain`` (what ``_APPEND`` computes for a chain's first row)."""
    if chain == 0:
        return GENESIS
    return sha256(GENESIS + chain.to_bytes(2, "big", signed=True)).digest()


async def append(session: Session, **values: Any) -> None:
    """Append to a chain of ``values["org_id"]``: one this transaction holds, else a free one
    (the connection's own first), else a new one, else the connection's own (``_APPEND``).

    Outside a transaction the row is appended at once, in its own statement. In a transaction
    it is held back (:meth:`Session.defer`) until the transaction's next append of events,
    which carries it in its statement (a write's audit row and its events in one round trip,
    :func:`take_pending`), or else until just before ``COMMIT``: it commits with the
    transaction or not at all, as before, and holds its chain's head for less of the
    transaction. A second row of the same transaction first appends the held one, so a
    transaction's rows keep their order in its chain."""
    params = _append_params(session, values)
    if session.autocommit:
        await session.execute(_APPEND, params)
        return
    # Take the held row and hold this one with nothing awaited in between: concurrent resolvers
    # of one GraphQL mutation may append at once, and each sends the row it took, in turn.
    held = session.take_deferred(_APPEND)
    session.defer(_APPEND, params)
    if held is not None:
        await session.execute(_APPEND, held)


def take_pending(session: Session) -> dict[str, Any] | None:
    """The transaction's held audit row (:func:`append`) as the parameters of an
    :func:`appending` statement, for the caller to append with its own statement; ``None`` when
    no row is held."""
    held = session.take_deferred(_APPEND)
    if held is None:
        return None
    return {f"audit_{n}": held[n] for n in _APPEND_NAMES}


async def access_log(
    session: Session,
    case_id: UUID,
    *,
    before_at: datetime | None,
    before_org: UUID | None,
    before_chain: int | None,
    before_seq: int | None,
    limit: int,
) -> list[AccessLogRow]:
    return ACCESS_LOG_ROWS.many(
        await session.fetch(
            access_log_query(before_at is not None),
            case_id=case_id,
            before_at=before_at,
            before_org=before_org,
            before_chain=before_chain,
            before_seq=before_seq,
            limit=limit,
        )
    )


async def heads(session: Session) -> list[HeadRow]:
    return HEAD_ROWS.many(await session.fetch(_HEADS))


async def iterate_chain(session: Session) -> AsyncIterator[ChainRow]:
    """Every audit row, by organisation, chain and sequence, streamed (needs a transaction)."""
    await session.begin()
    conn = await session.connection()
    async for record in conn.cursor(_CHAIN, prefetch=1000):
        row = CHAIN_ROWS.one(record)
        assert row is not None
        yield row


_HASHES_AT = Query(
    """
    SELECT a.org_id, a.chain, a.seq, a.hash FROM audit_log a
    JOIN unnest($1::uuid[], $2::smallint[], $3::bigint[]) AS w(org_id, chain, seq)
      ON a.org_id = w.org_id AND a.chain = w.chain AND a.seq = w.seq
    """,
    ("org_ids", "chains", "seqs"),
)


async def hashes_at(
    session: Session, positions: list[tuple[UUID, int, int]]
) -> dict[tuple[UUID, int, int], bytes]:
    """The hash of each audit row at (organisation, chain, seq) that still exists."""
    rows = await session.fetch(
        _HASHES_AT,
        org_ids=[p[0] for p in positions],
        chains=[p[1] for p in positions],
        seqs=[p[2] for p in positions],
    )
    return {(r["org_id"], r["chain"], r["seq"]): bytes(r["hash"]) for r in rows}
