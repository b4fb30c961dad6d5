"""The cases slice's typed rows above the db layer: consent status, addressing, the policy facts
as typed values, and free text read from typed rows (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from app.db.repositories.consents import ConsentRow
from app.db.repositories.updates import UpdateRow
from app.domain.access import ALL_CATEGORIES, ConsentFacts, Role
from app.domain.consents import Consent, addressed_to, consent_status
from app.domain.crypto import KeyWrapper
from app.domain.facts import access_from_facts, consent_facts
from app.domain.freetext import ERASED, CaseText
from app.domain.principal import Principal
from app.domain.scopes import read_scope_for
from app.domain.updates import TimelineUpdate, may_read_update
from app.domain.vocabulary import Category

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
CASE = UUID(int=0xC)
ROW = UUID(int=0x1)
ME = UUID(int=0x2)
LEAD = UUID(int=0x3)
KEK = bytes(range(32))
ALL_SCOPES = frozenset(read_scope_for(c) for c in Category)


def principal(org_id: UUID = ME) -> Principal:
    return Principal("client", org_id, ALL_SCOPES, UUID(int=0x99), 0)


# -- consent status -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("obtained", "expires", "revoked", "status"),
    [
        (-1, None, None, "active"),
        (-1, 1, None, "active"),
        (-2, -1, None, "expired"),
        (-2, 0, None, "expired"),  # expiry is exclusive: at expires_at it no longer holds
        (1, None, None, "pending"),
        (1, 2, None, "pending"),
        (-1, None, -0.5, "revoked"),
        (-2, -1, -1.5, "revoked"),  # revocation wins over expiry
        (1, None, 0, "revoked"),  # and over a pending start
    ],
)
def test_consent_status(
    obtained: float, expires: float | None, revoked: float | None, status: str
) -> None:
    def at(hours: float | None) -> datetime | None:
        return None if hours is None else NOW + timedelta(hours=hours)

    obtained_at = at(obtained)
    assert obtained_at is not None
    assert (
        consent_status(
            obtained_at=obtained_at, expires_at=at(expires), revoked_at=at(revoked), now=NOW
        )
        == status
    )


def consent_row(text: CaseText, **kw: object) -> ConsentRow:
    values: dict[str, object] = {
        "id": ROW,
        "case_id": CASE,
        "granted_by": ["survivor"],
        "recipient_org_id": ME,
        "recipient_kinds": [],
        "categories": ["medical"],
        "purpose_enc": text.seal("consents", ROW, "purpose", "treatment"),
        "obtained_at": NOW - timedelta(days=1),
        "expires_at": None,
        "evidence_ref_enc": None,
        "revoked_at": None,
        "revoke_reason_enc": None,
        "created_at": NOW,
        "updated_at": NOW,
        "version": 1,
        **kw,
    }
    return ConsentRow(**values)  # type: ignore[arg-type]


def case_text(*, erased: bool = False) -> CaseText:
    key, _ = KeyWrapper(KEK).new_data_key(CASE)
    return CaseText(CASE, key, erased=erased)


def test_consent_of_a_typed_row_opens_its_free_text_and_knows_its_status() -> None:
    text = case_text()
    row = consent_row(
        text,
        revoked_at=NOW - timedelta(hours=1),
        revoke_reason_enc=text.seal("consents", ROW, "revoke_reason", "withdrawn"),
    )
    consent = Consent.of(row, text)
    assert (consent.purpose, consent.evidence_ref, consent.revoke_reason) == (
        "treatment",
        None,
        "withdrawn",
    )
    assert consent.status(NOW) == "revoked"
    assert (consent.id, consent.categories, consent.version) == (ROW, ["medical"], 1)


def test_consent_text_under_a_destroyed_key_reads_as_erased() -> None:
    row = consent_row(case_text())
    consent = Consent.of(row, case_text(erased=True))  # another key: the old one was destroyed
    assert consent.purpose == ERASED


def test_consent_addressed_by_id_or_by_kind() -> None:
    text = case_text()
    by_id = consent_row(text)
    by_kind = consent_row(text, recipient_org_id=None, recipient_kinds=["medical_provider"])
    assert addressed_to(by_id, ME, "ngo_shelter")
    assert not addressed_to(by_id, LEAD, "ngo_shelter")
    assert addressed_to(by_kind, LEAD, "medical_provider")
    assert not addressed_to(by_kind, ME, "ngo_shelter")


def test_timeline_update_of_a_typed_row() -> None:
    text = case_text()
    row = UpdateRow(
        id=ROW,
        case_id=CASE,
        author_org_id=ME,
        kind="note",
        category="general",
        occurred_at=NOW,
        summary_enc=text.seal("case_updates", ROW, "summary", "visited"),  # type: ignore[arg-type]
        details_enc=text.seal("case_updates", ROW, "details", {"hours": 2}),
        supersedes=None,
        created_at=NOW,
    )
    update = TimelineUpdate.of(row, text)
    assert (update.summary, update.details, update.category) == ("visited", {"hours": 2}, "general")


# -- free text from typed rows ---------------------------------------------------------------------
def test_free_text_columns_are_opened_from_typed_rows() -> None:
    text = case_text()
    row = consent_row(text)
    assert text.open_column("consents", row, "purpose") == "treatment"
    assert text.open_column("consents", row, "revoke_reason") is None


# -- the policy facts as typed values -------------------------------------------------------------
def test_consent_facts_parse_the_json_fact() -> None:
    [facts] = consent_facts(
        [
            {
                "categories": ["medical", "counseling"],
                "obtained_at": "2026-11-01T09:00:00+00:00",
                "expires_at": None,
                "revoked_at": "2026-11-02T09:00:00.123456+00:00",
                "recipient_org_id": None,
                "recipient_kinds": ["medical_provider"],
            }
        ]
    )
    assert facts == ConsentFacts(
        categories=frozenset({Category.MEDICAL, Category.COUNSELING}),
        obtained_at=datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
        expires_at=None,
        revoked_at=datetime(2026, 11, 2, 9, 0, 0, 123456, tzinfo=UTC),
        recipient_org_id=None,
        recipient_kinds=frozenset({"medical_provider"}),
    )


def test_access_from_facts_for_lead_member_and_stranger() -> None:
    lead = access_from_facts(
        principal(LEAD), NOW, lead_org_id=LEAD, member_categories=None, consents=[],
        caller_kind="ngo_shelter",
    )  # fmt: skip
    assert lead.role is Role.LEAD and lead.visible == ALL_CATEGORIES
    consent = {
        "categories": ["medical"],
        "obtained_at": "2026-11-01T09:00:00+00:00",
        "expires_at": None,
        "revoked_at": None,
        "recipient_org_id": str(ME),
        "recipient_kinds": [],
    }
    member = access_from_facts(
        principal(), NOW, lead_org_id=LEAD, member_categories=["medical", "legal"],
        consents=[consent], caller_kind="medical_provider",  # type: ignore[list-item]
    )  # fmt: skip
    assert member.role is Role.CARE_TEAM
    assert member.visible == {Category.DEMOGRAPHICS, Category.MEDICAL}
    stranger = access_from_facts(
        principal(), NOW, lead_org_id=LEAD, member_categories=None, consents=[consent],  # type: ignore[list-item]
        caller_kind="medical_provider",
    )  # fmt: skip
    assert not stranger.is_visible


def test_may_read_update_visible_or_own_within_scopes() -> None:
    visible = {Category.GENERAL, Category.DEMOGRAPHICS}
    scopes = frozenset({"cases:read"})
    other = UUID(int=0x7)
    assert may_read_update("general", other, visible=visible, org_id=ME, scopes=scopes)
    assert not may_read_update("medical", other, visible=visible, org_id=ME, scopes=scopes)
    # Its own update off the consent: readable when the token may read the category.
    assert may_read_update(
        "medical", ME, visible=visible, org_id=ME, scopes=scopes | {"medical:read"}
    )
    assert not may_read_update("medical", ME, visible=visible, org_id=ME, scopes=scopes)
