"""Every change the contract lists emits its events, to exactly the organisations the access
policy allows, with id-only payloads; rolled-back changes emit nothing; and no event, feed page or
log line ever carries survivor data (the canary test)."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.db.database import Database
from app.db.query import Query
from app.domain.events import EventType
from app.settings import Settings
from app.worker import Worker
from bench.receiver import Receiver
from tests.api.test_referrals import act, refer, referral_body
from tests.conftest import LOG_STREAM
from tests.factories import Factory, Partner, add_member, case_body
from tests.graphql.helpers import data_of, gql
from tests.helpers import StatementCounter, assert_problem, consent, iso, open_case
from tests.worker.conftest import add_webhook

CASES = "/v1/cases"
REF = "/v1/referrals"
NOW = datetime.now(UTC)
EVERYTHING = [
    "identity", "exploitation", "medical", "counseling", "legal", "education", "placement",
    "general",
]  # fmt: skip


@dataclass(frozen=True)
class Event:
    org_id: uuid.UUID
    type: str
    subject: tuple[str, str]
    case_id: str | None
    data: dict[str, Any]
    raw: str  # the whole row as text, `data::text` included
    id: str = ""


_ROWS = Query(
    "SELECT e.*, e.data::text AS data_text FROM events e ORDER BY txid, seq",
    (),
)


async def all_events(database: Database) -> list[Event]:
    session = database.session(transactional=False)
    try:
        records = await session.fetch(_ROWS)
    finally:
        await session.close()
    return [
        Event(
            r["org_id"],
            r["type"],
            (r["subject_type"], str(r["subject_id"])),
            str(r["case_id"]) if r["case_id"] else None,
            r["data"],
            repr(dict(r)),
            str(r["id"]),
        )
        for r in records
    ]


class Recorder:
    """The events written since the last look, per recipient."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.seen = 0

    async def new(self) -> list[Event]:
        events = await all_events(self.database)
        fresh, self.seen = events[self.seen :], len(events)
        return fresh

    async def by_org(self) -> dict[uuid.UUID, list[tuple[str, dict[str, Any]]]]:
        out: dict[uuid.UUID, list[tuple[str, dict[str, Any]]]] = {}
        for e in await self.new():
            out.setdefault(e.org_id, []).append((e.type, e.data))
        return out


@pytest.fixture
def recorder(database: Database) -> Recorder:
    return Recorder(database)


@pytest.fixture
async def counselor(factory: Factory) -> Partner:
    return await factory.partner(
        name="Hope Counselling", kind="counseling_provider", services=["counseling"]
    )


@pytest.fixture
async def shelter(factory: Factory) -> Partner:
    return await factory.partner(
        name="Provincial Shelter",
        kind="government_shelter",
        services=["shelter"],
        capacity=[("shelter", 1, 10)],
    )


def of(partner: Partner, got: dict[uuid.UUID, list[tuple[str, dict[str, Any]]]]) -> list[Any]:
    return got.get(partner.org.id, [])


async def patch(client: httpx.AsyncClient, lead: Partner, case_id: str, body: Any) -> None:
    response = await client.patch(
        f"{CASES}/{case_id}", json=body, headers=lead.headers_with(**{"If-Match": "*"})
    )
    assert response.status_code == 200, response.text


