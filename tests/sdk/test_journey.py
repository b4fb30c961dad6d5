"""The async SDK client over the aftercare journey: the legal record and the testimony pull,
placements (home reviews, visits, overdue visits), follow-ups, the access log and scheduled
services and the report summary, each against the service, with the typed problem its misuse
raises."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import aftercare_client as sdk
import pytest
from aftercare_client import (
    AsyncAftercareClient,
    Conflict,
    NotFound,
    Page,
    PreconditionFailed,
    SurvivorIn,
    ValidationFailed,
)

from app.db.database import Database
from tests.factories import Factory, Partner
from tests.helpers import StatementCounter
from tests.sdk.conftest import Recorder

SURVIVOR: SurvivorIn = {"gender": "female", "estimated_birth_year": 1999}
NOW = datetime.now(UTC)
TESTIMONY: sdk.TestimonyIn = {
    "status": "in_preparation",
    "protective_measures": ["video_link", "support_person"],
    "next_session_at": datetime(2030, 12, 3, 9, tzinfo=UTC),
}


async def test_legal_record_with_version_and_the_testimony_pull(
    hub: AsyncAftercareClient, recorder: Recorder, database: Database
) -> None:
    case = await hub.cases.create(external_ref="LG-1", survivor=SURVIVOR)
    empty = await hub.legal.get(case.id)
    assert (empty.version, empty.updated_at, empty.documents) == (0, None, [])
    assert empty.testimony.status == "not_started" and empty.prosecution.status == "none"

    saved = await hub.legal.replace(
        case.id,
        version=empty.version,
        documents=[{"type": "passport", "status": "held_by_trafficker"}],
        testimony=TESTIMONY,
        prosecution={"status": "charged", "next_hearing_at": "2031-01-15T09:00:00Z"},
        immigration_relief={"type": "trafficking victim visa", "status": "applied"},
    )
    assert saved.version == 1 and isinstance(saved.updated_at, datetime)
    assert saved.documents == [sdk.LegalDocument(type="passport", status="held_by_trafficker")]
    assert saved.testimony.protective_measures == ["video_link", "support_person"]
    assert saved.testimony.next_session_at == datetime(2030, 12, 3, 9, tzinfo=UTC)
    assert saved.prosecution.next_hearing_at is not None
    assert saved.immigration_relief.status == "applied"
    put = recorder.paths("PUT", f"/v1/cases/{case.id}/legal")
    assert put[-1].request_headers["if-match"] == '"0"'
    assert put[-1].response_headers["etag"] == '"1"'
    assert await hub.legal.get(case.id) == saved

    with pytest.raises(PreconditionFailed) as stale:
        await hub.legal.replace(case.id, version=0, testimony={"status": "ready"})
    assert (stale.value.status, stale.value.code) == (412, "precondition_failed")
    with pytest.raises(ValidationFailed) as invalid:
        await hub.legal.replace(
            case.id, version=1, documents=[{"type": "passport", "status": "stolen"}]
        )
    assert invalid.value.code == "validation_error"
    assert invalid.value.errors[0]["loc"][:2] == ["body", "documents"]

    # The record is replaced whole: a part left out goes back to its default.
    ready = await hub.legal.replace(case.id, version=1, testimony={"status": "ready"})
    assert ready.version == 2 and ready.documents == [] and ready.prosecution.status == "none"

    other = await hub.cases.create(external_ref="LG-2", survivor=SURVIVOR)
    await hub.legal.replace(other.id, version=0, testimony=TESTIMONY)
    counter = StatementCounter()
    database.statement_hook = counter
    rows = [r async for r in hub.legal.iter_testimony()]
    database.statement_hook = None
    assert counter.count == 3, counter.statements  # token, the page, its audit row: no N+1
    assert sorted(r.reference for r in rows) == sorted([case.reference, other.reference])
    preparing = await hub.legal.testimony(status="in_preparation")
    assert isinstance(preparing, Page) and [r.case_id for r in preparing.items] == [other.id]
    assert isinstance(preparing.items[0], sdk.TestimonyRow)
    with pytest.raises(ValidationFailed):
        await hub.legal.testimony(status="nervous")


async def test_legal_record_of_a_case_not_yours_is_not_found(
    hub: AsyncAftercareClient, clinic_hub: AsyncAftercareClient
) -> None:
    case = await hub.cases.create(external_ref="LG-3", survivor=SURVIVOR)
    with pytest.raises(NotFound) as hidden:
        await clinic_hub.legal.get(case.id)
    assert (hidden.value.status, hidden.value.code) == (404, "not_found")


async def test_placements_home_reviews_visits_and_overdue_visits(
    hub: AsyncAftercareClient, factory: Factory, lead: Partner
) -> None:
    family = await factory.partner(name="Foster Family Network", kind="community_care")
    case = await hub.cases.create(external_ref="PL-1", survivor=SURVIVOR)
    rejected = await hub.placements.review_home(
        case.id, reviewed_at=NOW, result="rejected", notes="No room of her own"
    )
    assert rejected.result == "rejected" and rejected.reviewer_org_id == lead.org.id
    with pytest.raises(ValidationFailed) as refused:
        await hub.placements.create(
            case.id,
            org_id=family.org.id,
            setting="foster_family",
            started_at=NOW - timedelta(days=10),
            home_review_id=rejected.id,
        )
    assert (refused.value.status, refused.value.code) == (422, "validation_error")

    approved = await hub.placements.review_home(case.id, reviewed_at=NOW, result="approved")
    placement = await hub.placements.create(
        case.id,
        org_id=family.org.id,
        setting="foster_family",
        started_at=NOW - timedelta(days=10, minutes=-30),
        home_review_id=approved.id,
    )
    assert placement.home_review_id == approved.id and placement.ended_at is None
    assert placement.placed_by_org_id == lead.org.id

    with pytest.raises(Conflict) as second:
        await hub.placements.create(
            case.id, org_id=lead.org.id, setting="ngo_shelter", started_at=NOW
        )
    assert (second.value.status, second.value.code) == (409, "conflict")
    assert second.value.existing_id is None  # (only a duplicate external_ref names one)

    overdue = [o async for o in hub.placements.iter_overdue_visits()]
    assert [(o.placement_id, o.days_overdue) for o in overdue] == [(placement.id, 3)]
    assert overdue[0].case_reference == case.reference and overdue[0].last_visit_at is None
    visit = await hub.placements.visit(
        case.id, placement.id, visited_at=NOW - timedelta(hours=1), summary="Settling in well"
    )
    assert visit.placement_id == placement.id and visit.visitor_org_id == lead.org.id
    assert (await hub.placements.overdue_visits()).items == []

    ended = await hub.placements.end(case.id, placement.id, ended_at=NOW, exit_reason="transferred")
    assert ended.exit_reason == "transferred" and ended.ended_at is not None
    with pytest.raises(Conflict):
        await hub.placements.end(case.id, placement.id, ended_at=NOW, exit_reason="other")
    shelter = await hub.placements.create(
        case.id, org_id=lead.org.id, setting="ngo_shelter", started_at=NOW
    )
    page = await hub.placements.list(case.id, limit=1)
    assert [p.id for p in page.items] == [placement.id] and page.next_cursor is not None
    assert [p.id async for p in hub.placements.iter(case.id)] == [placement.id, shelter.id]
    with pytest.raises(ValidationFailed):  # visits are for community and foster placements
        await hub.placements.visit(case.id, shelter.id, visited_at=NOW, summary="Fine")


async def test_follow_ups_due_recorded_once_raising_the_risk(
    hub: AsyncAftercareClient, recorder: Recorder
) -> None:
    case = await hub.cases.create(external_ref="FU-1", survivor=SURVIVOR, risk_level="low")
    today = datetime.now(UTC).date()
    overdue = await hub.follow_ups.schedule(case.id, due_on=today - timedelta(days=3))
    later = await hub.follow_ups.schedule(case.id, due_on=(today + timedelta(days=30)).isoformat())
    assert overdue.outcome is None and isinstance(overdue.due_on, date)
    keys = {
        s.request_headers["idempotency-key"]
        for s in recorder.paths("POST", f"/v1/cases/{case.id}/follow-ups")
    }
    assert len(keys) == 2  # a create: one key per call

    due = await hub.follow_ups.due()
    assert [(d.id, d.days_overdue) for d in due.items] == [(overdue.id, 3)]
    assert due.items[0].case_reference == case.reference
    upcoming = [d.id async for d in hub.follow_ups.iter_due(due_before=today + timedelta(60))]
    assert upcoming == [overdue.id, later.id]

    recorded = await hub.follow_ups.record(case.id, overdue.id, contacted_at=NOW, outcome="at_risk")
    assert recorded.outcome == "at_risk" and recorded.contacted_at is not None
    assert (await hub.cases.get(case.id)).risk_level == "high"
    with pytest.raises(Conflict) as twice:
        await hub.follow_ups.record(case.id, overdue.id, contacted_at=NOW, outcome="stable")
    assert (twice.value.status, twice.value.code) == (409, "conflict")
    with pytest.raises(ValidationFailed):
        await hub.follow_ups.record(case.id, later.id, contacted_at=NOW, outcome="fine")
    with pytest.raises(NotFound):
        await hub.follow_ups.record(case.id, uuid.uuid4(), contacted_at=NOW, outcome="stable")


async def test_access_log_is_the_leads_only(
    hub: AsyncAftercareClient, clinic_hub: AsyncAftercareClient, lead: Partner
) -> None:
    case = await hub.cases.create(external_ref="AL-1", survivor=SURVIVOR)
    await hub.cases.get(case.id)
    log = await hub.cases.access_log(case.id, limit=1)
    assert len(log.items) == 1 and log.next_cursor is not None
    entries = [e async for e in hub.cases.iter_access_log(case.id)]
    assert [e.action for e in entries] == ["case.read", "case.create"]
    assert entries[0].org_id == lead.org.id and entries[0].client_id == lead.client.client_id
    assert isinstance(entries[0].occurred_at, datetime)
    assert entries[0].request_id  # the X-Request-ID to quote
    with pytest.raises(NotFound) as hidden:
        await clinic_hub.cases.access_log(case.id)
    assert (hidden.value.status, hidden.value.code) == (404, "not_found")


async def test_scheduled_services_across_cases(hub: AsyncAftercareClient, lead: Partner) -> None:
    first = await hub.cases.create(external_ref="SS-1", survivor=SURVIVOR)
    second = await hub.cases.create(external_ref="SS-2", survivor=SURVIVOR)
    soon, later = NOW + timedelta(days=2), NOW + timedelta(days=5)
    for case, when in ((second, later), (first, soon)):
        await hub.services.create(
            case.id,
            service="medical",
            category="medical",
            type="appointment",
            status="scheduled",
            provider_org_id=lead.org.id,
            scheduled_at=when,
        )
    rows = [s async for s in hub.services.iter_scheduled()]
    assert [(s.case_id, s.case_reference) for s in rows] == [
        (first.id, first.reference),
        (second.id, second.reference),
    ]
    assert isinstance(rows[0], sdk.ScheduledService) and isinstance(rows[0], sdk.ServiceRecord)
    near = await hub.services.scheduled(before=NOW + timedelta(days=3))
    assert [s.case_id for s in near.items] == [first.id]
    with pytest.raises(ValidationFailed) as naive:
        await hub.services.scheduled(before=datetime(2030, 1, 1))  # no offset
    assert naive.value.code == "validation_error"


async def test_the_report_summary_parses_and_suppresses(
    hub: AsyncAftercareClient, lead: Partner
) -> None:
    for n in range(6):
        await hub.cases.create(external_ref=f"RS-{n}", survivor=SURVIVOR)
    report = await hub.reports.summary()  # the twelve months that have ended: not this one
    assert isinstance(report, sdk.ReportSummary) and report.organization_id == lead.org.id
    assert report.period.months == 12 and report.period.end < NOW.date()
    assert (report.min_cell_size, report.band_width) == (5, 5)
    assert report.cases.opened == sdk.ReportCount(count=None, suppressed=True)
    assert all(isinstance(c, sdk.ReportCell) for c in report.cases.by_age_band)
    one = await hub.reports.summary(start_month="2025-01", end_month="2025-01")
    assert (one.period.start, one.period.end, one.period.months) == (
        date(2025, 1, 1),
        date(2025, 1, 31),
        1,
    )
    with pytest.raises(ValidationFailed) as backwards:
        await hub.reports.summary(start_month="2026-02", end_month="2026-01")
    assert [e["loc"] for e in backwards.value.errors] == [["query", "start_month"]]
