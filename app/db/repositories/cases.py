"""Cases, their data keys and care-team membership."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any
from uuid import UUID

from app.db.database import Session
from app.db.policy_facts import FIELDS, POLICY_FACTS, ConsentFact, audience_facts
from app.db.query import PAGE_CAP, Placeholders, Query
from app.db.repositories import audit as audit_repo
from app.db.rows import Rows

CASE_COLUMNS = """
    c.id, c.reference, c.lead_org_id, c.external_ref_enc, c.external_ref_hash, c.status,
    c.close_reason_enc, c.closed_at,
    c.gender, c.nationality, c.languages, c.interpreter_needed, c.is_minor, c.age_band,
    c.given_name_enc, c.family_name_enc, c.aliases_enc, c.date_of_birth_enc, c.birth_year_enc,
    c.contact_enc, c.guardian_enc, c.identity_erased_at,
    c.exploitation_types, c.identified_on, c.identified_country, c.needs, c.risk_level,
    c.created_at, c.updated_at, c.version, k.wrapped_key, k.kek_id
"""


@dataclass(frozen=True, slots=True)
class CaseRow:
    """A case as `CASE_COLUMNS` and the policy facts select it (the data key joined in)."""

    id: UUID
    reference: str
    lead_org_id: UUID
    external_ref_enc: bytes | None
    external_ref_hash: bytes | None
    status: str
    close_reason_enc: bytes | None
    closed_at: datetime | None
    gender: str
    nationality: str | None
    languages: list[str]
    interpreter_needed: bool
    is_minor: bool
    age_band: str
    given_name_enc: bytes | None
    family_name_enc: bytes | None
    aliases_enc: bytes | None
    date_of_birth_enc: bytes | None
    birth_year_enc: bytes | None
    contact_enc: bytes | None
    guardian_enc: bytes | None
    identity_erased_at: datetime | None
    exploitation_types: list[str]
    identified_on: date | None
    identified_country: str | None
    needs: list[str]
    risk_level: str | None
    created_at: datetime
    updated_at: datetime
    version: int
    wrapped_key: bytes | None
    kek_id: str | None
    # The access policy's facts (app.db.policy_facts.PolicyFactsFields)
    member_categories: list[str] | None
    consents: list[ConsentFact]
    caller_kind: str


@dataclass(frozen=True, slots=True)
class DigestedCaseRow(CaseRow):
    """A case with ``facts_digest``, a digest of the policy's facts about it (``read_for``)."""

    facts_digest: bytes


@dataclass(frozen=True, slots=True)
class AuditedCaseRow(DigestedCaseRow):
    """A case read by ``read_audited``, and whether its audit row was appended."""

    audited: bool


@dataclass(frozen=True, slots=True)
class LockedCaseRow(CaseRow):
    """A case loaded with its row locked; ``moved``: the locked row is newer than the version
    the statement's snapshot saw (see `_LOAD_FOR_UPDATE`); ``audience``: every organisation that
    may see the case, with the policy's facts about it (app.db.policy_facts.audience_facts), as
    of the lock."""

    moved: bool
    audience: list[dict[str, Any]]


CASE_ROWS = Rows(CaseRow)
LOCKED_CASE_ROWS = Rows(LockedCaseRow)
DIGESTED_CASE_ROWS = Rows(DigestedCaseRow)
AUDITED_CASE_ROWS = Rows(AuditedCaseRow)

# Every case statement selects the access policy's facts about the caller with the case
# (app.db.policy_facts): the caller's organisation is `o`, its id $1.
_FROM = """
    FROM cases c
    JOIN organizations o ON o.id = $1
    LEFT JOIN case_keys k ON k.case_id = c.id
"""

# The case $2, when the caller ($1) leads it or serves on its care team.
_LINKED = """
    WHERE c.id = $2 AND (c.lead_org_id = $1 OR EXISTS (
        SELECT 1 FROM case_members m
        WHERE m.case_id = c.id AND m.org_id = $1 AND m.left_at IS NULL))
"""

_LOAD_FOR = Query(
    f"SELECT {CASE_COLUMNS}, {POLICY_FACTS} {_FROM} {_LINKED}",
    ("org_id", "case_id"),
)

