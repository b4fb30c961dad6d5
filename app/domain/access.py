"""The one access policy: what an organisation may see and do of a case.

Every way out of the hub (REST, GraphQL, later webhooks and the change feed) asks these functions;
nothing else decides visibility. They are pure: the caller loads the facts (the organisation's
relationship to the case, its token's scopes, the consents addressed to it) and passes ``now``.

- The lead organisation is entitled to every category.
- A care-team member (an organisation with an accepted or in-progress referral) is entitled to
  ``demographics`` plus those of the referral's shared categories that an active consent still
  covers for it, at this moment.
- Anyone else is entitled to nothing, and must get the same 404 as for a case that does not exist.

A token's scopes then narrow what the entitlement allows (CONTRACT §2): reading a category needs its
read scope; writing needs the category's own write scope where it has one, else ``cases:write``.
Scope never widens what the relationship allows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from uuid import UUID

from app.domain.scopes import read_scope_for, write_scope_for
from app.domain.vocabulary import Category

ALL_CATEGORIES: frozenset[Category] = frozenset(Category)


class Role(StrEnum):
    LEAD = "lead"
    CARE_TEAM = "care_team"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ConsentFacts:
    """What consent coverage needs to know about one consent record."""

    categories: frozenset[Category]
    obtained_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    recipient_org_id: UUID | None = None
    recipient_kinds: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Relationship:
    role: Role
    shared: frozenset[Category] = frozenset()


STRANGER = Relationship(Role.NONE)
LEAD = Relationship(Role.LEAD)


@dataclass(frozen=True, slots=True)
class CaseAccess:
    role: Role
    visible: frozenset[Category]
    writable: frozenset[Category]

    @property
    def is_visible(self) -> bool:
        return self.role is not Role.NONE

    @property
    def is_lead(self) -> bool:
        return self.role is Role.LEAD

    def sees(self, category: Category) -> bool:
        return category in self.visible

    def sorted_visible(self) -> list[Category]:
        return sorted(self.visible, key=_ORDER.__getitem__)


_ORDER = {c: i for i, c in enumerate(Category)}
NO_ACCESS = CaseAccess(Role.NONE, frozenset(), frozenset())


def consent_is_active(consent: ConsentFacts, now: datetime) -> bool:
    # Revocation is immediate: its timestamp comes from the database clock, so comparing it
    # with this process's clock could keep a revoked consent alive for the skew between them.
    if consent.revoked_at is not None:
        return False
    if consent.obtained_at > now:
        return False
    return consent.expires_at is None or consent.expires_at > now


def decided_until(consents: Iterable[ConsentFacts], now: datetime) -> datetime | None:
    """Until when a decision made at ``now`` holds if the facts stay the same: the first instant
    after ``now`` at which a consent begins (``obtained_at``) or ends (``expires_at``); None
    when none does. Time enters the policy only through :func:`consent_is_active`, so
    :func:`case_access` answers the same at every instant of ``[now, decided_until)``."""
    edges = [
        edge
        for c in consents
        if c.revoked_at is None
        for edge in (c.obtained_at, c.expires_at)
        if edge is not None and edge > now
    ]
    return min(edges, default=None)


def consent_addresses(consent: ConsentFacts, org_id: UUID, org_kind: str) -> bool:
    if consent.recipient_org_id is not None:
        return consent.recipient_org_id == org_id
    return org_kind in consent.recipient_kinds


def consent_covers(
    consents: Iterable[ConsentFacts],
    category: Category,
    *,
    org_id: UUID,
    org_kind: str,
    now: datetime,
) -> bool:
    """Does an active consent cover ``category`` for this organisation now?"""
    return any(
        category in c.categories
        and consent_addresses(c, org_id, org_kind)
        and consent_is_active(c, now)
        for c in consents
    )


def covered_categories(
    consents: Iterable[ConsentFacts], *, org_id: UUID, org_kind: str, now: datetime
) -> frozenset[Category]:
    covered: set[Category] = set()
    for c in consents:
        if consent_addresses(c, org_id, org_kind) and consent_is_active(c, now):
            covered |= c.categories
    return frozenset(covered)


def entitled_categories(
    relationship: Relationship,
    consents: Iterable[ConsentFacts],
    *,
    org_id: UUID,
    org_kind: str,
    now: datetime,
) -> frozenset[Category]:
    if relationship.role is Role.LEAD:
        return ALL_CATEGORIES
    if relationship.role is Role.CARE_TEAM:
        covered = covered_categories(consents, org_id=org_id, org_kind=org_kind, now=now)
        return frozenset({Category.DEMOGRAPHICS}) | (relationship.shared & covered)
    return frozenset()


def case_access(
    relationship: Relationship,
    scopes: frozenset[str],
    consents: Iterable[ConsentFacts],
    *,
    org_id: UUID,
    org_kind: str,
    now: datetime,
) -> CaseAccess:
    """Which categories of a case this organisation, holding these scopes, may see and write."""
    if relationship.role is Role.NONE:
        return NO_ACCESS
    entitled = entitled_categories(
        relationship, consents, org_id=org_id, org_kind=org_kind, now=now
    )
    visible = entitled & readable_with(scopes)
    # Care-team members report back (closing the loop) in `general` even when they may not read it.
    may_write = entitled if relationship.role is Role.LEAD else entitled | {Category.GENERAL}
    # A category with its own write scope (legal:write, placements:write, ...) needs that scope;
    # the others need cases:write. Endpoints may ask for more (the timeline also needs
    # cases:write).
    writable = may_write & writable_with(scopes)
    return CaseAccess(relationship.role, visible, writable)


# A token's scopes are one of few sets, and a page of cases asks for each case: worked out once.
@lru_cache(maxsize=256)
def readable_with(scopes: frozenset[str]) -> frozenset[Category]:
    """The categories these scopes let a token read (entitlement aside)."""
    return frozenset(c for c in ALL_CATEGORIES if read_scope_for(c) in scopes)


@lru_cache(maxsize=256)
def writable_with(scopes: frozenset[str]) -> frozenset[Category]:
    """The categories these scopes let a token write (entitlement aside)."""
    return frozenset(c for c in ALL_CATEGORIES if (write_scope_for(c) or "cases:write") in scopes)