class TestReferralEvents:
    async def test_lifecycle_to_the_other_party_with_access_granted_then_revoked(
        self,
        client: httpx.AsyncClient,
        recorder: Recorder,
        lead: Partner,
        clinic: Partner,
        stranger: Partner,
        case: dict[str, Any],
    ) -> None:
        referral = await refer(client, lead, case, clinic)
        rid = referral["id"]
        got = await recorder.by_org()
        # the consent alone moves nobody's access: the clinic is not on the care team yet
        assert got == {
            clinic.org.id: [("referral.created", {"referral_id": rid, "status": "pending"})]
        }
        assert (await act(client, clinic, referral, "accept")).status_code == 200
        got = await recorder.by_org()
        # The clinic acted (no referral.accepted for it), but its access grew: that consequence
        # is announced to it too, so each of its systems learns it joined the case.
        assert got == {
            lead.org.id: [("referral.accepted", {"referral_id": rid, "status": "accepted"})],
            clinic.org.id: [
                ("case.access_granted", {"visible_categories": ["demographics", "medical"]})
            ],
        }
        assert (await act(client, clinic, referral, "start")).status_code == 200
        assert await recorder.by_org() == {
            lead.org.id: [("referral.started", {"referral_id": rid, "status": "in_progress"})]
        }
        done = await act(client, clinic, referral, "complete", outcome="Wound healed")
        assert done.status_code == 200
        got = await recorder.by_org()
        # Completing is the clinic's act and costs it the case: it hears of the loss.
        assert got == {
            lead.org.id: [
                (
                    "referral.completed",
                    {"referral_id": rid, "status": "completed", "outcome_code": "service_provided"},
                )
            ],
            clinic.org.id: [("case.access_revoked", {"visible_categories": []})],
        }
        assert stranger.org.id not in got
        events = await all_events(recorder.database)
        created = events[0]
        assert created.subject == ("referral", rid) and created.case_id == case["id"]

    async def test_decline_withdraw_and_fail(
        self,
        client: httpx.AsyncClient,
        recorder: Recorder,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
    ) -> None:
        first = await refer(client, lead, case, clinic)
        await recorder.new()
        await act(client, clinic, first, "decline", reason="No doctor this week")
        assert await recorder.by_org() == {
            lead.org.id: [
                (
                    "referral.declined",
                    {"referral_id": first["id"], "status": "declined", "reason_code": "other"},
                )
            ]
        }
        second = await refer(client, lead, case, clinic)
        await recorder.new()
        await act(client, lead, second, "withdraw", reason="Found another clinic")
        assert await recorder.by_org() == {
            clinic.org.id: [
                ("referral.withdrawn", {"referral_id": second["id"], "status": "withdrawn"})
            ]
        }
        third = await refer(client, lead, case, clinic)
        await act(client, clinic, third, "accept")
        await recorder.new()
        await act(client, clinic, third, "fail", reason="Could not reach her")
        assert await recorder.by_org() == {
            lead.org.id: [
                (
                    "referral.failed",
                    {"referral_id": third["id"], "status": "failed", "reason_code": "other"},
                )
            ],
            clinic.org.id: [("case.access_revoked", {"visible_categories": []})],
        }

    async def test_withdrawing_an_active_referral_revokes_the_receivers_access(
        self,
        client: httpx.AsyncClient,
        recorder: Recorder,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
    ) -> None:
        referral = await refer(client, lead, case, clinic)
        await act(client, clinic, referral, "accept")
        await recorder.new()
        await act(client, lead, referral, "withdraw", reason="Survivor moved away")
        assert await recorder.by_org() == {
            clinic.org.id: [
                ("referral.withdrawn", {"referral_id": referral["id"], "status": "withdrawn"}),
                ("case.access_revoked", {"visible_categories": []}),
            ]
        }

    async def test_lead_transfer(
        self,
        client: httpx.AsyncClient,
        recorder: Recorder,
        lead: Partner,
        clinic: Partner,
        counselor: Partner,
        shelter: Partner,
        case: dict[str, Any],
    ) -> None:
        member = await refer(client, lead, case, clinic)
        await act(client, clinic, member, "accept")
        pending = await refer(client, lead, case, counselor, service="counseling",
                              shared_categories=["demographics"])  # fmt: skip
        transfer = await refer(client, lead, case, shelter, service="shelter",
                               transfer_lead=True, shared_categories=EVERYTHING)  # fmt: skip
        await recorder.new()
        assert (await act(client, shelter, transfer, "accept")).status_code == 200
        got = await recorder.by_org()
        moved = {
            "lead_org_id": str(shelter.org.id),
            "previous_lead_org_id": str(lead.org.id),
            "referral_id": transfer["id"],
        }
        # The old lead stays on the care team with the categories it shared, as far as a consent
        # addressed to it covers them (none here): demographics.
        assert of(lead, got) == [
            ("referral.accepted", {"referral_id": transfer["id"], "status": "accepted"}),
            ("case.lead_transferred", moved),
            ("case.access_revoked", {"visible_categories": ["demographics"]}),
        ]
        assert of(clinic, got) == [("case.lead_transferred", moved)]
        assert of(counselor, got) == [
            (
                "referral.withdrawn",
                {
                    "referral_id": pending["id"],
                    "status": "withdrawn",
                    "reason_code": "lead_changed",
                },
            )
        ]
        # The new lead acted: no event for the transfer itself, but its access grew.
        assert of(shelter, got) == [
            ("case.access_granted", {"visible_categories": ["demographics", *EVERYTHING]})
        ]
        # The transfer ends: the old lead leaves the case altogether.
        await act(client, shelter, transfer, "complete", outcome="Handover done")
        got = await recorder.by_org()
        assert of(lead, got) == [
            (
                "referral.completed",
                {
                    "referral_id": transfer["id"],
                    "status": "completed",
                    "outcome_code": "service_provided",
                },
            ),
            ("case.access_revoked", {"visible_categories": []}),
        ]
        assert of(clinic, got) == []

    async def test_a_rolled_back_transition_emits_nothing(
        self,
        client: httpx.AsyncClient,
        recorder: Recorder,
        lead: Partner,
        factory: Factory,
        case: dict[str, Any],
    ) -> None:
        full = await factory.partner(
            name="Full Shelter", kind="ngo_shelter", services=["shelter"],
            capacity=[("shelter", 0, 10)],
        )  # fmt: skip
        referral = await refer(client, lead, case, full, service="shelter")
        await recorder.new()
        # The status moves first; finding no free place afterwards rolls everything back.
        assert_problem(await act(client, full, referral, "accept"), 409, "conflict")
        assert await recorder.new() == []
        got = (await client.get(f"{REF}/{referral['id']}", headers=lead.headers)).json()
        assert got["status"] == "pending"

    async def test_graphql_transition_emits_what_rest_does(
        self,
        client: httpx.AsyncClient,
        recorder: Recorder,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
    ) -> None:
        by_rest = await refer(client, lead, case, clinic)
        await act(client, clinic, by_rest, "accept")
        await act(client, clinic, by_rest, "complete", outcome="done")
        await recorder.new()
        by_graphql = await refer(client, lead, case, clinic)
        await recorder.new()
        data_of(
            await gql(
                client,
                clinic,
                "mutation ($id: UUID!) { acceptReferral(id: $id) { id status } }",
                {"id": by_graphql["id"]},
            )
        )
        assert await recorder.by_org() == {
            lead.org.id: [
                ("referral.accepted", {"referral_id": by_graphql["id"], "status": "accepted"})
            ],
            clinic.org.id: [
                ("case.access_granted", {"visible_categories": ["demographics", "medical"]})
            ],
        }