# The case list: one statement per shape of request (role, status filter, updated_since, cursor),
# built from constant fragments and compiled once per process, like `referrals.page_query`. A
# catch-all (`$n IS NULL OR …`) gets one generic plan for every shape, which cannot use the index
# that suits the one at hand. Parameters: ``org_id`` ($1), then the filters given, then ``limit``.
#
# The lead's cases are read in order from ix_cases_lead_org_id_updated_at_id. No index orders the
# cases of a care team by the case's `updated_at`, so those shapes walk ix_cases_updated_at_id in
# page order and test each case's membership with one index probe, stopping at the page size:
# the cost follows the page and the share of cases the caller serves, not the number of cases.
# `OFFSET 0` keeps that test a per-row probe (PostgreSQL would otherwise be free to hash every
# membership of the caller first, which grows with the data set).
_MEMBER = (
    "EXISTS (SELECT 1 FROM case_members m"
    " WHERE m.case_id = c.id AND m.org_id = $1 AND m.left_at IS NULL OFFSET 0)"
)
_ROLE = {
    "lead": "c.lead_org_id = $1",
    # The cases the caller serves on the care team of, without leading them.
    "care_team": f"c.lead_org_id <> $1 AND {_MEMBER}",
    # Both.
    None: f"(c.lead_org_id = $1 OR {_MEMBER})",
}


@cache
def list_query(role: str | None, status: bool, updated_since: bool, after: bool) -> Query:
    """The case-list statement for this shape: ``status``, ``updated_since`` and ``after`` say
    whether that filter (``after``: the cursor) is given. Its parameters: ``org_id``,
    [``status``], [``updated_since``], [``after_ts``, ``after_id``], ``limit``."""
    params = Placeholders("org_id")
    where = [_ROLE[role]]
    if status:
        where.append(f"c.status = {params.bind('status', 'text')}")
    if updated_since:
        where.append(f"c.updated_at >= {params.bind('updated_since', 'timestamptz')}")
    if after:
        where.append(f"(c.updated_at, c.id) > {params.cursor('after')}")
    # The walk reads only the index (ids, order, lead) up to the cap; the page's rows are then
    # loaded by primary key, in walk order.
    return params.query(
        f"SELECT {CASE_COLUMNS}, {POLICY_FACTS} FROM (SELECT c.id, c.updated_at FROM cases c"  # noqa: S608
        " WHERE " + " AND ".join(where) + f" ORDER BY c.updated_at, c.id LIMIT {PAGE_CAP}) page"
        " JOIN cases c ON c.id = page.id JOIN organizations o ON o.id = $1"
        " LEFT JOIN case_keys k ON k.case_id = c.id"
        f" ORDER BY page.updated_at, page.id LIMIT {params.bind('limit')}"
    )


_INSERT = Query(
    """
    INSERT INTO cases (id, reference, lead_org_id, external_ref_enc, gender, nationality,
                       languages, is_minor, age_band, given_name_enc, family_name_enc, aliases_enc,
                       date_of_birth_enc, birth_year_enc, contact_enc, guardian_enc,
                       exploitation_types, identified_on, identified_country, needs, risk_level,
                       external_ref_hash, interpreter_needed)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
            $20, $21, $22, $23)
    ON CONFLICT DO NOTHING
    RETURNING id
    """,
    ("id", "reference", "lead_org_id", "external_ref_enc", "gender", "nationality", "languages",
     "is_minor", "age_band", "given_name_enc", "family_name_enc", "aliases_enc",
     "date_of_birth_enc", "birth_year_enc", "contact_enc", "guardian_enc", "exploitation_types",
     "identified_on", "identified_country", "needs", "risk_level", "external_ref_hash",
     "interpreter_needed"),
)  # fmt: skip

_INSERT_KEY = Query(
    "INSERT INTO case_keys (case_id, wrapped_key, kek_id) VALUES ($1, $2, $3)",
    ("case_id", "wrapped_key", "kek_id"),
)

# By the blind index; a case whose lead changed reads its reference as external_ref until the new
# lead sets its own (see `set_lead`), so the reference is looked up there too.
_FIND_BY_REF = Query(
    """
    SELECT id FROM cases
    WHERE lead_org_id = $1
      AND (external_ref_hash = $2 OR (external_ref_hash IS NULL AND reference = $3))
    LIMIT 1
    """,
    ("lead_org_id", "external_ref_hash", "external_ref"),
)
_REFERENCE_TAKEN = Query("SELECT 1 FROM cases WHERE reference = $1", ("reference",))

