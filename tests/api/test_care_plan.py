"""The care plan: goals, services still scheduled and attendance, as the caller may see them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import orjson
import pytest

from app.api.schemas.care_plan import CarePlanOut
from app.db.database import Database
from app.db.repositories import care_plan as repo
from app.domain.audit import audit_row
from tests.api.test_goals import create_goal, goal_body, on_care_team, progress_body
from tests.api.test_services import create_service, service_body
from tests.factories import Factory, Partner
from tests.helpers import (
    StatementCounter,
    assert_forbidden,
    assert_problem,
    assert_unauthorized,
    iso,
)

NOW = datetime.now(UTC)


def plan_url(case: dict[str, Any]) -> str:
    return f"/v1/cases/{case['id']}/care-plan"


async def goal_with_progress(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any], status: str
) -> dict[str, Any]:
    """A goal of ``lead``'s with one progress entry moving it to ``status``."""
    goal = await create_goal(client, lead, case["id"], goal_body(lead))
    response = await client.post(
        f"/v1/cases/{case['id']}/goals/{goal['id']}/progress",
        json=progress_body(status),
        headers=lead.headers,
    )
    assert response.status_code == 200, response.text
    return goal


class TestCarePlan:
    async def test_no_token_401_missing_scope_403_stranger_404(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        lead: Partner,
        stranger: Partner,
        case: dict[str, Any],
    ) -> None:
        assert_unauthorized(await client.get(plan_url(case)))
        token = factory.token(lead.client, "medical:read")
        assert_forbidden(
            await client.get(plan_url(case), headers={"Authorization": f"Bearer {token}"}),
            "cases:read",
        )
        assert_problem(await client.get(plan_url(case), headers=stranger.headers), 404, "not_found")

    async def test_goals_upcoming_services_and_attendance_per_visible_category(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        clinic: Partner,
        case: dict[str, Any],
    ) -> None:
        await on_care_team(client, database, lead, case["id"], clinic)
        medical = await create_goal(client, lead, case["id"], goal_body(clinic))
        legal = await create_goal(client, lead, case["id"], goal_body(lead, category="legal"))
        await client.post(
            f"/v1/cases/{case['id']}/goals/{medical['id']}/progress",
            json=progress_body("on_hold"),
            headers=clinic.headers,
        )
        later = await create_service(
            client,
            clinic,
            case["id"],
            service_body(clinic, scheduled_at=iso(NOW + timedelta(days=5))),
        )
        sooner = await create_service(
            client,
            clinic,
            case["id"],
            service_body(clinic, scheduled_at=iso(NOW + timedelta(days=1))),
        )
        await create_service(
            client,
            clinic,
            case["id"],
            service_body(
                clinic,
                status="missed",
                scheduled_at=iso(NOW - timedelta(days=3)),
                goal_id=medical["id"],
            ),
        )
        for status in ("attended", "completed"):
            await create_service(
                client,
                clinic,
                case["id"],
                service_body(clinic, status=status, occurred_at=iso(NOW - timedelta(days=1))),
            )
        legal_service = await create_service(
            client, lead, case["id"], service_body(lead, service="legal", category="legal")
        )
        await create_service(
            client,
            lead,
            case["id"],
            service_body(
                lead,
                service="legal",
                category="legal",
                status="missed",
                scheduled_at=iso(NOW - timedelta(days=2)),
            ),
        )

        response = await client.get(plan_url(case), headers=lead.headers)
        as_lead = response.json()
        # The body is CarePlanOut's, to the byte as pydantic would write it.
        model = CarePlanOut.model_validate(as_lead)
        assert orjson.loads(model.model_dump_json()) == as_lead
        assert as_lead["case_id"] == case["id"]
        assert [g["id"] for g in as_lead["goals"]] == [medical["id"], legal["id"]]
        assert as_lead["goals"][0]["status"] == "on_hold"
        assert [p["status"] for p in as_lead["goals"][0]["progress"]] == ["on_hold"]
        assert [s["id"] for s in as_lead["services"]] == [
            sooner["id"],
            legal_service["id"],
            later["id"],
        ]
        assert as_lead["attendance"] == {
            "legal": {"attended": 0, "missed": 1},
            "medical": {"attended": 2, "missed": 1},
        }

        as_clinic = (await client.get(plan_url(case), headers=clinic.headers)).json()
        assert [g["id"] for g in as_clinic["goals"]] == [medical["id"]]
        assert [s["id"] for s in as_clinic["services"]] == [sooner["id"], later["id"]]
        assert as_clinic["attendance"] == {"medical": {"attended": 2, "missed": 1}}

    async def test_statement_count_is_constant(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        case: dict[str, Any],
    ) -> None:
        counter = StatementCounter()
        counts = []
        for goals, services in ((1, 1), (20, 50)):
            for _ in range(goals):
                await goal_with_progress(client, lead, case, "on_hold")
            for _ in range(services):
                await create_service(client, lead, case["id"], service_body(lead))
            database.statement_hook = counter
            counter.reset()
            response = await client.get(plan_url(case), headers=lead.headers)
            database.statement_hook = None
            assert response.status_code == 200
            counts.append(counter.count)
        assert len(response.json()["goals"]) == 21 and len(response.json()["services"]) == 51
        # token check, case + policy facts, the plan (goals with their progress, upcoming
        # services, attendance) with its audit row appended in the same statement; read again
        # with the decision remembered (AccessMemo): token check, then the case, its facts,
        # the plan and the audit row in one statement
        assert counts == [3, 2], counter.statements
        assert "INSERT INTO audit_log" in counter.statements[1]
        assert "CROSS JOIN LATERAL" in counter.statements[1]

    async def test_the_plans_records_are_the_named_statements_rows(
        self,
        client: httpx.AsyncClient,
        database: Database,
        lead: Partner,
        case: dict[str, Any],
    ) -> None:
        # The plan's statement returns anonymous records, built into rows by position: the same
        # rows as the statements whose columns are checked by name (goal and service pages).
        for days, status in ((1, "on_hold"), (2, "achieved")):
            goal = await goal_with_progress(client, lead, case, status)
            when = iso(NOW + timedelta(days=days))  # upcoming: by scheduled time; page: created
            body = service_body(lead, goal_id=goal["id"], scheduled_at=when)
            await create_service(client, lead, case["id"], body)
        categories = ["legal", "medical"]
        session = database.session(transactional=False)
        try:
            row = audit_row(lead.org.id, lead.client.client_id, None, None, "care_plan.read",
                            [UUID(case["id"])], categories)  # fmt: skip
            plan = await repo.care_plan(
                session, UUID(case["id"]), categories, goal_limit=10, service_limit=10, audit=row
            )
            page = dict(case_id=UUID(case["id"]), categories=categories, category=None,
                        status=None, after_ts=None, after_id=None, limit=10)  # fmt: skip
            goals = await repo.goal_page(session, **page)
            services = await repo.service_page(session, **page)
        finally:
            await session.close()
        assert len(goals) == 2 and plan.goals == goals
        assert all(g.progress for g in goals)
        assert len(services) == 2 and plan.services == services
        assert all(s.codes for s in services) and all(s.goal_id for s in services)
        assert [(a.category, a.attended, a.missed) for a in plan.attendance] == [("medical", 0, 0)]


