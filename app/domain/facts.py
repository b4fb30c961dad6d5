"""The access policy's loaded facts (app.db.policy_facts) turned into its inputs.

Statements select the facts next to the rows they decide about; these functions hand them to the
one policy (:mod:`app.domain.access`) for a caller (:func:`access_from_facts`) or for each
organisation related to a case (:func:`app.domain.events.audience_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from app.db.policy_facts import ConsentFact
from app.domain.access import (
    LEAD,
    STRANGER,
    CaseAccess,
    ConsentFacts,
    Relationship,
    Role,
    case_access,
    decided_until,
)
from app.domain.principal import Principal
from app.domain.vocabulary import Category


def consent_facts(raw: Sequence[ConsentFact]) -> list[ConsentFacts]:
    """The ``consents`` policy fact (JSON, see app.db.policy_facts) as the policy's types."""
    return [
        ConsentFacts(
            categories=frozenset(Category(c) for c in item["categories"]),
            obtained_at=datetime.fromisoformat(item["obtained_at"]),
            expires_at=datetime.fromisoformat(item["expires_at"]) if item["expires_at"] else None,
            revoked_at=datetime.fromisoformat(item["revoked_at"]) if item["revoked_at"] else None,
            recipient_org_id=UUID(item["recipient_org_id"]) if item["recipient_org_id"] else None,
            recipient_kinds=frozenset(item["recipient_kinds"] or ()),
        )
        for item in raw
    ]


def access_from_facts(
    principal: Principal,
    now: datetime,
    *,
    lead_org_id: UUID,
    member_categories: Sequence[str] | None,
    consents: Sequence[ConsentFact],
    caller_kind: str,
) -> CaseAccess:
    """Feed the loaded facts (app.db.policy_facts) to the one access policy."""
    if lead_org_id == principal.org_id:
        relationship = LEAD
    elif member_categories is not None:
        relationship = Relationship(
            Role.CARE_TEAM, frozenset(Category(c) for c in member_categories)
        )
    else:
        relationship = STRANGER
    return case_access(
        relationship,
        principal.scopes,
        consent_facts(consents),
        org_id=principal.org_id,
        org_kind=caller_kind,
        now=now,
    )


class WithFacts(Protocol):
    """A row whose statement selected the policy's facts about its case (POLICY_FACTS) next to
    the case's lead."""

    @property
    def lead_org_id(self) -> UUID: ...
    @property
    def member_categories(self) -> Sequence[str] | None: ...
    @property
    def consents(self) -> Sequence[ConsentFact]: ...
    @property
    def caller_kind(self) -> str: ...


def access_of(row: WithFacts, principal: Principal, now: datetime) -> CaseAccess:
    """:func:`access_from_facts` for a row that carries its case's facts."""
    return access_from_facts(
        principal,
        now,
        lead_org_id=row.lead_org_id,
        member_categories=row.member_categories,
        consents=row.consents,
        caller_kind=row.caller_kind,
    )


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy decided a caller may read of a case, on facts whose digest is ``digest``
    (``app.db.repositories.cases.read_for``), at ``since``; it holds before ``until`` (None: for
    as long as the facts stay the same)."""

    digest: bytes
    visible: frozenset[Category]
    since: datetime
    until: datetime | None


class AccessMemo:
    """Per-process memo of the decisions behind case reads, so that a repeated read can append
    its audit row in the statement that reads the case (one round trip instead of two).

    The audit row of a read names the categories the caller may see, so it can only be written
    in the read's own statement if they are known before the read. An entry is the decision
    the policy made for (organisation, scopes, case) on facts with a given digest; the read's
    statement appends the row with the remembered categories only if the facts it reads still
    have that digest. The decision is still made again from the facts the read returns, and it
    is the same: the policy is a pure function of the facts, the token's scopes and the time,
    and an entry is used only from the instant it was decided at (a clock set back misses) until
    ``until`` (:func:`~app.domain.access.decided_until`). Facts that changed (a consent
    revoked, a membership ended, the lead transferred) fail the digest: nothing is appended,
    and the read decides and appends as without the memo.

    Nothing here decides access; an entry only says what the audit row will name. Bounded:
    when full, the least recently used tenth is dropped."""

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("an AccessMemo holds at least one entry (none: no memo)")
        self._entries: dict[tuple[UUID, frozenset[str], UUID], Decision] = {}
        self._max = max_entries
        # Decisions name few distinct sets of categories: each is kept once.
        self._visible: dict[frozenset[Category], frozenset[Category]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, principal: Principal, case_id: UUID, now: datetime) -> Decision | None:
        key = (principal.org_id, principal.scopes, case_id)
        entries = self._entries
        decision = entries.pop(key, None)
        if decision is None:
            return None
        if now < decision.since or (decision.until is not None and now >= decision.until):
            return None  # (dropped)
        entries[key] = decision  # the most recently used last
        return decision

    def put(
        self,
        principal: Principal,
        case_id: UUID,
        digest: bytes,
        access: CaseAccess,
        consents: Sequence[ConsentFact],
        now: datetime,
    ) -> None:
        """Remember ``access``, decided at ``now`` on facts with ``digest`` (``consents`` among
        them); nothing for a decision that shows nothing."""
        if not access.is_visible:
            return
        key = (principal.org_id, principal.scopes, case_id)
        entries = self._entries
        entries.pop(key, None)
        if len(entries) >= self._max:
            for stale in list(entries)[: self._max // 10 or 1]:
                del entries[stale]
        visible = self._visible.setdefault(access.visible, access.visible)
        until = decided_until(consent_facts(consents), now)
        entries[key] = Decision(digest, visible, now, until)

    def forget(self, principal: Principal, case_id: UUID) -> None:
        self._entries.pop((principal.org_id, principal.scopes, case_id), None)
