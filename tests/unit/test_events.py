"""Pure rules of the outbox: payload whitelist, who may hear, access changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from app.db.repositories.events import AudienceRow
from app.domain.events import (
    DATA_KEYS,
    EventType,
    access_changes,
    audience_of,
    check_data,
    sorted_categories,
)
from app.domain.vocabulary import Category as C

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LEAD_ORG, CLINIC, LAWYER = uuid4(), uuid4(), uuid4()


class TestCheckData:
    def test_ids_codes_categories_and_versions_pass(self) -> None:
        referral = uuid4()
        assert check_data(
            {
                "referral_id": referral,
                "status": "accepted",
                "categories": {C.LEGAL, C.MEDICAL},
                "version": 3,
                "due_on": "2026-12-01",
            }
        ) == {
            "referral_id": str(referral),
            "status": "accepted",
            "categories": ["medical", "legal"],
            "version": 3,
            "due_on": "2026-12-01",
        }

    @pytest.mark.parametrize(
        "data",
        [
            {"name": "Ana"},  # not a key an event may carry
            {"summary": "x"},
            {"status": "Ana Lopez"},  # free text in an allowed key
            {"status": "1999-07-13T00:00:00"},
            {"category": "x" * 80},
            {"categories": ["medical", "has space"]},
            {"version": 1.5},
            {"referral_id": {"nested": "object"}},
        ],
    )
    def test_anything_else_is_refused(self, data: dict[str, object]) -> None:
        with pytest.raises(ValueError, match="event data"):
            check_data(data)

    def test_no_key_names_survivor_data(self) -> None:
        for word in ("name", "birth", "contact", "address", "phone", "summary", "reason"):
            assert not any(word in key for key in DATA_KEYS if key != "reason_code")


def member(org: UUID, categories: list[str], consents: list[dict[str, object]]) -> AudienceRow:
    return AudienceRow(org, LEAD_ORG, categories, consents, "medical_provider")  # type: ignore[arg-type]


def consent_to(org: UUID, categories: list[str], **kw: object) -> dict[str, object]:
    return {
        "categories": categories,
        "obtained_at": (NOW - timedelta(days=1)).isoformat(),
        "expires_at": None,
        "revoked_at": None,
        "recipient_org_id": str(org),
        "recipient_kinds": None,
        **kw,
    }


class TestAudience:
    def test_lead_sees_all_members_their_consented_share(self) -> None:
        rows = [
            AudienceRow(LEAD_ORG, LEAD_ORG, None, [], "ngo_shelter"),
            member(CLINIC, ["medical", "legal"], [consent_to(CLINIC, ["medical"])]),
            member(LAWYER, ["legal"], []),
        ]
        audience = audience_of(rows, NOW)
        assert audience[LEAD_ORG] == frozenset(C)
        assert audience[CLINIC] == {C.DEMOGRAPHICS, C.MEDICAL}
        assert audience[LAWYER] == {C.DEMOGRAPHICS}

    def test_an_expired_consent_no_longer_counts(self) -> None:
        expiring = consent_to(CLINIC, ["medical"], expires_at=NOW.isoformat())
        rows = [member(CLINIC, ["medical"], [expiring])]
        before = audience_of(rows, NOW - timedelta(microseconds=1))
        after = audience_of(rows, NOW)
        assert before[CLINIC] == {C.DEMOGRAPHICS, C.MEDICAL}
        assert after[CLINIC] == {C.DEMOGRAPHICS}


class TestAccessChanges:
    def test_shrink_grow_loss_and_gain(self) -> None:
        before = {
            CLINIC: frozenset({C.DEMOGRAPHICS, C.MEDICAL}),
            LAWYER: frozenset({C.DEMOGRAPHICS}),
        }
        after = {CLINIC: frozenset({C.DEMOGRAPHICS}), LEAD_ORG: frozenset(C)}
        changes = {(c.org_id, c.type): c.visible for c in access_changes(before, after)}
        assert changes == {
            (CLINIC, EventType.CASE_ACCESS_REVOKED): {C.DEMOGRAPHICS},
            (LAWYER, EventType.CASE_ACCESS_REVOKED): frozenset(),
            (LEAD_ORG, EventType.CASE_ACCESS_GRANTED): frozenset(C),
        }

    def test_swapping_categories_is_both(self) -> None:
        before = {CLINIC: frozenset({C.DEMOGRAPHICS, C.MEDICAL})}
        after = {CLINIC: frozenset({C.DEMOGRAPHICS, C.COUNSELING})}
        assert [c.type for c in access_changes(before, after)] == [
            EventType.CASE_ACCESS_REVOKED,
            EventType.CASE_ACCESS_GRANTED,
        ]

    def test_no_change_no_event(self) -> None:
        same = {CLINIC: frozenset({C.DEMOGRAPHICS})}
        assert access_changes(same, dict(same)) == []


def test_categories_sort_in_the_contracts_order() -> None:
    assert sorted_categories({C.GENERAL, C.IDENTITY, C.DEMOGRAPHICS}) == [
        "demographics",
        "identity",
        "general",
    ]


def test_a_long_poll_keeps_rechecking_a_while_after_a_wake_up() -> None:
    from app.domain.events import EventFeed, recheck_pause

    def pauses(wakes: list[bool]) -> list[float]:
        pause, seen = EventFeed.SAFETY_SECONDS, []
        for woken in wakes:
            pause = recheck_pause(
                pause,
                woken,
                EventFeed.RECHECK_SECONDS,
                EventFeed.LAST_RECHECK_SECONDS,
                EventFeed.SAFETY_SECONDS,
            )
            seen.append(pause)
        return seen

    # Silence stays silence; a wake-up whose event is not visible yet is looked for again
    # sooner than the safety interval, backing off, for about a second and a quarter.
    assert pauses([False, False]) == [5.0, 5.0]
    assert pauses([True, False, False, False, False, False, False]) == [
        0.02,
        0.04,
        0.08,
        0.16,
        0.32,
        0.64,
        5.0,
    ]
    assert pauses([True, False, True]) == [0.02, 0.04, 0.02]