class TestCaseEvents:
    async def care_team(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        case_id: str,
        member: Partner,
        categories: list[str],
    ) -> None:
        await add_member(database, uuid.UUID(case_id), member.org.id, categories)
        await consent(client, lead, case_id, member, categories)

    async def test_case_updated_names_only_changed_categories_the_recipient_may_see(
        self,
        client: httpx.AsyncClient,
        database: Database,
        recorder: Recorder,
        lead: Partner,
        member: Partner,
        counselor: Partner,
        stranger: Partner,
    ) -> None:
        case = await open_case(client, lead, risk_level="low")
        cid = case["id"]
        await self.care_team(client, database, lead, cid, member, ["medical", "identity"])
        await self.care_team(client, database, lead, cid, counselor, ["general"])
        await recorder.new()
        await patch(
            client, lead, cid, {"survivor": {"given_name": "Renamed"}, "needs": ["medical"]}
        )
        got = await recorder.by_org()
        version = (await client.get(f"{CASES}/{cid}", headers=lead.headers)).json()["version"]
        assert of(member, got) == [
            ("case.updated", {"version": version, "categories": ["identity"]})
        ]
        assert of(counselor, got) == [
            ("case.updated", {"version": version, "categories": ["general"]})
        ]
        assert of(lead, got) == [] and of(stranger, got) == []
        # Demographics: every member sees it.
        await patch(client, lead, cid, {"survivor": {"languages": ["en"]}})
        got = await recorder.by_org()
        assert [t for t, _ in of(member, got)] == ["case.updated"]
        assert of(member, got)[0][1]["categories"] == ["demographics"]
        assert of(counselor, got)[0][1]["categories"] == ["demographics"]
        # Nothing really changed, or only the lead's own reference: no event.
        await patch(client, lead, cid, {"survivor": {"languages": ["en"]}})
        await patch(client, lead, cid, {"external_ref": "HL-NEW-REF"})
        assert await recorder.new() == []

    async def test_risk_raised_only_when_it_goes_up_and_only_to_general(
        self,
        client: httpx.AsyncClient,
        database: Database,
        recorder: Recorder,
        lead: Partner,
        member: Partner,
        counselor: Partner,
    ) -> None:
        case = await open_case(client, lead, risk_level="medium")
        cid = case["id"]
        await self.care_team(client, database, lead, cid, member, ["medical"])
        await self.care_team(client, database, lead, cid, counselor, ["general"])
        await recorder.new()
        await patch(client, lead, cid, {"risk_level": "critical"})
        got = await recorder.by_org()
        assert [t for t, _ in of(counselor, got)] == ["case.updated", "case.risk_raised"]
        assert of(counselor, got)[1][1] == {
            "risk_level": "critical",
            "previous_risk_level": "medium",
        }
        assert of(member, got) == []  # risk is `general`
        await patch(client, lead, cid, {"risk_level": "low"})
        got = await recorder.by_org()
        assert [t for t, _ in of(counselor, got)] == ["case.updated"]

    async def test_close_and_erase(
        self,
        client: httpx.AsyncClient,
        database: Database,
        recorder: Recorder,
        lead: Partner,
        member: Partner,
        counselor: Partner,
        stranger: Partner,
    ) -> None:
        case = await open_case(client, lead)
        cid = case["id"]
        await self.care_team(client, database, lead, cid, member, ["medical"])
        pending = await refer(client, lead, case, counselor, service="counseling",
                              shared_categories=["demographics"])  # fmt: skip
        await recorder.new()
        response = await client.delete(f"{CASES}/{cid}/survivor-identity", headers=lead.headers)
        assert response.status_code == 204
        assert await recorder.by_org() == {member.org.id: [("case.identity_erased", {})]}
        closed = await client.post(
            f"{CASES}/{cid}/close", json={"reason": "Moved abroad"}, headers=lead.headers
        )
        assert closed.status_code == 200
        got = await recorder.by_org()
        assert got == {
            member.org.id: [
                ("case.closed", {"status": "closed", "version": closed.json()["version"]})
            ],
            counselor.org.id: [
                (
                    "referral.withdrawn",
                    {
                        "referral_id": pending["id"],
                        "status": "withdrawn",
                        "reason_code": "case_closed",
                    },
                )
            ],
        }
        assert stranger.org.id not in got

    async def test_consent_grant_then_revoke_moves_access(
        self,
        client: httpx.AsyncClient,
        database: Database,
        recorder: Recorder,
        lead: Partner,
        member: Partner,
        case: dict[str, Any],
    ) -> None:
        cid = case["id"]
        await add_member(database, uuid.UUID(cid), member.org.id, ["medical", "legal"])
        await recorder.new()
        medical = await consent(client, lead, cid, member, ["medical"])
        assert await recorder.by_org() == {
            member.org.id: [
                ("case.access_granted", {"visible_categories": ["demographics", "medical"]})
            ]
        }
        await consent(client, lead, cid, member, ["legal", "counseling"])
        assert await recorder.by_org() == {
            member.org.id: [
                (
                    "case.access_granted",
                    {"visible_categories": ["demographics", "medical", "legal"]},
                )
            ]
        }
        revoked = await client.post(
            f"{CASES}/{cid}/consents/{medical['id']}/revoke",
            json={"reason": "Survivor asked"},
            headers=lead.headers,
        )
        assert revoked.status_code == 200
        # The lead revoked: `consent.revoked` (to the lead) reaches no one here.
        assert await recorder.by_org() == {
            member.org.id: [
                ("case.access_revoked", {"visible_categories": ["demographics", "legal"]})
            ]
        }
        again = await client.post(
            f"{CASES}/{cid}/consents/{medical['id']}/revoke",
            json={"reason": "twice"},
            headers=lead.headers,
        )
        assert_problem(again, 409, "invalid_transition")
        assert await recorder.new() == []
        # The member named by a consent records the survivor's withdrawal of it: the lead hears.
        named = await consent(client, lead, cid, member, ["counseling"])
        await recorder.new()
        withdrawn = await client.post(
            f"{CASES}/{cid}/consents/{named['id']}/revoke",
            json={"reason": "Told her counsellor"},
            headers=member.headers,
        )
        assert withdrawn.status_code == 200, withdrawn.text
        assert await recorder.by_org() == {
            lead.org.id: [("consent.revoked", {"consent_id": named["id"], "status": "revoked"})]
        }

    async def test_follow_up_recorded_to_general_audience(
        self,
        client: httpx.AsyncClient,
        database: Database,
        recorder: Recorder,
        lead: Partner,
        member: Partner,
        counselor: Partner,
        clinic: Partner,
        stranger: Partner,
    ) -> None:
        case = await open_case(client, lead, risk_level="low")
        cid = case["id"]
        await self.care_team(client, database, lead, cid, member, ["medical"])
        await self.care_team(client, database, lead, cid, counselor, ["general"])
        await self.care_team(client, database, lead, cid, clinic, ["general"])
        url = f"{CASES}/{cid}/follow-ups"

        async def record(who: Partner, outcome: str) -> str:
            scheduled = await client.post(
                url, json={"due_on": date.today().isoformat()}, headers=who.headers
            )
            assert scheduled.status_code == 201, scheduled.text
            fid: str = scheduled.json()["id"]
            await recorder.new()
            recorded = await client.post(
                f"{url}/{fid}/record",
                json={"contacted_at": iso(NOW), "outcome": outcome},
                headers=who.headers,
            )
            assert recorded.status_code == 200, recorded.text
            return fid

        # A member may report back in `general` without seeing it; it hears nothing of it.
        fid = await record(member, "at_risk")
        got = await recorder.by_org()
        expected = [
            ("follow_up.recorded", {"follow_up_id": fid, "outcome": "at_risk"}),
            ("case.risk_raised", {"risk_level": "high", "previous_risk_level": "low"}),
        ]
        assert got == {lead.org.id: expected, counselor.org.id: expected, clinic.org.id: expected}
        # The counsellor (entitled to general) records: not to itself, nor to the member.
        fid = await record(counselor, "stable")
        stable = [("follow_up.recorded", {"follow_up_id": fid, "outcome": "stable"})]
        assert await recorder.by_org() == {lead.org.id: stable, clinic.org.id: stable}
        assert stranger.org.id not in got

    async def test_placement_and_legal_changes_are_case_updated_in_their_category(
        self,
        client: httpx.AsyncClient,
        database: Database,
        recorder: Recorder,
        lead: Partner,
        member: Partner,
        counselor: Partner,
        case: dict[str, Any],
    ) -> None:
        cid = case["id"]
        await self.care_team(client, database, lead, cid, member, ["placement"])
        await self.care_team(client, database, lead, cid, counselor, ["legal"])
        await recorder.new()
        placed = await client.post(
            f"{CASES}/{cid}/placements",
            json={"org_id": str(lead.org.id), "setting": "ngo_shelter",
                  "started_at": iso(NOW - timedelta(days=1))},
            headers=lead.headers,
        )  # fmt: skip
        assert placed.status_code == 201, placed.text
        assert await recorder.by_org() == {
            member.org.id: [("case.updated", {"categories": ["placement"]})]
        }
        legal = await client.put(
            f"{CASES}/{cid}/legal",
            json={"prosecution": {"status": "investigation"}},
            headers=lead.headers_with(**{"If-Match": "*"}),
        )
        assert legal.status_code == 200, legal.text
        assert await recorder.by_org() == {
            counselor.org.id: [("case.updated", {"categories": ["legal"]})]
        }


