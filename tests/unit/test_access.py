"""The one access policy (app.domain.access), exhaustively and without a database.

The cross-product test compares ``case_access`` with ``expected_access`` below, a deliberately naive
restatement of the rules in the module docstring and CONTRACT §2 that does not call into the module
under test. Which consent states count as "covering" is written out by hand (``COVERS``), so the
consent-activity rules are not simply re-derived from the implementation either. Hand-written
concrete cases follow, so a shared misunderstanding cannot make both sides agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from app.domain.access import (
    LEAD,
    NO_ACCESS,
    STRANGER,
    CaseAccess,
    ConsentFacts,
    Relationship,
    Role,
    case_access,
    consent_addresses,
    consent_covers,
    consent_is_active,
    covered_categories,
    entitled_categories,
)
from app.domain.scopes import ALL_SCOPES
from app.domain.vocabulary import Category

C = Category
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)
DAY = timedelta(days=1)

ORG = UUID(int=1)
OTHER_ORG = UUID(int=2)
KIND = "ngo_shelter"
OTHER_KIND = "medical_provider"

# What the referral shares with the care-team member, and what its consent covers. They overlap in
# IDENTITY and MEDICAL only: PLACEMENT is shared but never consented, LEGAL the other way round.
SHARED = frozenset({C.IDENTITY, C.MEDICAL, C.PLACEMENT})
CONSENTED = frozenset({C.IDENTITY, C.MEDICAL, C.LEGAL})
UNRELATED = frozenset({C.LEGAL, C.COUNSELING})

EVERYTHING = frozenset(Category)
CASES_READ_CATEGORIES = frozenset({C.DEMOGRAPHICS, C.IDENTITY, C.EXPLOITATION, C.GENERAL})


def consent(
    categories: frozenset[Category] = CONSENTED,
    *,
    obtained_at: datetime = NOW - DAY,
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
    recipient_org_id: UUID | None = ORG,
    recipient_kinds: frozenset[str] = frozenset(),
) -> ConsentFacts:
    return ConsentFacts(
        categories=categories,
        obtained_at=obtained_at,
        expires_at=expires_at,
        revoked_at=revoked_at,
        recipient_org_id=recipient_org_id,
        recipient_kinds=recipient_kinds,
    )


def access(
    relationship: Relationship,
    scopes: frozenset[str] | set[str],
    consents: list[ConsentFacts] | tuple[ConsentFacts, ...] = (),
    *,
    org_kind: str = KIND,
) -> CaseAccess:
    return case_access(
        relationship, frozenset(scopes), consents, org_id=ORG, org_kind=org_kind, now=NOW
    )


# --- the cross product -----------------------------------------------------------------------

RELATIONSHIPS = {
    "lead": LEAD,
    "member": Relationship(Role.CARE_TEAM, SHARED),
    "stranger": STRANGER,
}

CONSENT_STATES: dict[str, list[ConsentFacts]] = {
    "none": [],
    "active": [consent()],
    "active_expiring_later": [consent(expires_at=NOW + DAY)],
    "revoked": [consent(revoked_at=NOW - DAY)],
    "revocation_scheduled": [consent(revoked_at=NOW + DAY)],
    "expired": [consent(expires_at=NOW - DAY)],
    "expires_now": [consent(expires_at=NOW)],
    "not_yet_obtained": [consent(obtained_at=NOW + DAY)],
    "other_org": [consent(recipient_org_id=OTHER_ORG)],
    "by_kind": [consent(recipient_org_id=None, recipient_kinds=frozenset({KIND, OTHER_KIND}))],
    "other_kind": [consent(recipient_org_id=None, recipient_kinds=frozenset({OTHER_KIND}))],
    "other_category": [consent(UNRELATED)],
}

# Written out by hand: which categories each state's consents cover for ORG (of kind KIND) at NOW.
COVERS: dict[str, frozenset[Category]] = {
    "none": frozenset(),
    "active": CONSENTED,
    "active_expiring_later": CONSENTED,
    "revoked": frozenset(),
    "revocation_scheduled": frozenset(),  # revocation counts at once, whatever its timestamp
    "expired": frozenset(),
    "expires_now": frozenset(),
    "not_yet_obtained": frozenset(),
    "other_org": frozenset(),
    "by_kind": CONSENTED,
    "other_kind": frozenset(),
    "other_category": UNRELATED,
}

SCOPE_SETS: dict[str, frozenset[str]] = {
    "all": ALL_SCOPES,
    "none": frozenset(),
    "cases_read": frozenset({"cases:read"}),
    "cases_rw": frozenset({"cases:read", "cases:write"}),
    "medical_rw": frozenset({"cases:read", "cases:write", "medical:read", "medical:write"}),
    "medical_read_only": frozenset({"medical:read"}),
    "category_writes_without_cases_write": frozenset(
        {"cases:read", "medical:read", "medical:write", "placements:write", "legal:write"}
    ),
    "writes_only": frozenset({"cases:write", "medical:write", "placements:write"}),
    "placement_and_legal": frozenset(
        {"cases:read", "cases:write", "placements:read", "placements:write", "legal:read"}
    ),
    "unrelated_scopes": frozenset({"referrals:read", "audit:read", "directory:write"}),
}

READ_SCOPE = {
    C.DEMOGRAPHICS: "cases:read",
    C.IDENTITY: "cases:read",
    C.EXPLOITATION: "cases:read",
    C.GENERAL: "cases:read",
    C.MEDICAL: "medical:read",
    C.COUNSELING: "counseling:read",
    C.LEGAL: "legal:read",
    C.EDUCATION: "education:read",
    C.PLACEMENT: "placements:read",
}
OWN_WRITE_SCOPE = {
    C.MEDICAL: "medical:write",
    C.COUNSELING: "counseling:write",
    C.LEGAL: "legal:write",
    C.EDUCATION: "education:write",
    C.PLACEMENT: "placements:write",
}


def expected_access(
    role: str, covered: frozenset[Category], scopes: frozenset[str]
) -> tuple[set[Category], set[Category]]:
    """The rules, restated as simply as possible: (visible, writable)."""
    if role == "stranger":
        return set(), set()
    entitled = {C.DEMOGRAPHICS} | (set(SHARED) & set(covered))
    if role == "lead":
        entitled = set(Category)
    visible = {c for c in entitled if READ_SCOPE[c] in scopes}
    writable_base = entitled | {C.GENERAL} if role == "member" else entitled
    writable = {c for c in writable_base if OWN_WRITE_SCOPE.get(c, "cases:write") in scopes}
    return visible, writable


@pytest.mark.parametrize("scope_name", list(SCOPE_SETS))
@pytest.mark.parametrize("state", list(CONSENT_STATES))
@pytest.mark.parametrize("role", list(RELATIONSHIPS))
def test_access_matrix(role: str, state: str, scope_name: str) -> None:
    scopes = SCOPE_SETS[scope_name]
    result = access(RELATIONSHIPS[role], scopes, CONSENT_STATES[state])
    visible, writable = expected_access(role, COVERS[state], scopes)
    assert set(result.visible) == visible
    assert set(result.writable) == writable
    assert result.role is RELATIONSHIPS[role].role
    assert result.is_visible is (role != "stranger")
    assert result.is_lead is (role == "lead")
    # Invariants that hold whatever the inputs.
    assert result.visible <= EVERYTHING
    assert result.writable <= EVERYTHING
    if role == "member":
        assert result.visible <= {C.DEMOGRAPHICS} | SHARED
        assert result.visible - {C.DEMOGRAPHICS} <= COVERS[state]
        assert result.writable <= {C.DEMOGRAPHICS, C.GENERAL} | (SHARED & COVERS[state])


def test_matrix_is_the_full_cross_product() -> None:
    # Guards against someone trimming a table and silently shrinking the matrix.
    assert set(COVERS) == set(CONSENT_STATES)
    assert len(RELATIONSHIPS) * len(CONSENT_STATES) * len(SCOPE_SETS) == 3 * 12 * 10


# --- hand-written concrete cases ---------------------------------------------------------------

MEMBER = Relationship(Role.CARE_TEAM, SHARED)


def test_member_with_active_consent_and_read_scopes() -> None:
    result = access(MEMBER, {"cases:read", "medical:read"}, [consent()])
    assert result.visible == {C.DEMOGRAPHICS, C.IDENTITY, C.MEDICAL}
    assert result.writable == frozenset()


def test_member_with_active_consent_and_every_scope() -> None:
    result = access(MEMBER, ALL_SCOPES, [consent()])
    assert result.visible == {C.DEMOGRAPHICS, C.IDENTITY, C.MEDICAL}
    assert result.writable == {C.DEMOGRAPHICS, C.IDENTITY, C.MEDICAL, C.GENERAL}
    assert result.sorted_visible() == [C.DEMOGRAPHICS, C.IDENTITY, C.MEDICAL]


def test_member_after_revocation_keeps_only_demographics() -> None:
    result = access(MEMBER, ALL_SCOPES, [consent(revoked_at=NOW - TICK)])
    assert result.visible == {C.DEMOGRAPHICS}
    assert result.writable == {C.DEMOGRAPHICS, C.GENERAL}
    assert result.is_visible
    assert not result.sees(C.IDENTITY)
    assert not result.sees(C.MEDICAL)


def test_member_with_one_active_and_one_revoked_consent() -> None:
    consents = [
        consent(frozenset({C.IDENTITY})),
        consent(frozenset({C.MEDICAL}), revoked_at=NOW - DAY),
    ]
    result = access(MEMBER, ALL_SCOPES, consents)
    assert result.visible == {C.DEMOGRAPHICS, C.IDENTITY}


def test_member_combines_consents_addressed_by_id_and_by_kind() -> None:
    consents = [
        consent(frozenset({C.IDENTITY})),
        consent(frozenset({C.PLACEMENT}), recipient_org_id=None, recipient_kinds=frozenset({KIND})),
    ]
    result = access(MEMBER, ALL_SCOPES, consents)
    assert result.visible == {C.DEMOGRAPHICS, C.IDENTITY, C.PLACEMENT}


def test_member_kind_consent_for_another_kind() -> None:
    by_kind = consent(recipient_org_id=None, recipient_kinds=frozenset({OTHER_KIND}))
    assert access(MEMBER, ALL_SCOPES, [by_kind]).visible == {C.DEMOGRAPHICS}
    # The same consent does reach a member of that kind.
    of_kind = access(MEMBER, ALL_SCOPES, [by_kind], org_kind=OTHER_KIND)
    assert of_kind.visible == {C.DEMOGRAPHICS, C.IDENTITY, C.MEDICAL}


def test_member_with_nothing_shared_sees_demographics_only() -> None:
    member = Relationship(Role.CARE_TEAM)
    result = access(member, ALL_SCOPES, [consent(EVERYTHING)])
    assert result.visible == {C.DEMOGRAPHICS}
    assert result.writable == {C.DEMOGRAPHICS, C.GENERAL}


def test_member_with_medical_read_but_no_cases_read() -> None:
    result = access(MEMBER, {"medical:read"}, [consent()])
    assert result.visible == {C.MEDICAL}


def test_lead_needs_no_consent() -> None:
    result = access(LEAD, ALL_SCOPES)
    assert result.visible == EVERYTHING
    assert result.writable == EVERYTHING
    assert result.is_lead
    assert result.sorted_visible() == list(Category)


def test_lead_with_write_scopes_but_no_read_scope() -> None:
    result = access(LEAD, {"cases:write", "medical:write"})
    assert result.visible == frozenset()
    assert result.writable == {
        C.DEMOGRAPHICS,
        C.IDENTITY,
        C.EXPLOITATION,
        C.GENERAL,
        C.MEDICAL,
    }


def test_lead_with_cases_read_and_write() -> None:
    result = access(LEAD, {"cases:read", "cases:write"})
    assert result.visible == CASES_READ_CATEGORIES
    assert result.writable == CASES_READ_CATEGORIES


def test_stranger_with_active_consent_and_every_scope_gets_nothing() -> None:
    result = access(STRANGER, ALL_SCOPES, [consent(EVERYTHING)])
    assert result == NO_ACCESS
    assert not result.is_visible
    assert result.sorted_visible() == []


# --- scope never widens -----------------------------------------------------------------------


def test_stranger_with_every_scope_sees_nothing() -> None:
    result = access(STRANGER, ALL_SCOPES, [consent(EVERYTHING)])
    assert result.role is Role.NONE
    assert result.visible == frozenset()
    assert result.writable == frozenset()


def test_member_with_every_scope_sees_only_demographics_and_consented_shared() -> None:
    result = access(MEMBER, ALL_SCOPES, [consent(EVERYTHING)])
    assert result.visible == {C.DEMOGRAPHICS} | SHARED
    for category in EVERYTHING - SHARED - {C.DEMOGRAPHICS}:
        assert not result.sees(category)


def test_lead_with_only_cases_read() -> None:
    result = access(LEAD, {"cases:read"})
    assert result.visible == {C.DEMOGRAPHICS, C.IDENTITY, C.EXPLOITATION, C.GENERAL}
    for category in (C.MEDICAL, C.COUNSELING, C.LEGAL, C.EDUCATION, C.PLACEMENT):
        assert not result.sees(category)
    assert result.writable == frozenset()


@pytest.mark.parametrize(
    ("category", "scope"),
    [
        (C.MEDICAL, "medical:read"),
        (C.COUNSELING, "counseling:read"),
        (C.LEGAL, "legal:read"),
        (C.EDUCATION, "education:read"),
        (C.PLACEMENT, "placements:read"),
    ],
)
def test_lead_reads_a_special_category_only_with_its_read_scope(
    category: Category, scope: str
) -> None:
    assert access(LEAD, {"cases:read", scope}).visible == CASES_READ_CATEGORIES | {category}
    assert access(LEAD, ALL_SCOPES - {scope}).visible == EVERYTHING - {category}


def test_member_writes_general_without_it_being_shared() -> None:
    result = access(MEMBER, {"cases:write"}, [consent()])
    assert C.GENERAL not in SHARED
    assert C.GENERAL in result.writable
    assert C.GENERAL not in result.visible
    assert result.writable == {C.DEMOGRAPHICS, C.IDENTITY, C.GENERAL}


def test_without_cases_write_only_categories_with_their_own_write_scope() -> None:
    result = access(MEMBER, ALL_SCOPES - {"cases:write"}, [consent(EVERYTHING)])
    entitled = {C.DEMOGRAPHICS, C.GENERAL} | SHARED
    assert result.writable == {c for c in entitled if c in OWN_WRITE_SCOPE}
    assert result.visible == {C.DEMOGRAPHICS} | SHARED


@pytest.mark.parametrize("relationship", [LEAD, MEMBER], ids=["lead", "member"])
def test_medical_write_needs_medical_write(relationship: Relationship) -> None:
    without = access(relationship, ALL_SCOPES - {"medical:write"}, [consent()])
    assert C.MEDICAL not in without.writable
    assert C.MEDICAL in without.visible
    with_it = access(relationship, {"cases:write", "medical:write"}, [consent()])
    assert C.MEDICAL in with_it.writable
    # The category's own write scope is what counts (the timeline route also needs cases:write).
    alone = access(relationship, {"medical:write"}, [consent()])
    assert alone.writable == {C.MEDICAL}


def test_member_cannot_write_a_category_it_is_not_entitled_to_whatever_its_scopes() -> None:
    result = access(MEMBER, ALL_SCOPES, [consent(UNRELATED)])
    assert result.writable == {C.DEMOGRAPHICS, C.GENERAL}
    assert C.LEGAL not in result.writable
    assert C.EXPLOITATION not in result.writable


def test_consents_may_be_any_iterable() -> None:
    gen = (c for c in [consent()])
    result = case_access(MEMBER, ALL_SCOPES, gen, org_id=ORG, org_kind=KIND, now=NOW)
    assert result.visible == {C.DEMOGRAPHICS, C.IDENTITY, C.MEDICAL}


# --- consent activity and coverage at the boundaries -----------------------------------------


@pytest.mark.parametrize(
    ("obtained_at", "expires_at", "revoked_at", "active"),
    [
        pytest.param(NOW - DAY, None, None, True, id="open_ended"),
        pytest.param(NOW, None, None, True, id="obtained_now"),
        pytest.param(NOW + TICK, None, None, False, id="obtained_just_after_now"),
        pytest.param(NOW - TICK, None, None, True, id="obtained_just_before_now"),
        pytest.param(NOW - DAY, NOW, None, False, id="expires_now"),
        pytest.param(NOW - DAY, NOW - TICK, None, False, id="expired_just_now"),
        pytest.param(NOW - DAY, NOW + TICK, None, True, id="expires_just_after_now"),
        pytest.param(NOW - DAY, None, NOW, False, id="revoked_now"),
        pytest.param(NOW - DAY, None, NOW - TICK, False, id="revoked_just_before_now"),
        # Revocation is immediate whatever its timestamp (clocks of app and database differ).
        pytest.param(NOW - DAY, None, NOW + TICK, False, id="revocation_in_the_future"),
        pytest.param(NOW - DAY, NOW + DAY, NOW + DAY, False, id="both_in_the_future"),
        pytest.param(NOW - DAY, NOW, NOW + DAY, False, id="revocation_later_but_expired"),
        pytest.param(NOW, NOW, None, False, id="obtained_and_expires_now"),
    ],
)
def test_consent_is_active_boundaries(
    obtained_at: datetime, expires_at: datetime | None, revoked_at: datetime | None, active: bool
) -> None:
    facts = consent(obtained_at=obtained_at, expires_at=expires_at, revoked_at=revoked_at)
    assert consent_is_active(facts, NOW) is active
    assert consent_covers([facts], C.IDENTITY, org_id=ORG, org_kind=KIND, now=NOW) is active
    expected = CONSENTED if active else frozenset()
    assert covered_categories([facts], org_id=ORG, org_kind=KIND, now=NOW) == expected


def test_consent_covers_only_its_categories() -> None:
    facts = [consent(frozenset({C.MEDICAL}))]
    for category in Category:
        covered = consent_covers(facts, category, org_id=ORG, org_kind=KIND, now=NOW)
        assert covered is (category is C.MEDICAL)


def test_consent_covers_needs_one_consent_to_do_it_all() -> None:
    # One consent for the category (but another org) and one active for this org (but another
    # category) do not add up to coverage.
    facts = [
        consent(frozenset({C.MEDICAL}), recipient_org_id=OTHER_ORG),
        consent(frozenset({C.LEGAL})),
        consent(frozenset({C.MEDICAL}), expires_at=NOW - DAY),
    ]
    assert not consent_covers(facts, C.MEDICAL, org_id=ORG, org_kind=KIND, now=NOW)
    assert consent_covers(facts, C.LEGAL, org_id=ORG, org_kind=KIND, now=NOW)
    assert covered_categories(facts, org_id=ORG, org_kind=KIND, now=NOW) == {C.LEGAL}


def test_consent_covers_nothing_without_consents() -> None:
    assert not consent_covers([], C.DEMOGRAPHICS, org_id=ORG, org_kind=KIND, now=NOW)
    assert covered_categories([], org_id=ORG, org_kind=KIND, now=NOW) == frozenset()


def test_covered_categories_unions_active_addressed_consents() -> None:
    facts = [
        consent(frozenset({C.IDENTITY})),
        consent(frozenset({C.MEDICAL}), recipient_org_id=None, recipient_kinds=frozenset({KIND})),
        consent(frozenset({C.LEGAL}), revoked_at=NOW - DAY),
        consent(frozenset({C.EDUCATION}), recipient_org_id=OTHER_ORG),
        consent(frozenset({C.COUNSELING}), obtained_at=NOW + DAY),
    ]
    assert covered_categories(facts, org_id=ORG, org_kind=KIND, now=NOW) == {
        C.IDENTITY,
        C.MEDICAL,
    }


@pytest.mark.parametrize(
    ("recipient_org_id", "recipient_kinds", "addressed"),
    [
        (ORG, frozenset(), True),
        (OTHER_ORG, frozenset(), False),
        (None, frozenset({KIND}), True),
        (None, frozenset({OTHER_KIND}), False),
        (None, frozenset(), False),
        # A named recipient is exact: the kinds do not widen it.
        (OTHER_ORG, frozenset({KIND}), False),
    ],
)
def test_consent_addresses(
    recipient_org_id: UUID | None, recipient_kinds: frozenset[str], addressed: bool
) -> None:
    facts = consent(recipient_org_id=recipient_org_id, recipient_kinds=recipient_kinds)
    assert consent_addresses(facts, ORG, KIND) is addressed


def test_entitled_categories_ignore_scopes_entirely() -> None:
    def entitled(relationship: Relationship, consents: list[ConsentFacts]) -> frozenset[Category]:
        return entitled_categories(relationship, consents, org_id=ORG, org_kind=KIND, now=NOW)

    assert entitled(LEAD, []) == EVERYTHING
    assert entitled(STRANGER, [consent(EVERYTHING)]) == frozenset()
    assert entitled(MEMBER, [consent()]) == {C.DEMOGRAPHICS, C.IDENTITY, C.MEDICAL}
    assert entitled(MEMBER, []) == {C.DEMOGRAPHICS}
