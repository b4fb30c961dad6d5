"""The access policy's loaded facts (app.db.policy_facts) turned into its inputs.

Statements select the facts next to the rows they decide about; these functions hand them to the
one policy (:mod:`app.domain.access`) for a caller (:func:`access_from_facts`) or for each
organisation related to a case (:func:`app.domain.events.audience_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
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