_UPDATE = Query(
    """
    UPDATE cases SET
        external_ref_enc = $3, gender = $4, nationality = $5, languages = $6, is_minor = $7,
        age_band = $8, given_name_enc = $9, family_name_enc = $10, aliases_enc = $11,
        date_of_birth_enc = $12, birth_year_enc = $13, contact_enc = $14, guardian_enc = $15,
        exploitation_types = $16, identified_on = $17, identified_country = $18, needs = $19,
        risk_level = $20, external_ref_hash = $21, interpreter_needed = $22, updated_at = now(),
        version = version + 1
    WHERE id = $1 AND version = $2
    RETURNING version
    """,
    ("id", "expected_version", "external_ref_enc", "gender", "nationality", "languages", "is_minor",
     "age_band", "given_name_enc", "family_name_enc", "aliases_enc", "date_of_birth_enc",
     "birth_year_enc", "contact_enc", "guardian_enc", "exploitation_types", "identified_on",
     "identified_country", "needs", "risk_level", "external_ref_hash", "interpreter_needed"),
)  # fmt: skip

_CLOSE = Query(
    """
    UPDATE cases SET status = 'closed', close_reason_enc = $2, closed_at = now(),
                     updated_at = now(), version = version + 1
    WHERE id = $1 AND status = 'open'
    RETURNING version
    """,
    ("id", "reason_enc"),
)

_DESTROY_KEY = Query("DELETE FROM case_keys WHERE case_id = $1", ("case_id",))
_ERASE_IDENTITY = Query(
    """
    UPDATE cases SET given_name_enc = NULL, family_name_enc = NULL, aliases_enc = NULL,
                     date_of_birth_enc = NULL, birth_year_enc = NULL, contact_enc = NULL,
                     guardian_enc = NULL, identity_erased_at = now(), updated_at = now(),
                     version = version + 1
    WHERE id = $1
    """,
    ("id",),
)

# Timeline, consent and referral activity moves `updated_at` (what `updated_since` syncs on) but
# not `version`: the case's own fields did not change, so a held ETag stays good.
_TOUCH = Query("UPDATE cases SET updated_at = now() WHERE id = $1", ("id",))


def touching(case_id: str) -> str:
    """`_TOUCH` as the `WITH` of an insert into one of the case's lists (``case_id``: the
    insert's parameter naming the case, e.g. ``$2``): the case marked updated in the same
    statement, one round trip of the write's transaction rather than two."""
    return f"WITH touched AS ({_TOUCH.sql.replace('$1', case_id)})"


_SET_LEAD = Query(
    """
    UPDATE cases SET lead_org_id = $2, external_ref_enc = NULL, external_ref_hash = NULL,
                     updated_at = now(),
                     version = version + 1
    WHERE id = $1
    """,
    ("id", "lead_org_id"),
)

_END_REFERRAL_MEMBERSHIP = Query(
    "UPDATE case_members SET left_at = now() WHERE referral_id = $1 AND left_at IS NULL",
    ("referral_id",),
)

_ADD_MEMBER = Query(
    """
    INSERT INTO case_members (id, case_id, org_id, categories, referral_id)
    VALUES ($1, $2, $3, $4, $5)
    """,
    ("id", "case_id", "org_id", "categories", "referral_id"),
)
_LEAVE = Query(
    "UPDATE case_members SET left_at = now() "
    "WHERE case_id = $1 AND org_id = $2 AND left_at IS NULL",
    ("case_id", "org_id"),
)


# The same, locking the case row until the end of the transaction: every change that depends on
# who leads the case or what it holds (edits, consents, referrals, transfers) takes it first, so a
# concurrent transfer or revocation cannot slip between the check and the write. FOR UPDATE, not
# NO KEY UPDATE: a lead transfer and an `external_ref` edit change columns of a unique index
# (key columns to PostgreSQL), which would need the stronger lock later, behind any KEY SHARE a
# concurrent insert referring to the case holds: taking it first keeps that wait out.
#
# A lock that had to wait has a catch. READ COMMITTED rechecks only the locked row once the wait
# ends: the joined data key and the policy facts' subqueries still come from the snapshot the
# statement took before it waited. A write queued behind an identity erasure would seal its text
# with the destroyed key (text lost), one behind a consent revocation or a referral ending would
# be decided on the facts from before. So the statement also says whether the row it locked is
# a newer version than the one its snapshot sees (`moved`: the ctids differ). Every change to
# the policy's facts updates the case row in the transaction that holds its lock (an erasure, a
# lead transfer; consents, referral moves and timeline entries through `touch`/`touching`), so
# `moved` is true whenever the facts may have changed during the wait, and `load_for` then runs
# the statement again: the lock is already held, and the new snapshot sees what the other
# transaction committed. Without a wait (nearly always) the check is one more primary-key probe.
# The recheck can also drop the row: it tests the new lead against the old memberships, so a
# lead whose transfer was accepted meanwhile is, to it, neither lead nor member. PostgreSQL keeps
# the lock it took on the new version all the same, so an empty answer is read again too (a
# caller that is not linked to the case at all took no lock: one statement more, for a 404).
# (tests/api/test_lock_waits.py; every writer's case-row update: test_fact_changes_move_the_case.)
#
# The row also brings the case's audience (who hears of a change to it, app.domain.events): the
# organisations that may see it and the policy's facts about each. Read with the lock, under the
# same `moved` guarantee, they stay current until this transaction changes who sees the case
# itself, which it does inside `Outbox.watching` (that reads the audience afresh): the write's
# events then need no statement of their own to find their recipients.
_LOAD_FOR_UPDATE = Query(
    f"""
    SELECT {CASE_COLUMNS}, {POLICY_FACTS},
           c.ctid <> (SELECT s.ctid FROM cases s WHERE s.id = c.id) AS moved,
           {audience_facts()} AS audience
    {_FROM} {_LINKED}
    FOR UPDATE OF c
    """,  # noqa: S608 - constant text
    _LOAD_FOR.names,
)

