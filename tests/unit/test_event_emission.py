"""Pure parts of emitting events: what changed, which referral event, the outbox's batching."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest

from app.db.repositories import events as repo
from app.db.repositories.events import AudienceRow
from app.domain.cases import FIELD_CATEGORIES, Identity, changed_categories
from app.domain.events import EventType, Outbox, SubjectType, check_data
from app.domain.journey_rules import risk_went_up
from app.domain.referral_rules import TRANSITIONS, ReferralStatus
from app.domain.referrals import STATUS_EVENTS, referral_event_data
from app.domain.vocabulary import Category

BEFORE: dict[str, Any] = {
    "gender": "female",
    "nationality": "MM",
    "languages": ["my"],
    "is_minor": False,
    "age_band": "25-34",
    "exploitation_types": ["labour"],
    "identified_on": date(2026, 10, 2),
    "identified_country": "TH",
    "needs": ["shelter"],
    "risk_level": "low",
}


class TestChangedCategories:
    def test_nothing_changed(self) -> None:
        assert changed_categories(BEFORE, dict(BEFORE), Identity(), Identity()) == frozenset()

    @pytest.mark.parametrize(
        ("field", "value", "category"),
        [
            ("gender", "male", Category.DEMOGRAPHICS),
            ("languages", ["my", "th"], Category.DEMOGRAPHICS),
            ("age_band", "18-24", Category.DEMOGRAPHICS),
            ("exploitation_types", ["sexual"], Category.EXPLOITATION),
            ("identified_on", date(2026, 10, 3), Category.EXPLOITATION),
            ("needs", ["medical"], Category.GENERAL),
            ("risk_level", "high", Category.GENERAL),
        ],
    )
    def test_each_field_names_its_category(
        self, field: str, value: Any, category: Category
    ) -> None:
        after = {**BEFORE, field: value}
        assert changed_categories(BEFORE, after, Identity(), Identity()) == {category}

    def test_identity(self) -> None:
        before = Identity(given_name="A", aliases=["x"])
        after = Identity(given_name="A", aliases=["x", "y"])
        assert changed_categories(BEFORE, BEFORE, before, after) == {Category.IDENTITY}
        assert (
            changed_categories(BEFORE, BEFORE, before, Identity(given_name="A", aliases=["x"]))
            == frozenset()
        )

    def test_the_leads_own_reference_is_no_category(self) -> None:
        assert "external_ref" not in FIELD_CATEGORIES


@pytest.mark.parametrize(
    ("before", "after", "raised"),
    [
        (None, "low", True),
        ("low", "medium", True),
        ("medium", "critical", True),
        ("high", "high", False),
        ("critical", "low", False),
        ("low", None, False),
        (None, None, False),
    ],
)
def test_risk_went_up(before: str | None, after: str | None, raised: bool) -> None:
    assert risk_went_up(before, after) is raised


def test_every_transition_target_has_its_event_and_data_is_id_only() -> None:
    for rule in TRANSITIONS.values():
        assert rule.target in STATUS_EVENTS
    assert STATUS_EVENTS[ReferralStatus.IN_PROGRESS] is EventType.REFERRAL_STARTED
    rid = uuid.uuid4()
    data = referral_event_data(rid, ReferralStatus.WITHDRAWN, reason_code="case_closed")
    assert check_data(data) == {
        "referral_id": str(rid),
        "status": "withdrawn",
        "reason_code": "case_closed",
    }
    assert "reason_code" not in referral_event_data(rid, ReferralStatus.DECLINED)


# -- the outbox's batch, against a recording stand-in for the repository ------------------------
class FakeRepo:
    def __init__(self, lead: uuid.UUID, members: dict[uuid.UUID, list[str]]) -> None:
        self.lead = lead
        self.members = members
        self.reads = 0
        self.appends: list[list[dict[str, Any]]] = []

    async def audience(self, session: Any, case_id: uuid.UUID) -> list[AudienceRow]:
        self.reads += 1
        rows = [AudienceRow(self.lead, self.lead, None, [], "ngo_shelter")]
        rows += [AudienceRow(o, self.lead, c, [], "ngo_shelter") for o, c in self.members.items()]
        return rows

    async def append(self, session: Any, rows: list[dict[str, Any]]) -> int:
        self.appends.append(rows)
        return 0


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeRepo:
    stand_in = FakeRepo(uuid.uuid4(), {uuid.uuid4(): ["medical"]})
    monkeypatch.setattr(repo, "audience", stand_in.audience)
    monkeypatch.setattr(repo, "append", stand_in.append)
    return stand_in


async def test_a_batch_reads_the_audience_once_and_appends_once(fake: FakeRepo) -> None:
    outbox = Outbox(None, fake.lead)  # type: ignore[arg-type]
    case_id = uuid.uuid4()
    async with outbox.batch():
        await outbox.to_case(EventType.CASE_UPDATED, case_id, categories=[Category.GENERAL])
        await outbox.to_case(EventType.CASE_CLOSED, case_id, data={"status": "closed"})
        await outbox.to_orgs(
            EventType.REFERRAL_WITHDRAWN,
            [fake.lead, *fake.members],
            subject=(SubjectType.REFERRAL, case_id),
        )
        assert fake.appends == []
    assert fake.reads == 1
    # demographics only for the member: no case.updated in general; the lead is the actor
    assert [[e["type"] for e in batch] for batch in fake.appends] == [
        ["case.closed", "referral.withdrawn"]
    ]


async def test_access_changes_come_last_and_an_error_writes_nothing(fake: FakeRepo) -> None:
    actor = uuid.uuid4()
    outbox = Outbox(None, actor)  # type: ignore[arg-type]
    case_id = uuid.uuid4()
    (member,) = fake.members
    async with outbox.batch():
        async with outbox.watching(case_id):
            fake.members = {}  # the member leaves
        await outbox.to_orgs(
            EventType.REFERRAL_COMPLETED,
            [member],
            subject=(SubjectType.REFERRAL, case_id),
        )
    assert [(e["type"], e["org_id"]) for e in fake.appends[0]] == [
        ("referral.completed", member),
        ("case.access_revoked", member),
    ]
    assert fake.appends[0][1]["data"] == {"visible_categories": []}
    fake.appends.clear()

    async def failing_change() -> None:
        async with outbox.batch():
            await outbox.to_case(EventType.CASE_CLOSED, case_id)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        await failing_change()
    assert fake.appends == []


def _facts(fake: FakeRepo) -> list[dict[str, Any]]:
    """The `audience` column of a locked case load, as the JSON decoder gives it."""
    return [
        {"org_id": str(o), "member_categories": c, "consents": [], "caller_kind": "ngo_shelter"}
        for o, c in [(fake.lead, None), *fake.members.items()]
    ]


async def test_a_known_audience_is_used_once_instead_of_a_read(fake: FakeRepo) -> None:
    """The locked load's audience spares the next event about the case its read; the one after
    reads again (what is known is what the lock saw, for the write that took it)."""
    outbox = Outbox(None, uuid.uuid4())  # type: ignore[arg-type]
    case_id = uuid.uuid4()
    (member,) = fake.members
    outbox.know_audience(case_id, fake.lead, _facts(fake))
    await outbox.to_case(EventType.CASE_CLOSED, case_id)
    assert fake.reads == 0
    assert {e["org_id"] for e in fake.appends[0]} == {fake.lead, member}
    # Another case's events read their own audience.
    await outbox.to_case(EventType.CASE_CLOSED, uuid.uuid4())
    assert fake.reads == 1
    await outbox.to_case(EventType.CASE_CLOSED, case_id)
    assert fake.reads == 2


async def test_watching_forgets_a_known_audience(fake: FakeRepo) -> None:
    """A change of who sees the case (inside `watching`) makes what the load knew stale: the
    events after it go to the audience read after the change."""
    outbox = Outbox(None, uuid.uuid4())  # type: ignore[arg-type]
    case_id = uuid.uuid4()
    (member,) = fake.members
    outbox.know_audience(case_id, fake.lead, _facts(fake))
    async with outbox.watching(case_id):
        fake.members = {}  # the member leaves
    assert fake.reads == 2  # before and after
    fake.appends.clear()
    await outbox.to_case(EventType.CASE_CLOSED, case_id)
    assert fake.reads == 3
    assert [e["org_id"] for e in fake.appends[0]] == [fake.lead]
    assert member not in {e["org_id"] for e in fake.appends[0]}


async def test_a_graphql_mutation_forgets_what_its_loads_knew(fake: FakeRepo) -> None:
    """A mutation runs in a savepoint; rolled back, it releases the case locks its loads took,
    so what they knew of who sees a case must not serve a later mutation (`Atomic`)."""
    from contextlib import asynccontextmanager
    from types import SimpleNamespace

    from app.api.graphql.field_extensions import Atomic

    outbox = Outbox(None, uuid.uuid4())  # type: ignore[arg-type]
    case_id = uuid.uuid4()

    class Savepoints:
        @asynccontextmanager
        async def savepoint(self) -> Any:
            yield

    info = SimpleNamespace(
        context=SimpleNamespace(
            session=Savepoints(),
            loaders=SimpleNamespace(clear_all=lambda: None),
            services=SimpleNamespace(ctx=SimpleNamespace(outbox=outbox)),
        )
    )

    async def failing(source: Any, info: Any) -> None:
        outbox.know_audience(case_id, fake.lead, _facts(fake))  # the mutation's locked load
        raise RuntimeError("the mutation fails after its load")

    with pytest.raises(RuntimeError):
        await Atomic().resolve_async(failing, None, info)  # type: ignore[arg-type]
    await outbox.to_case(EventType.CASE_CLOSED, case_id)
    assert fake.reads == 1  # read afresh, not what the rolled-back mutation knew
