"""A response model's ``plain`` (what a page is answered from, through orjson) gives the bytes
its model's ``of`` gives through pydantic, for every shape of item."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from app.api.responses import model_response, page_response, view_response
from app.api.schemas.cases import CaseOut, UpdateOut
from app.api.schemas.events import EventOut, EventPageOut
from app.api.schemas.referrals import ReferralOut
from app.db.repositories.referrals import ReferralRow
from app.domain.access import CaseAccess, Role
from app.domain.cases import CaseView, Identity, Opened
from app.domain.crypto import DataKey
from app.domain.events import EventType, EventView, SubjectType
from app.domain.freetext import CaseText
from app.domain.pagination import Page
from app.domain.referral_rules import OutcomeCode, Party, ReasonCode, ReferralStatus
from app.domain.referrals import ReferralView, _view
from app.domain.updates import TimelineUpdate
from app.domain.vocabulary import (
    AgeBand,
    CaseStatus,
    Category,
    ExploitationType,
    Gender,
    RiskLevel,
    ServiceKind,
    UpdateKind,
    Urgency,
)

SENDER, RECEIVER = uuid.uuid4(), uuid.uuid4()


def _values(vocabulary: Any) -> st.SearchStrategy[str]:
    return st.sampled_from([str(v) for v in vocabulary])


instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)
)
maybe_instants = st.none() | instants
words = st.text(min_size=1, max_size=40)


@st.composite
def views(draw: st.DrawFn) -> ReferralView:
    """A referral as its sender or receiver sees it, its text sealed with a real data key."""
    referral_id, case_id = uuid.uuid4(), uuid.uuid4()
    text = CaseText(case_id, DataKey(case_id, os.urandom(32)), erased=False)
    seal = partial(text.seal, "referrals", referral_id)
    created = draw(instants)
    row = ReferralRow(
        id=referral_id,
        case_id=case_id,
        from_org_id=SENDER,
        to_org_id=RECEIVER,
        service=draw(_values(ServiceKind)),
        urgency=draw(_values(Urgency)),
        reason_enc=seal("reason", draw(words)),  # type: ignore[arg-type]
        shared_categories=draw(st.lists(_values(Category), max_size=3, unique=True)),
        respond_by=draw(maybe_instants),
        transfer_lead=draw(st.booleans()),
        stored_status=(status := draw(_values(ReferralStatus))),
        status=status,
        status_reason_enc=seal("status_reason", draw(st.none() | words)),
        outcome_enc=seal("outcome", draw(st.none() | words)),
        reason_code=draw(st.none() | _values(ReasonCode)),
        outcome_code=draw(st.none() | _values(OutcomeCode)),
        capacity_held=draw(st.booleans()),
        responded_at=draw(maybe_instants),
        started_at=draw(maybe_instants),
        ended_at=draw(maybe_instants),
        created_at=created,
        updated_at=created + timedelta(microseconds=draw(st.integers(0, 10**9))),
        version=draw(st.integers(1, 2**31)),
        case_reference=draw(st.text(min_size=1, max_size=12)),
        age_band=draw(_values(AgeBand)),
        gender=draw(_values(Gender)),
        languages=draw(st.lists(st.sampled_from(["en", "fr", "th", "uk"]), unique=True)),
        interpreter_needed=draw(st.booleans()),
        needs=draw(st.lists(_values(ServiceKind), max_size=3, unique=True)),
        is_minor=draw(st.booleans()),
        exploitation_types=draw(st.lists(_values(ExploitationType), max_size=2, unique=True)),
        identity_erased_at=None,
        wrapped_key=None,
        kek_id=None,
    )
    return _view(row, draw(st.sampled_from([SENDER, RECEIVER])), lambda: text)


def _through_the_model(views: list[ReferralView], next_cursor: str | None) -> bytes:
    models = [ReferralOut.of(v) for v in views]
    page = page_response(Page(models, next_cursor), ReferralOut, lambda m: m)
    return bytes(page.body)


@settings(max_examples=200)
@given(st.lists(views(), min_size=1, max_size=4), st.none() | st.text(max_size=20))
def test_a_page_of_plain_referrals_is_the_models_page_byte_for_byte(
    items: list[ReferralView], next_cursor: str | None
) -> None:
    plain = page_response(Page(items, next_cursor), ReferralOut, ReferralOut.plain)
    assert bytes(plain.body) == _through_the_model(items, next_cursor)
    assert plain.media_type == "application/json"


@given(views())
def test_a_plain_referral_leaves_out_what_the_model_leaves_out(view: ReferralView) -> None:
    plain = ReferralOut.plain(view)
    modelled = orjson.loads(ReferralOut.of(view).model_dump_json(exclude_unset=True))
    assert list(plain) == list(modelled)
    pending_receiver = view.party is Party.RECEIVER and view.row.status == ReferralStatus.PENDING
    assert ("preview" in plain) is pending_receiver


def test_an_empty_page_is_the_same_either_way() -> None:
    empty: Page[ReferralView] = Page([], None)
    plain = page_response(empty, ReferralOut, ReferralOut.plain)
    assert bytes(plain.body) == _through_the_model([], None) == b'{"items":[],"next_cursor":null}'


# -- the change feed ------------------------------------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@st.composite
def events(draw: st.DrawFn) -> EventView:
    """An event as the feed reads it back (its data a JSON object, as ``jsonb`` gives it)."""
    return EventView(
        id=uuid.uuid4(),
        type=draw(_values(EventType)),
        occurred_at=draw(instants),
        subject_type=draw(_values(SubjectType)),
        subject_id=uuid.uuid4(),
        case_id=draw(st.none() | st.builds(uuid.uuid4)),
        data=draw(st.dictionaries(st.text(max_size=12), json_values, max_size=4)),
        txid=draw(st.integers(1, 2**40)),
        seq=draw(st.integers(0, 1000)),
    )


@settings(max_examples=200)
@given(st.lists(events(), max_size=4), st.none() | st.text(max_size=20))
def test_a_plain_feed_page_is_the_models_page_byte_for_byte(
    items: list[EventView], next_cursor: str | None
) -> None:
    plain = view_response(
        {"items": [EventOut.plain(v) for v in items], "next_cursor": next_cursor or ""}
    )
    modelled = model_response(
        EventPageOut(items=[EventOut.of(v) for v in items], next_cursor=next_cursor or "")
    )
    assert bytes(plain.body) == bytes(modelled.body)


# -- cases ----------------------------------------------------------------------------------------
maybe_text = st.none() | st.text(max_size=12)


@st.composite
def contacts(draw: st.DrawFn) -> dict[str, Any] | None:
    """A contact as stored: none, empty, or some of its fields in any order."""
    names = draw(st.permutations(["phone", "email", "address"]))
    return draw(
        st.none()
        | st.fixed_dictionaries(
            {}, optional={n: maybe_text for n in names[: draw(st.integers(0, 3))]}
        )
    )


@st.composite
def identities(draw: st.DrawFn) -> Identity:
    guardian = draw(
        st.none()
        | st.fixed_dictionaries(
            {}, optional={"name": maybe_text, "relationship": maybe_text, "contact": contacts()}
        )
    )
    return Identity(
        given_name=draw(maybe_text),
        family_name=draw(maybe_text),
        aliases=draw(st.lists(st.text(max_size=8), max_size=2)),
        date_of_birth=draw(st.none() | st.dates()),
        estimated_birth_year=draw(st.none() | st.integers(1900, 2030)),
        contact=draw(contacts()),
        guardian=guardian,
    )


@st.composite
def cases(draw: st.DrawFn) -> CaseView:
    """A case as some caller sees it: each part shown or not, independently."""
    visible = frozenset(draw(st.lists(st.sampled_from(list(Category)), unique=True)))
    identity = draw(st.none() | identities())
    return CaseView(
        access=CaseAccess(draw(st.sampled_from([Role.LEAD, Role.CARE_TEAM])), visible, visible),
        id=uuid.uuid4(),
        reference=draw(st.text(min_size=1, max_size=12)),
        lead_org_id=uuid.uuid4(),
        status=draw(_values(CaseStatus)),
        created_at=(created := draw(instants)),
        updated_at=created,
        version=draw(st.integers(1, 2**31)),
        closed_at=draw(maybe_instants),
        demographics=draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "gender": _values(Gender),
                    "nationality": st.none() | st.sampled_from(["TH", "UA", "NG"]),
                    "languages": st.lists(st.sampled_from(["en", "th", "uk"]), unique=True),
                    "interpreter_needed": st.booleans(),
                    "is_minor": st.none() | st.booleans(),
                    "age_band": _values(AgeBand),
                }
            )
        ),
        identity_source=Opened(None if identity is None else (lambda: identity)),
        identity_erased=draw(st.booleans()),
        exploitation=draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "types": st.lists(_values(ExploitationType), unique=True),
                    "identified_on": st.none() | st.dates(),
                    "country": st.none() | st.sampled_from(["TH", "MY"]),
                }
            )
        ),
        general=draw(
            st.none()
            | st.fixed_dictionaries(
                {
                    "needs": st.lists(_values(ServiceKind), unique=True),
                    "risk_level": st.none() | st.just("") | _values(RiskLevel),
                }
            )
        ),
        loaded=None,  # type: ignore[arg-type]  # (what GraphQL reads nested lists with)
        external_ref_source=Opened(draw(st.none() | st.builds(lambda t: lambda: t, maybe_text))),
        close_reason_source=Opened(draw(st.none() | st.builds(lambda t: lambda: t, maybe_text))),
    )


@settings(max_examples=300)
@given(st.lists(cases(), min_size=1, max_size=3), st.none() | st.text(max_size=20))
def test_a_page_of_plain_cases_is_the_models_page_byte_for_byte(
    items: list[CaseView], next_cursor: str | None
) -> None:
    plain = page_response(Page(items, next_cursor), CaseOut, CaseOut.plain)
    models = [CaseOut.of(v) for v in items]
    modelled = page_response(Page(models, next_cursor), CaseOut, lambda m: m)
    assert bytes(plain.body) == bytes(modelled.body)


# -- the timeline ---------------------------------------------------------------------------------
@st.composite
def updates(draw: st.DrawFn) -> TimelineUpdate:
    """A timeline entry with its text opened; its details any JSON object, or none."""
    return TimelineUpdate(
        id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        author_org_id=uuid.uuid4(),
        kind=draw(_values(UpdateKind)),
        category=draw(_values(Category)),
        occurred_at=draw(instants),
        summary=draw(st.text(min_size=1, max_size=40)),
        details=draw(st.none() | st.dictionaries(st.text(max_size=12), json_values, max_size=4)),
        supersedes=draw(st.none() | st.builds(uuid.uuid4)),
        created_at=draw(instants),
    )


@settings(max_examples=200)
@given(st.lists(updates(), min_size=1, max_size=4), st.none() | st.text(max_size=20))
def test_a_plain_timeline_page_is_the_models_page_byte_for_byte(
    items: list[TimelineUpdate], next_cursor: str | None
) -> None:
    plain = page_response(Page(items, next_cursor), UpdateOut, UpdateOut.plain)
    models = [UpdateOut.of(v) for v in items]
    modelled = page_response(Page(models, next_cursor), UpdateOut, lambda m: m)
    assert bytes(plain.body) == bytes(modelled.body)
