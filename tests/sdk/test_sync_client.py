"""The sync SDK client (generated from the async one) against the service.

It runs in a worker thread; :class:`tests.sdk.conftest.LoopTransport` hands each request to the
ASGI app on the test's event loop, where the app and its database pool live."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aftercare_client import (
    AftercareClient,
    AsyncAftercareClient,
    Conflict,
    Event,
    InvalidTransition,
    NotFound,
    PreconditionFailed,
    SurvivorIn,
    ValidationFailed,
)

from tests.factories import Partner
from tests.sdk.conftest import Recorder, sync_client

SURVIVOR: SurvivorIn = {"gender": "female", "estimated_birth_year": 1999}
NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def flow(hub: AftercareClient, clinic_hub: AftercareClient, clinic: Partner) -> list[Event]:
    start = hub.events.list().next_cursor
    case = hub.cases.create(external_ref="SYNC-1", survivor=SURVIVOR, needs=["medical"])
    hub.consents.create(
        case.id,
        granted_by=["survivor"],
        recipient_org_id=clinic.org.id,
        categories=["medical"],
        purpose="medical follow-up",
        obtained_at=NOW,
    )
    referral = hub.referrals.create(
        case_id=case.id,
        to_org_id=clinic.org.id,
        service="medical",
        urgency="high",
        reason="Needs a check-up",
        shared_categories=["demographics", "medical"],
    )
    assert [r.id for r in clinic_hub.referrals.iter(direction="incoming")] == [referral.id]
    clinic_hub.referrals.accept(referral.id)
    with pytest.raises(InvalidTransition):
        clinic_hub.referrals.accept(referral.id)
    with pytest.raises(NotFound):
        hub.referrals.get(uuid.uuid4())
    with pytest.raises(ValidationFailed):
        hub.cases.create(external_ref="", survivor=SURVIVOR)
    assert [c.id for c in hub.cases.iter(status="open")] == [case.id]

    stream = hub.events.iter(after=start, wait=2)
    seen: list[Event] = []
    deadline = time.monotonic() + 60  # fail, never hang, if the event does not come
    for event in itertools.islice(stream, 20):
        seen.append(event)
        if event.type == "referral.accepted" or time.monotonic() > deadline:
            stream.stop()
    return seen


async def test_sync_client_full_flow(recorder: Recorder, lead: Partner, clinic: Partner) -> None:
    with sync_client(recorder, lead) as hub, sync_client(recorder, clinic) as clinic_hub:
        seen = await asyncio.to_thread(flow, hub, clinic_hub, clinic)
    assert seen[-1].type == "referral.accepted"
    assert len(recorder.paths("POST", "/oauth/token")) == 2  # one token per client, reused


def readme_snippet() -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## With the Python SDK", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.splitlines()) <= 10
    return code


async def test_the_readme_snippet_runs(
    recorder: Recorder, lead: Partner, clinic: Partner, clinic_hub: AsyncAftercareClient
) -> None:
    code = readme_snippet()
    hub = sync_client(recorder, lead)
    names: dict[str, Any] = {
        "CLIENT_ID": lead.client.client_id,
        "CLIENT_SECRET": lead.secret,
        "CLINIC_ORG_ID": clinic.org.id,
    }
    code = code.replace("from aftercare_client import AftercareClient\n", "")
    names["AftercareClient"] = lambda url, client_id, secret: hub
    running = asyncio.create_task(asyncio.to_thread(exec, code, names))
    try:
        for _ in range(1200):
            pending = await clinic_hub.referrals.list(direction="incoming", status="pending")
            if pending.items:
                await clinic_hub.referrals.accept(pending.items[0].id)
                break
            await asyncio.sleep(0.05)
        await asyncio.wait([running], timeout=90)
    finally:
        hub.close()  # a snippet still polling stops at its next request, so the thread ends
        await asyncio.wait([running], timeout=60)
    running.result()
    assert names["event"].type == "referral.accepted"
    assert names["event"].subject.id == names["ref"].id


def journey(hub: AftercareClient, lead: Partner) -> None:
    """The journey areas through the generated sync twin: legal, placements, follow-ups, log."""
    case = hub.cases.create(external_ref="SYNC-J", survivor=SURVIVOR)
    record = hub.legal.get(case.id)
    saved = hub.legal.replace(case.id, version=record.version, testimony={"status": "ready"})
    assert saved.version == 1 and saved.testimony.status == "ready"
    with pytest.raises(PreconditionFailed):
        hub.legal.replace(case.id, version=record.version)
    assert [r.case_id for r in hub.legal.iter_testimony(status="ready")] == [case.id]
    started = datetime.now(UTC) - timedelta(days=1)
    placement = hub.placements.create(
        case.id, org_id=lead.org.id, setting="ngo_shelter", started_at=started
    )
    assert [p.id for p in hub.placements.iter(case.id)] == [placement.id]
    assert list(hub.placements.iter_overdue_visits()) == []
    follow_up = hub.follow_ups.schedule(case.id, due_on=date.today())
    assert [f.id for f in hub.follow_ups.iter_due()] == [follow_up.id]
    hub.follow_ups.record(case.id, follow_up.id, contacted_at=datetime.now(UTC), outcome="stable")
    with pytest.raises(Conflict):
        hub.follow_ups.record(
            case.id, follow_up.id, contacted_at=datetime.now(UTC), outcome="stable"
        )
    assert "case.create" in [e.action for e in hub.cases.iter_access_log(case.id)]
    assert list(hub.services.iter_scheduled()) == []


async def test_sync_client_journey_areas(recorder: Recorder, lead: Partner) -> None:
    with sync_client(recorder, lead) as hub:
        await asyncio.to_thread(journey, hub, lead)