class TestStatementCost:
    """Emitting costs one append per change and no audience read of its own when the change
    locked the case (the locked load brings the audience); an access change reads it twice:
    before and after. Whatever the number of events and recipients."""

    @staticmethod
    def event_statements(counter: StatementCounter) -> tuple[int, int]:
        reads = [
            s for s in counter.statements if "JOIN organizations o ON o.id = c.lead_org_id" in s
        ]
        appends = [s for s in counter.statements if "INSERT INTO events" in s]
        return len(reads), len(appends)

    async def test_an_edit_with_two_events_reads_once_and_appends_once(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        member: Partner,
        counselor: Partner,
    ) -> None:
        case = await open_case(client, lead, risk_level="low")
        for org in (member, counselor):
            await add_member(database, uuid.UUID(case["id"]), org.org.id, ["general"])
            await consent(client, lead, case["id"], org, ["general"])
        counter = StatementCounter()
        database.statement_hook = counter
        await patch(client, lead, case["id"], {"risk_level": "high", "needs": ["legal"]})
        database.statement_hook = None
        # 2 events x 2 recipients; their audience came with the locked case load
        assert self.event_statements(counter) == (0, 1)
        assert sum("AS audience" in s for s in counter.statements) >= 1

    async def test_a_referral_ending_reads_twice_and_appends_once(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
    ) -> None:
        referral = await refer(client, lead, case, clinic)
        await act(client, clinic, referral, "accept")
        counter = StatementCounter()
        database.statement_hook = counter
        await act(client, lead, referral, "withdraw", reason="no longer needed")
        database.statement_hook = None
        assert self.event_statements(counter) == (2, 1)  # before and after; one append


