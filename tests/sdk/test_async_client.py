"""The async SDK client against the service: flows, tokens, problems, retries, idempotency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from aftercare_client import (
    AsyncAftercareClient,
    Case,
    Conflict,
    Event,
    InsufficientScope,
    InvalidTransition,
    NotFound,
    Page,
    PreconditionFailed,
    PreconditionRequired,
    Problem,
    Referral,
    SurvivorIn,
    TokenError,
    ValidationFailed,
)

from tests.factories import Factory, Partner
from tests.sdk.conftest import Recorder, async_client

SURVIVOR: SurvivorIn = {"gender": "female", "estimated_birth_year": 1999, "languages": ["my"]}
NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


async def open_and_refer(
    hub: AsyncAftercareClient, clinic: Partner, ref: str = "SDK-1"
) -> tuple[Case, Referral]:
    case = await hub.cases.create(external_ref=ref, survivor=SURVIVOR, needs=["medical"])
    await hub.consents.create(
        case.id,
        granted_by=["survivor"],
        recipient_org_id=clinic.org.id,
        categories=["medical"],
        purpose="medical follow-up",
        obtained_at=NOW,
    )
    referral = await hub.referrals.create(
        case_id=case.id,
        to_org_id=clinic.org.id,
        service="medical",
        urgency="high",
        reason="Needs a check-up",
        shared_categories=["demographics", "medical"],
    )
    return case, referral


async def test_full_flow_case_consent_referral_acceptance_event(
    hub: AsyncAftercareClient, clinic_hub: AsyncAftercareClient, clinic: Partner, lead: Partner
) -> None:
    me = await hub.organizations.me()
    assert me.id == lead.org.id and me.version >= 1

    start = await hub.events.list()  # the cursor before anything happened
    case, referral = await open_and_refer(hub, clinic)
    assert case.status == "open" and case.survivor is not None
    assert case.survivor.given_name is None and case.survivor.gender == "female"
    assert isinstance(case.created_at, datetime)
    assert referral.status == "pending" and referral.direction == "outgoing"

    incoming = [r async for r in clinic_hub.referrals.iter(direction="incoming")]
    assert [r.id for r in incoming] == [referral.id]
    assert incoming[0].preview is not None and incoming[0].preview.gender == "female"
    accepted = await clinic_hub.referrals.accept(referral.id)
    assert accepted.status == "accepted"

    stream = hub.events.iter(after=start.next_cursor, wait=2)
    seen: list[Event] = []

    async def until_accepted() -> None:
        async for event in stream:
            seen.append(event)
            if event.type == "referral.accepted":
                stream.stop()

    await asyncio.wait_for(until_accepted(), timeout=30)
    assert seen[-1].subject.id == referral.id and seen[-1].case_id == case.id
    assert stream.cursor is not None
    # The saved cursor resumes after what was handed out: nothing is seen twice.
    again = await hub.events.list(after=stream.cursor)
    assert referral.id not in [e.subject.id for e in again.items if e.type == "referral.accepted"]

    fetched = await clinic_hub.cases.get(case.id)
    assert fetched.role == "care_team" and "medical" in fetched.visible_categories


async def test_iterators_follow_next_cursor(hub: AsyncAftercareClient, recorder: Recorder) -> None:
    for n in range(3):
        await hub.cases.create(external_ref=f"IT-{n}", survivor=SURVIVOR)
    page = await hub.cases.list(status="open", limit=2)
    assert isinstance(page, Page) and len(page.items) == 2 and page.next_cursor is not None
    rest = await hub.cases.list(status="open", limit=2, cursor=page.next_cursor)
    assert len(rest.items) == 1 and rest.next_cursor is None
    refs = sorted([c.external_ref or "" async for c in hub.cases.iter(status="open")])
    assert refs == ["IT-0", "IT-1", "IT-2"]
    assert [c async for c in hub.cases.iter(status="closed")] == []
    found = [o async for o in hub.organizations.iter(kind="ngo_shelter", gender="female", age=30)]
    assert found and all(o.kind == "ngo_shelter" for o in found)


async def test_update_uses_version_for_if_match(hub: AsyncAftercareClient) -> None:
    case = await hub.cases.create(external_ref="V-1", survivor=SURVIVOR)
    updated = await hub.cases.update(case.id, version=case.version, risk_level="high")
    assert updated.risk_level == "high" and updated.version == case.version + 1
    with pytest.raises(PreconditionFailed) as stale:
        await hub.cases.update(case.id, version=case.version, risk_level="low")
    assert stale.value.status == 412 and stale.value.code == "precondition_failed"
    with pytest.raises(PreconditionRequired):
        await hub.request("PATCH", f"/v1/cases/{case.id}", json={"risk_level": "low"})
    closed = await hub.cases.close(case.id, reason="Moved on")
    assert closed.status == "closed" and closed.closed_at is not None


async def test_typed_problems(
    hub: AsyncAftercareClient, clinic_hub: AsyncAftercareClient, clinic: Partner
) -> None:
    with pytest.raises(NotFound) as missing:
        await hub.cases.get(uuid.uuid4())
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    assert missing.value.detail

    with pytest.raises(ValidationFailed) as invalid:
        await hub.cases.create(external_ref="has space", survivor=SURVIVOR)
    assert invalid.value.status == 422 and invalid.value.code == "validation_error"
    assert ["body", "external_ref"] in [e["loc"] for e in invalid.value.errors]

    _, referral = await open_and_refer(hub, clinic)
    await clinic_hub.referrals.accept(referral.id)
    with pytest.raises(InvalidTransition) as twice:
        await clinic_hub.referrals.decline(referral.id, reason="Full", reason_code="no_capacity")
    assert twice.value.status == 409 and twice.value.code == "invalid_transition"
    assert isinstance(twice.value, Problem)


async def test_referral_transitions_carry_codes(
    hub: AsyncAftercareClient, clinic_hub: AsyncAftercareClient, clinic: Partner
) -> None:
    _, first = await open_and_refer(hub, clinic, "T-1")
    declined = await clinic_hub.referrals.decline(
        first.id, reason="No bed", reason_code="no_capacity"
    )
    assert (declined.status, declined.reason_code) == ("declined", "no_capacity")
    _, second = await open_and_refer(hub, clinic, "T-2")
    await clinic_hub.referrals.accept(second.id)
    await clinic_hub.referrals.start(second.id)
    done = await clinic_hub.referrals.complete(
        second.id, outcome="Treated", outcome_code="goal_achieved"
    )
    assert (done.status, done.outcome_code) == ("completed", "goal_achieved")
    _, third = await open_and_refer(hub, clinic, "T-3")
    withdrawn = await hub.referrals.withdraw(third.id, reason="Changed plan")
    assert withdrawn.status == "withdrawn"
    _, fourth = await open_and_refer(hub, clinic, "T-4")
    await clinic_hub.referrals.accept(fourth.id)
    failed = await clinic_hub.referrals.fail(fourth.id, reason="Gone", reason_code="lost_contact")
    assert (failed.status, failed.reason_code) == ("failed", "lost_contact")
    assert (await hub.referrals.get(fourth.id)).status == "failed"
    assert len([r async for r in hub.referrals.iter(direction="outgoing")]) == 4


async def test_consents_updates_and_care_plan(
    hub: AsyncAftercareClient, clinic: Partner, lead: Partner
) -> None:
    case = await hub.cases.create(external_ref="CP-1", survivor=SURVIVOR)
    consent = await hub.consents.create(
        case.id,
        granted_by=["survivor"],
        recipient_org_id=clinic.org.id,
        categories=["medical"],
        purpose="care",
        obtained_at=NOW,
    )
    assert [c.id async for c in hub.consents.iter(case.id)] == [consent.id]
    revoked = await hub.consents.revoke(case.id, consent.id, reason="Asked to")
    assert revoked.status == "revoked" and revoked.revoked_at is not None

    update = await hub.updates.post(
        case.id, kind="note", category="general", occurred_at=NOW, summary="Settled in"
    )
    assert (await hub.updates.list(case.id)).items[0].id == update.id
    assert (await hub.updates.get(case.id, update.id)).summary == "Settled in"

    goal = await hub.goals.create(
        case.id, category="medical", title="Regain strength", owner_org_id=lead.org.id
    )
    goal = await hub.goals.progress(
        case.id, goal.id, status="on_hold", recorded_at=NOW, note="Walking daily"
    )
    assert goal.status == "on_hold" and goal.progress[-1].note == "Walking daily"
    service = await hub.services.create(
        case.id,
        service="medical",
        category="medical",
        type="appointment",
        status="scheduled",
        provider_org_id=lead.org.id,
        scheduled_at=datetime(2030, 1, 5, 10, tzinfo=UTC),
        goal_id=goal.id,
        codes=[{"system": "ICD-10", "code": "Z09"}],
    )
    assert service.codes[0].code == "Z09"
    plan = await hub.cases.care_plan(case.id)
    assert [g.id for g in plan.goals] == [goal.id] and [s.id for s in plan.services] == [service.id]
    done = await hub.services.update(
        case.id, service.id, version=service.version, status="attended", occurred_at=NOW
    )
    assert done.status == "attended"
    assert [s.id async for s in hub.services.iter(case.id)] == [service.id]
    assert [g.id async for g in hub.goals.iter(case.id)] == [goal.id]


async def test_webhook_management(hub: AsyncAftercareClient) -> None:
    created = await hub.webhooks.create(
        url="http://127.0.0.1:9/hook", event_types=["referral.accepted"], description="ours"
    )
    assert created.secret.startswith("whsec_") and created.status == "active"
    assert [w.id async for w in hub.webhooks.iter()] == [created.id]
    updated = await hub.webhooks.update(
        created.id, version=created.version, event_types=["*"], description="all"
    )
    assert updated.event_types == ["*"]
    rotated = await hub.webhooks.rotate_secret(created.id)
    assert rotated.secret.startswith("whsec_") and rotated.secret != created.secret
    ping = await hub.webhooks.test(created.id)
    attempts = await hub.webhooks.deliveries(created.id)
    assert attempts.items and attempts.items[0].event_type == "webhook.test"
    assert attempts.items[0].delivery_id == ping.delivery_id
    current = await hub.webhooks.get(created.id)
    await hub.webhooks.delete(created.id, version=current.version)
    with pytest.raises(NotFound):
        await hub.webhooks.get(created.id)


async def test_token_is_reused_then_refreshed_before_expiry(
    recorder: Recorder, lead: Partner
) -> None:
    now = [1000.0]
    async with async_client(recorder, lead, clock=lambda: now[0]) as hub:
        await hub.organizations.me()
        await hub.organizations.me()
        assert len(recorder.paths("POST", "/oauth/token")) == 1
        now[0] += 900 - 60 - 1  # default lifetime 15 min, refreshed 60 s before it ends
        await hub.organizations.me()
        assert len(recorder.paths("POST", "/oauth/token")) == 1
        now[0] += 2
        await hub.organizations.me()
        assert len(recorder.paths("POST", "/oauth/token")) == 2
    tokens = {
        s.request_headers["authorization"] for s in recorder.paths("GET", "/v1/organizations/me")
    }
    assert len(tokens) == 2


async def test_a_revoked_token_is_replaced_once(
    recorder: Recorder, lead: Partner, client: httpx.AsyncClient
) -> None:
    async with async_client(recorder, lead) as hub:
        token = await hub.access_token()
        revoked = await client.post(
            "/oauth/revoke", data={"token": token}, auth=(lead.client.client_id, lead.secret)
        )
        assert revoked.status_code == 200
        assert (await hub.organizations.me()).id == lead.org.id
    statuses = [s.status for s in recorder.paths("GET", "/v1/organizations/me")]
    assert statuses == [401, 200]
    assert len(recorder.paths("POST", "/oauth/token")) == 2


async def test_scopes_narrow_the_token(recorder: Recorder, lead: Partner) -> None:
    async with async_client(recorder, lead, scopes=["cases:read"]) as hub:
        assert [c async for c in hub.cases.iter()] == []
        with pytest.raises(InsufficientScope) as refused:
            await hub.cases.create(external_ref="S-1", survivor=SURVIVOR)
        assert (refused.value.status, refused.value.code) == (403, "insufficient_scope")
        assert refused.value.required_scopes == ["cases:write"]
    form = recorder.paths("POST", "/oauth/token")
    assert len(form) == 1


async def test_a_duplicate_reference_names_the_case_that_has_it(
    recorder: Recorder, lead: Partner
) -> None:
    async with async_client(recorder, lead) as hub:
        case = await hub.cases.create(external_ref="DUP-1", survivor=SURVIVOR)
        with pytest.raises(Conflict) as twice:
            await hub.cases.create(external_ref="DUP-1", survivor=SURVIVOR)
    assert (twice.value.status, twice.value.code) == (409, "conflict")
    assert twice.value.existing_id == str(case.id)


async def test_bad_credentials_raise_token_error(recorder: Recorder, factory: Factory) -> None:
    partner = await factory.partner()
    partner.secret = "wrong"
    async with async_client(recorder, partner) as hub:
        with pytest.raises(TokenError) as refused:
            await hub.organizations.me()
    assert (refused.value.status, refused.value.error) == (401, "invalid_client")


async def test_idempotency_key_is_reused_across_a_retry(
    recorder: Recorder, hub: AsyncAftercareClient
) -> None:
    """The first answer is lost on its way back (the case was created): the retry carries the
    same key, so the server replays the first answer instead of creating a second case."""
    lost: list[int] = []

    def lose_first_create(
        request: httpx.Request, response: httpx.Response
    ) -> httpx.Response | None:
        if request.method == "POST" and request.url.path == "/v1/cases" and not lost:
            lost.append(response.status_code)
            return httpx.Response(503, headers={"Retry-After": "0"}, json={"code": "x"})
        return None

    recorder.tamper = lose_first_create
    case = await hub.cases.create(external_ref="IDEM-1", survivor=SURVIVOR)
    assert lost == [201]
    posts = recorder.paths("POST", "/v1/cases")
    assert [p.status for p in posts] == [503, 201]
    keys = {p.request_headers["idempotency-key"] for p in posts}
    assert len(keys) == 1 and uuid.UUID(keys.pop()).version == 4
    assert posts[1].response_headers.get("idempotent-replayed") == "true"
    assert [c.id async for c in hub.cases.iter()] == [case.id]

    await hub.cases.create(external_ref="IDEM-2", survivor=SURVIVOR)
    all_keys = [p.request_headers["idempotency-key"] for p in recorder.paths("POST", "/v1/cases")]
    assert len(set(all_keys)) == 2  # a new logical call, a new key