# A case read (`GET /v1/cases/{id}`): `_LOAD_FOR` with `facts_digest`, the SHA-256 of the policy's
# facts about the caller and the case (the lead, the caller's memberships and kind, the consents
# addressed to it) as PostgreSQL prints them. Equal digests mean equal facts, and the policy is a
# pure function of its facts, the token's scopes and the time, so a decision the domain made on
# these facts (app.domain.facts.AccessMemo) still holds for a row with the same digest.
# READ_FOR_FROM and FACTS_DIGEST build other reads of a case with its digest (the care plan's):
# `SELECT l.*, {FACTS_DIGEST} AS facts_digest, ... {READ_FOR_FROM} ...`, $1 the caller's
# organisation, $2 the case.
# `OFFSET 0` keeps `l` a subquery of its own: flattened, each use of `l.member_categories` and
# `l.consents` (the columns and the digest) would run their subqueries again.
READ_FOR_FROM = f"FROM ({_LOAD_FOR.sql} OFFSET 0) l"
FACTS_DIGEST = (
    "sha256(convert_to(ROW(l.lead_org_id, "
    + ", ".join(f"l.{name}" for name in FIELDS)
    + ")::text, 'UTF8'))"
)
_READ_FOR = Query(
    f"SELECT l.*, {FACTS_DIGEST} AS facts_digest {READ_FOR_FROM}",
    _LOAD_FOR.names,
)
# `_READ_FOR` with the read's audit row appended in the same statement when the facts' digest is
# still the one the caller's remembered decision was made on (`audit_repo.appending(when=...)`).
_READ_AUDITED = audit_repo.appending(
    _READ_FOR, when=Query("r.facts_digest = $3::bytea", ("expected_digest",))
)


async def load_for(session: Session, org_id: UUID, case_id: UUID) -> CaseRow | None:
    """The case as ``org_id`` may know it (None when not linked to it)."""
    return CASE_ROWS.one(await session.fetchrow(_LOAD_FOR, org_id=org_id, case_id=case_id))


async def load_locked(session: Session, org_id: UUID, case_id: UUID) -> LockedCaseRow | None:
    """:func:`load_for` with the case's row locked until the transaction ends; the row, its
    facts and its audience are the ones current under the lock (read again when the locked row
    had moved: every change to them updates the case row, see `_LOAD_FOR_UPDATE`)."""
    row = LOCKED_CASE_ROWS.one(
        await session.fetchrow(_LOAD_FOR_UPDATE, org_id=org_id, case_id=case_id)
    )
    if row is None or row.moved:
        # Another transaction may have changed the case while this one waited for it: read
        # again (the lock, if the case is the caller's to lock, is held now: no wait this time).
        row = LOCKED_CASE_ROWS.one(
            await session.fetchrow(_LOAD_FOR_UPDATE, org_id=org_id, case_id=case_id)
        )
        assert row is None or not row.moved, "the row cannot move under this transaction's lock"
    return row


async def read_for(session: Session, org_id: UUID, case_id: UUID) -> DigestedCaseRow | None:
    """:func:`load_for` (unlocked) with the digest of the policy's facts."""
    return DIGESTED_CASE_ROWS.one(await session.fetchrow(_READ_FOR, org_id=org_id, case_id=case_id))


async def read_audited(
    session: Session,
    org_id: UUID,
    case_id: UUID,
    *,
    expected_digest: bytes,
    audit: Mapping[str, Any],
) -> AuditedCaseRow | None:
    """:func:`read_for`, appending the audit row ``audit`` (``AuditTrail.row``) in the same
    statement if the facts' digest is ``expected_digest``: one round trip. ``audited`` says
    whether it was; None (and nothing appended) when the caller is not linked to the case."""
    return AUDITED_CASE_ROWS.one(
        await session.fetchrow(
            _READ_AUDITED,
            audit_repo.appended_params(session, audit),
            org_id=org_id,
            case_id=case_id,
            expected_digest=expected_digest,
        )
    )