# -- the canary test ---------------------------------------------------------------------------
# Types only the worker emits (timed), or that belong to later issues (care plans, webhooks).
NOT_ON_THE_REQUEST_PATH = {
    EventType.REFERRAL_EXPIRED,
    EventType.PLACEMENT_VISIT_OVERDUE,
    EventType.WEBHOOK_DISABLED,
    EventType.WEBHOOK_TEST,
    EventType.GOAL_CREATED,
    EventType.GOAL_UPDATED,
    EventType.SERVICE_CREATED,
    EventType.SERVICE_UPDATED,
}

CANARY = {
    "given": "CANARY-GIVEN-Zq81",
    "family": "CANARY-FAMILY-Wv27",
    "alias": "CANARY-ALIAS-Hn55",
    "dob": "1999-07-13",
    "phone": "+66-CANARY-4410",
    "address": "CANARY-ADDRESS-Pq63",
    "guardian": "CANARY-GUARDIAN-Lm90",
    "external_ref": "CANARY-EXTREF-Tk12",
    "summary": "CANARY-SUMMARY-Bx04",
    "details": "CANARY-DETAILS-Rj73",
    "reason": "CANARY-REASON-Ue39",
    "purpose": "CANARY-PURPOSE-Yd18",
    "evidence": "CANARY-EVIDENCE-Gc66",
    "close": "CANARY-CLOSE-Nf21",
    "revoke": "CANARY-REVOKE-Va85",
    "decline": "CANARY-DECLINE-Ok47",
    "fail": "CANARY-FAIL-Ie52",
    "withdraw": "CANARY-WITHDRAW-Xs09",
    "outcome": "CANARY-OUTCOME-Mb33",
    "review": "CANARY-REVIEW-Qa76",
    "visit": "CANARY-VISIT-Dp14",
    "authorization": "CANARY-AUTH-Kr68",
    "relief": "CANARY-RELIEF-Ew29",
    "renamed": "CANARY-RENAMED-Fz40",
}