async def test_a_plan_whose_audit_row_fails_is_not_answered_and_leaves_nothing(
    database: Database, lead: Partner, case: dict[str, Any]
) -> None:
    """The plan and its audit row are one statement: when the append fails, the read fails
    with it (no plan reaches the app), and no audit row is left."""
    async with database.pool.acquire() as conn:
        await conn.execute(
            "CREATE FUNCTION refuse_plan_audit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit refused'; END $$"
        )
        await conn.execute(
            "CREATE TRIGGER refuse_plan_audit BEFORE INSERT ON audit_log FOR EACH ROW "
            "WHEN (NEW.action = 'care_plan.read') EXECUTE FUNCTION refuse_plan_audit()"
        )
    case_id = UUID(case["id"])
    row = audit_row(lead.org.id, lead.client.client_id, None, None, "care_plan.read", [case_id],
                    ["general"])  # fmt: skip
    session = database.session(transactional=False)
    try:
        with pytest.raises(asyncpg.RaiseError, match="audit refused"):
            await repo.care_plan(
                session, case_id, ["general"], goal_limit=10, service_limit=10, audit=row
            )
    finally:
        await session.close()
    async with database.pool.acquire() as conn:
        count = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'care_plan.read' AND $1 = ANY(case_ids)",
            case_id,
        )
    assert count == 0