async def list_for(
    session: Session,
    *,
    org_id: UUID,
    role: str | None,
    status: str | None,
    updated_since: datetime | None,
    after_ts: datetime | None,
    after_id: UUID | None,
    limit: int,
) -> list[CaseRow]:
    if limit > PAGE_CAP:
        raise ValueError(f"a page holds at most {PAGE_CAP} rows")
    after = after_ts is not None
    query = list_query(role, status is not None, updated_since is not None, after)
    params: dict[str, Any] = {"org_id": org_id, "limit": limit}
    if status is not None:
        params["status"] = status
    if updated_since is not None:
        params["updated_since"] = updated_since
    if after:
        params.update(after_ts=after_ts, after_id=after_id)
    return CASE_ROWS.many(await session.fetch(query, params))


async def insert(session: Session, **values: Any) -> UUID | None:
    inserted: UUID | None = await session.fetchval(_INSERT, values)
    return inserted


async def insert_key(session: Session, **values: Any) -> None:
    await session.execute(_INSERT_KEY, values)


async def find_by_external_ref(
    session: Session, lead_org_id: UUID, external_ref: str, external_ref_hash: bytes
) -> UUID | None:
    """The lead's case with this external_ref (found by its blind index)."""
    found: UUID | None = await session.fetchval(
        _FIND_BY_REF,
        lead_org_id=lead_org_id,
        external_ref_hash=external_ref_hash,
        external_ref=external_ref,
    )
    return found


async def reference_taken(session: Session, reference: str) -> bool:
    return await session.fetchval(_REFERENCE_TAKEN, reference=reference) is not None


async def update(session: Session, **values: Any) -> int | None:
    version: int | None = await session.fetchval(_UPDATE, values)
    return version


async def close(session: Session, case_id: UUID, reason_enc: bytes) -> int | None:
    version: int | None = await session.fetchval(_CLOSE, id=case_id, reason_enc=reason_enc)
    return version


async def erase_identity(
    session: Session, case_id: UUID, *, new_wrapped_key: bytes, kek_id: str
) -> None:
    """Destroy the case's data key (and with it the identity and every free text it encrypted)
    and put a fresh one in its place for what is written afterwards."""
    from app.db.repositories import idempotency

    await session.execute(_DESTROY_KEY, case_id=case_id)
    await session.execute(_INSERT_KEY, case_id=case_id, wrapped_key=new_wrapped_key, kek_id=kek_id)
    await idempotency.erase_case(session, case_id)
    await session.execute(_ERASE_IDENTITY, id=case_id)


async def touch(session: Session, case_id: UUID) -> None:
    await session.execute(_TOUCH, id=case_id)


async def add_member(session: Session, **values: Any) -> None:
    await session.execute(_ADD_MEMBER, values)


async def set_lead(session: Session, case_id: UUID, lead_org_id: UUID) -> None:
    """Hand the case to a new lead. The old lead's external_ref means nothing to the new lead,
    so it is dropped and reads as the case reference until the new lead sets its own."""
    await session.execute(_SET_LEAD, id=case_id, lead_org_id=lead_org_id)


async def end_referral_membership(session: Session, referral_id: UUID) -> None:
    await session.execute(_END_REFERRAL_MEMBERSHIP, referral_id=referral_id)


async def remove_member(session: Session, case_id: UUID, org_id: UUID) -> None:
    await session.execute(_LEAVE, case_id=case_id, org_id=org_id)


# Several cases at once with the same facts as `_LOAD_FOR` (GraphQL loads a page of them per batch).
_LOAD_MANY_FOR = Query(
    f"""
    SELECT {CASE_COLUMNS}, {POLICY_FACTS} {_FROM}
    WHERE c.id = ANY ($2::uuid[]) AND (c.lead_org_id = $1 OR EXISTS (
        SELECT 1 FROM case_members m
        WHERE m.case_id = c.id AND m.org_id = $1 AND m.left_at IS NULL))
    """,  # noqa: S608 - constant text; every value is a bound parameter
    ("org_id", "case_ids"),
)


async def load_many_for(session: Session, org_id: UUID, case_ids: list[UUID]) -> list[CaseRow]:
    """The cases among ``case_ids`` this organisation leads or is on the care team of."""
    return CASE_ROWS.many(await session.fetch(_LOAD_MANY_FOR, org_id=org_id, case_ids=case_ids))