async def test_canary_no_survivor_data_in_any_event_feed_delivery_or_log(
    client: httpx.AsyncClient,
    app: FastAPI,
    settings: Settings,
    database: Database,
    lead: Partner,
    clinic: Partner,
    counselor: Partner,
    shelter: Partner,
    stranger: Partner,
) -> None:
    log_start = LOG_STREAM.seek(0, 2)
    c = CANARY
    # Every partner subscribes to everything, so every event is also delivered by a worker.
    receiver = await Receiver().start()
    key_wrapper = app.state.ctx.key_wrapper
    for partner in (lead, clinic, counselor, shelter, stranger):
        await add_webhook(database, key_wrapper, partner.org.id, receiver.url())
    body = case_body(
        external_ref=c["external_ref"],
        risk_level="low",
        guardian={"name": c["guardian"], "relationship": "aunt"},
    )
    body["survivor"] = {
        **body["survivor"],
        "given_name": c["given"],
        "family_name": c["family"],
        "aliases": [c["alias"]],
        "date_of_birth": c["dob"],
        "contact": {"phone": c["phone"], "address": c["address"]},
    }
    case = await open_case(client, lead, **{k: v for k, v in body.items()})
    cid = case["id"]
    h = lead.headers

    async def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, response.text
        return response.json() if response.content else {}

    async def grant(to: Partner, categories: list[str]) -> dict[str, Any]:
        return await ok(
            await client.post(
                f"{CASES}/{cid}/consents",
                json={"granted_by": ["survivor"], "recipient_org_id": str(to.org.id),
                      "categories": categories, "purpose": c["purpose"],
                      "evidence_ref": c["evidence"], "obtained_at": "2026-11-01T09:00:00Z"},
                headers=h,
            ),
            201,
        )  # fmt: skip

    async def send(to: Partner, service: str, shared: list[str], **kw: Any) -> dict[str, Any]:
        payload = referral_body(case, to, service=service, shared_categories=shared, **kw)
        payload["reason"] = c["reason"]
        return await ok(await client.post(REF, json=payload, headers=h), 201)

    # The clinic: a referral accepted, started; a consent revoked under it; completed.
    clinic_consent = await grant(clinic, ["medical", "general", "placement", "legal"])
    spare = await grant(clinic, ["identity"])
    treated = await send(
        clinic, "medical", ["medical", "general", "placement", "legal", "identity"]
    )
    await ok(await act(client, clinic, treated, "accept"))
    await ok(await act(client, clinic, treated, "start"))
    # Edits: identity, demographics, risk.
    await ok(
        await client.patch(
            f"{CASES}/{cid}",
            json={"survivor": {"given_name": c["renamed"], "languages": ["en"]},
                  "risk_level": "medium"},
            headers=lead.headers_with(**{"If-Match": "*"}),
        )
    )  # fmt: skip
    # Timeline, placements, legal, follow-up.
    await ok(
        await client.post(
            f"{CASES}/{cid}/updates",
            json={"kind": "note", "category": "medical", "occurred_at": iso(NOW),
                  "summary": c["summary"], "details": {"note": c["details"]}},
            headers=h,
        ),
        201,
    )  # fmt: skip
    review = await ok(
        await client.post(
            f"{CASES}/{cid}/home-reviews",
            json={"reviewed_at": iso(NOW), "result": "approved", "notes": c["review"]},
            headers=h,
        ),
        201,
    )
    placement = await ok(
        await client.post(
            f"{CASES}/{cid}/placements",
            json={"org_id": str(lead.org.id), "setting": "community_family",
                  "home_review_id": review["id"], "started_at": iso(NOW - timedelta(days=2))},
            headers=h,
        ),
        201,
    )  # fmt: skip
    purl = f"{CASES}/{cid}/placements/{placement['id']}"
    await ok(
        await client.post(
            f"{purl}/visits",
            json={"visited_at": iso(NOW - timedelta(hours=1)), "summary": c["visit"]},
            headers=h,
        ),
        201,
    )
    await ok(
        await client.post(
            f"{purl}/end",
            json={"ended_at": iso(NOW - timedelta(minutes=5)), "exit_reason": "other",
                  "authorization_ref": c["authorization"]},
            headers=h,
        )
    )  # fmt: skip
    await ok(
        await client.put(
            f"{CASES}/{cid}/legal",
            json={"immigration_relief": {"type": c["relief"], "status": "applied"}},
            headers=lead.headers_with(**{"If-Match": "*"}),
        )
    )
    follow_up = await ok(
        await client.post(
            f"{CASES}/{cid}/follow-ups", json={"due_on": date.today().isoformat()}, headers=h
        ),
        201,
    )
    await ok(
        await client.post(
            f"{CASES}/{cid}/follow-ups/{follow_up['id']}/record",
            json={"contacted_at": iso(NOW), "outcome": "re_exploited"},
            headers=h,
        )
    )
    await ok(
        await client.post(
            f"{CASES}/{cid}/consents/{spare['id']}/revoke",
            json={"reason": c["revoke"]},
            headers=clinic.headers,
        )
    )  # the clinic records the withdrawal: it loses identity (case.access_revoked), the lead
    # hears of it (consent.revoked)
    await grant(clinic, ["identity"])  # and gets it back: case.access_granted
    await ok(await act(client, clinic, treated, "complete", outcome=c["outcome"]))
    # The counsellor: declined, withdrawn, failed.
    declined = await send(counselor, "counseling", ["demographics"])
    await ok(await act(client, counselor, declined, "decline", reason=c["decline"]))
    withdrawn = await send(counselor, "counseling", ["demographics"])
    await ok(await act(client, lead, withdrawn, "withdraw", reason=c["withdraw"]))
    failed = await send(counselor, "counseling", ["demographics"])
    await ok(await act(client, counselor, failed, "accept"))
    await ok(await act(client, counselor, failed, "fail", reason=c["fail"]))
    # The shelter takes the lead; a pending referral is withdrawn by the hub.
    await send(counselor, "counseling", ["demographics"])
    await grant(shelter, EVERYTHING)
    transfer = await send(shelter, "shelter", EVERYTHING, transfer_lead=True)
    await ok(await act(client, shelter, transfer, "accept"))
    # The new lead erases the identity and closes the case.
    await ok(await client.delete(f"{CASES}/{cid}/survivor-identity", headers=shelter.headers), 204)
    await ok(
        await client.post(
            f"{CASES}/{cid}/close", json={"reason": c["close"]}, headers=shelter.headers
        )
    )
    assert clinic_consent["purpose"] == c["purpose"]  # the canaries really went in

    events = await all_events(database)
    covered = {EventType(e.type) for e in events}
    expected = set(EventType) - NOT_ON_THE_REQUEST_PATH
    assert covered == expected, sorted(expected ^ covered)

    # The worker delivers every event to its recipient's subscription.
    worker = Worker(
        settings.model_copy(update={"webhook_allow_private_networks": True}),
        database,
        key_wrapper,
        jobs=False,
    )
    running = asyncio.create_task(worker.run())
    try:
        assert await receiver.wait_for(len(events), timeout=30), (
            len(receiver.requests),
            len(events),
        )
    finally:
        worker.stop()
        await asyncio.wait_for(running, 15)
        await receiver.stop()
    bodies = [r.body.decode() for r in receiver.requests]
    assert {json.loads(b)["id"] for b in bodies} == {str(e.id) for e in events}

    pages: list[str] = []
    for partner in (lead, clinic, counselor, shelter, stranger):
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["after"] = after
            response = await client.get("/v1/events", params=params, headers=partner.headers)
            assert response.status_code == 200
            pages.append(response.text)
            page = response.json()
            after = page["next_cursor"]
            if not page["items"]:
                break
    LOG_STREAM.seek(log_start)
    logged = LOG_STREAM.read()
    LOG_STREAM.seek(0, 2)
    assert '"route":"/v1/cases/{case_id}/close"' in logged  # the requests above were logged
    for name, value in CANARY.items():
        for e in events:
            assert value not in e.raw, (name, e.type)
        for text in pages:
            assert value not in text, name
        for text in bodies:
            assert value not in text, name
        assert value not in logged, name
