"""The case-read decision memo (app.domain.facts.AccessMemo) and the horizon of a decision
(app.domain.access.decided_until), without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.db.policy_facts import ConsentFact
from app.domain.access import (
    LEAD,
    NO_ACCESS,
    CaseAccess,
    ConsentFacts,
    Relationship,
    Role,
    case_access,
    decided_until,
)
from app.domain.facts import AccessMemo
from app.domain.principal import Principal
from app.domain.scopes import ALL_SCOPES
from app.domain.vocabulary import Category

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
ORG = UUID(int=1)
CASE = UUID(int=10)
DIGEST = b"d" * 32
SEEN = CaseAccess(Role.CARE_TEAM, frozenset({Category.DEMOGRAPHICS}), frozenset())


def facts(
    obtained_at: datetime = NOW - HOUR,
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
) -> ConsentFacts:
    return ConsentFacts(frozenset({Category.MEDICAL}), obtained_at, expires_at, revoked_at, ORG)


def fact(**kw: datetime | None) -> ConsentFact:
    """A consent as the ``consents`` column holds it."""
    c = facts(**kw)  # type: ignore[arg-type]

    def iso(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment is not None else None

    return {
        "categories": [str(x) for x in c.categories],
        "obtained_at": c.obtained_at.isoformat(),
        "expires_at": iso(c.expires_at),
        "revoked_at": iso(c.revoked_at),
        "recipient_org_id": str(ORG),
        "recipient_kinds": None,
    }


def principal(*scopes: str, org: UUID = ORG) -> Principal:
    return Principal("client", org, frozenset(scopes or ("cases:read",)), UUID(int=9), 0)


class TestDecidedUntil:
    def test_no_consents_no_horizon(self) -> None:
        assert decided_until([], NOW) is None

    def test_the_next_expiry_or_start(self) -> None:
        consents = [
            facts(expires_at=NOW + 3 * HOUR),
            facts(obtained_at=NOW + 2 * HOUR),
            facts(expires_at=NOW - HOUR),  # already over: changes nothing later
        ]
        assert decided_until(consents, NOW) == NOW + 2 * HOUR

    def test_a_revoked_consent_never_counts_again(self) -> None:
        assert decided_until([facts(expires_at=NOW + HOUR, revoked_at=NOW - HOUR)], NOW) is None

    def test_an_edge_at_now_has_passed(self) -> None:
        # consent_is_active compares `expires_at > now`: at its expiry a consent is over.
        assert decided_until([facts(expires_at=NOW)], NOW) is None


_moments = st.integers(min_value=-10, max_value=10).map(lambda h: NOW + h * HOUR / 2)
_consents = st.lists(
    st.builds(
        ConsentFacts,
        categories=st.frozensets(st.sampled_from(list(Category))),
        obtained_at=_moments,
        expires_at=st.none() | _moments,
        revoked_at=st.none() | _moments,
        recipient_org_id=st.just(ORG),
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(
    consents=_consents,
    member=st.booleans(),
    shared=st.frozensets(st.sampled_from(list(Category))),
    scopes=st.frozensets(st.sampled_from(sorted(ALL_SCOPES))),
    later=st.integers(min_value=0, max_value=12),
)
def test_the_decision_holds_until_its_horizon(
    consents: list[ConsentFacts],
    member: bool,
    shared: frozenset[Category],
    scopes: frozenset[str],
    later: int,
) -> None:
    relationship = Relationship(Role.CARE_TEAM, shared) if member else LEAD

    def access(at: datetime) -> CaseAccess:
        return case_access(relationship, scopes, consents, org_id=ORG, org_kind="ngo", now=at)

    until = decided_until(consents, NOW)
    moment = NOW + later * HOUR / 4
    if until is None or moment < until:
        assert access(moment) == access(NOW)
    if until is not None:
        # The horizon is an instant the decision may change at, not an arbitrary one.
        assert any(until in (c.obtained_at, c.expires_at) for c in consents)


class TestAccessMemo:
    def test_remembers_per_organisation_scopes_and_case(self) -> None:
        memo = AccessMemo()
        memo.put(principal(), CASE, DIGEST, SEEN, [], NOW)
        decision = memo.get(principal(), CASE, NOW + 1000 * HOUR)
        assert decision is not None
        assert (decision.digest, decision.visible, decision.since, decision.until) == (
            DIGEST,
            SEEN.visible,
            NOW,
            None,
        )
        assert memo.get(principal("cases:read", "medical:read"), CASE, NOW) is None
        assert memo.get(principal(org=UUID(int=2)), CASE, NOW) is None
        assert memo.get(principal(), UUID(int=11), NOW) is None

    def test_not_used_from_its_horizon_on(self) -> None:
        memo = AccessMemo()
        memo.put(principal(), CASE, DIGEST, SEEN, [fact(expires_at=NOW + HOUR)], NOW)
        assert memo.get(principal(), CASE, NOW + HOUR - timedelta(microseconds=1)) is not None
        assert memo.get(principal(), CASE, NOW + HOUR) is None
        assert len(memo) == 0  # dropped

    def test_nothing_remembered_for_no_access(self) -> None:
        memo = AccessMemo()
        memo.put(principal(), CASE, DIGEST, NO_ACCESS, [], NOW)
        assert len(memo) == 0
        with pytest.raises(ValueError, match="at least one"):
            AccessMemo(0)  # off is no memo at all (AFTERCARE_ACCESS_MEMO_ENTRIES=0: None)

    def test_not_used_before_it_was_decided(self) -> None:
        """A clock set back: a consent starting between the new time and the decision's could
        make the remembered decision wrong, so the entry is not used (and dropped)."""
        memo = AccessMemo()
        memo.put(principal(), CASE, DIGEST, SEEN, [], NOW)
        assert memo.get(principal(), CASE, NOW - timedelta(microseconds=1)) is None
        assert memo.get(principal(), CASE, NOW) is None

    def test_the_same_categories_are_kept_once(self) -> None:
        memo = AccessMemo()
        for n in range(3):
            access = CaseAccess(Role.CARE_TEAM, frozenset({Category.DEMOGRAPHICS}), frozenset())
            memo.put(principal(), UUID(int=n), DIGEST, access, [], NOW)
        seen = [memo.get(principal(), UUID(int=n), NOW) for n in range(3)]
        assert all(d is not None for d in seen)
        assert len({id(d.visible) for d in seen if d is not None}) == 1

    def test_forget(self) -> None:
        memo = AccessMemo()
        memo.put(principal(), CASE, DIGEST, SEEN, [], NOW)
        memo.forget(principal(), CASE)
        memo.forget(principal(), CASE)  # twice: nothing to forget
        assert memo.get(principal(), CASE, NOW) is None

    def test_bounded_the_least_recently_used_go_first(self) -> None:
        memo = AccessMemo(100)
        for n in range(100):
            memo.put(principal(), UUID(int=n), DIGEST, SEEN, [], NOW)
        assert memo.get(principal(), UUID(int=0), NOW) is not None  # used: now the newest
        memo.put(principal(), UUID(int=5), DIGEST, SEEN, [], NOW)  # put again: not evicting
        assert len(memo) == 100
        for n in range(100, 250):
            memo.put(principal(), UUID(int=n), DIGEST, SEEN, [], NOW)
        assert len(memo) <= 100
        assert memo.get(principal(), UUID(int=249), NOW) is not None  # the newest stay
        assert memo.get(principal(), UUID(int=1), NOW) is None


def test_consent_fact_helper_round_trips() -> None:
    # (the helper above builds the column's JSON shape the memo reads its horizon from)
    raw: dict[str, Any] = dict(fact(expires_at=NOW + HOUR))
    assert raw["expires_at"] == (NOW + HOUR).isoformat()
