"""The sync SDK client (generated from the async one) against the service.

It runs in a worker thread; :class:`tests.sdk.conftest.LoopTransport` hands each request to the
ASGI app on the test's event loop, where the app and its database pool live."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime

import pytest
from aftercare_client import (
    AftercareClient,
    Event,
    InvalidTransition,
    NotFound,
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
    for event in itertools.islice(stream, 20):
        seen.append(event)
        if event.type == "referral.accepted":
            stream.stop()
    return seen


async def test_sync_client_full_flow(recorder: Recorder, lead: Partner, clinic: Partner) -> None:
    with sync_client(recorder, lead) as hub, sync_client(recorder, clinic) as clinic_hub:
        seen = await asyncio.to_thread(flow, hub, clinic_hub, clinic)
    assert seen[-1].type == "referral.accepted"
    assert len(recorder.paths("POST", "/oauth/token")) == 2  # one token per client, reused
