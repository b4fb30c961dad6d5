"""Goals and service records in GraphQL: the mutations, `Case.goals` / `Case.services` and the
same policy per category as REST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from app.db.database import Database
from tests.api.test_goals import goal_body, on_care_team
from tests.factories import Factory, Partner
from tests.graphql.helpers import data_of, gql, only_error
from tests.helpers import iso

NOW = datetime.now(UTC)

CREATE_GOAL = """
mutation ($case: UUID!, $input: CreateGoalInput!) {
  createGoal(caseId: $case, input: $input) {
    id category title description ownerOrgId status version progress { status note }
  }
}
"""
RECORD_PROGRESS = """
mutation ($case: UUID!, $goal: UUID!, $input: RecordGoalProgressInput!) {
  recordGoalProgress(caseId: $case, goalId: $goal, input: $input) {
    id status version progress { status note recordedByOrgId }
  }
}
"""
CREATE_SERVICE = """
mutation ($case: UUID!, $input: CreateServiceInput!) {
  createService(caseId: $case, input: $input) {
    id status goalId notes codes { system code } version
  }
}
"""
UPDATE_SERVICE = """
mutation ($case: UUID!, $service: UUID!, $version: Int!, $input: UpdateServiceInput!) {
  updateService(caseId: $case, serviceId: $service, version: $version, input: $input) {
    id status occurredAt notes version
  }
}
"""
CASE_PLAN = """
query ($id: UUID!) {
  case(id: $id) {
    goals { edges { node { id title category progress { status note } } } }
    services(status: scheduled) { edges { node { id status category } } }
  }
}
"""


def goal_input(owner: Partner, category: str = "medical") -> dict[str, Any]:
    return {
        "category": category,
        "title": "Sleep through the night",
        "description": "Nightmares.",
        "ownerOrgId": str(owner.org.id),
    }


async def test_goals_and_services_through_mutations_and_the_case(
    client: httpx.AsyncClient,
    database: Database,
    lead: Partner,
    clinic: Partner,
    case: dict[str, Any],
) -> None:
    await on_care_team(client, database, lead, case["id"], clinic)
    variables = {"case": case["id"], "input": goal_input(clinic)}
    goal = data_of(await gql(client, lead, CREATE_GOAL, variables))["createGoal"]
    assert goal["status"] == "active" and goal["progress"] == [] and goal["version"] == 1
    legal = data_of(
        await gql(
            client, lead, CREATE_GOAL, {"case": case["id"], "input": goal_input(lead, "legal")}
        )
    )["createGoal"]
    progressed = data_of(
        await gql(
            client,
            clinic,
            RECORD_PROGRESS,
            {
                "case": case["id"],
                "goal": goal["id"],
                "input": {"status": "on_hold", "note": "Away", "recordedAt": iso(NOW)},
            },
        )
    )["recordGoalProgress"]
    assert progressed["status"] == "on_hold" and progressed["version"] == 2
    assert progressed["progress"] == [
        {"status": "on_hold", "note": "Away", "recordedByOrgId": str(clinic.org.id)}
    ]
    service_input = {
        "service": "medical",
        "category": "medical",
        "type": "appointment",
        "status": "scheduled",
        "scheduledAt": iso(NOW + timedelta(days=1)),
        "providerOrgId": str(clinic.org.id),
        "goalId": goal["id"],
        "notes": "Bring the letter",
        "codes": [{"system": "ICD-10", "code": "T74.2"}],
    }
    record = data_of(
        await gql(client, clinic, CREATE_SERVICE, {"case": case["id"], "input": service_input})
    )["createService"]
    assert record["goalId"] == goal["id"] and record["codes"] == [
        {"system": "ICD-10", "code": "T74.2"}
    ]
    stale = await gql(
        client,
        clinic,
        UPDATE_SERVICE,
        {"case": case["id"], "service": record["id"], "version": 5, "input": {"status": "missed"}},
    )
    only_error(stale, "precondition_failed")
    missed = data_of(
        await gql(
            client,
            clinic,
            UPDATE_SERVICE,
            {
                "case": case["id"],
                "service": record["id"],
                "version": 1,
                "input": {"status": "missed"},
            },
        )
    )["updateService"]
    assert missed["status"] == "missed" and missed["version"] == 2
    final = await gql(
        client,
        clinic,
        UPDATE_SERVICE,
        {
            "case": case["id"],
            "service": record["id"],
            "version": 2,
            "input": {"status": "attended", "occurredAt": iso(NOW)},
        },
    )
    only_error(final, "invalid_transition")

    as_lead = data_of(await gql(client, lead, CASE_PLAN, {"id": case["id"]}))["case"]
    assert [e["node"]["id"] for e in as_lead["goals"]["edges"]] == [goal["id"], legal["id"]]
    assert as_lead["services"]["edges"] == []  # the only one was missed
    as_clinic = data_of(await gql(client, clinic, CASE_PLAN, {"id": case["id"]}))["case"]
    assert [e["node"]["id"] for e in as_clinic["goals"]["edges"]] == [goal["id"]]
    assert as_clinic["goals"]["edges"][0]["node"]["progress"] == [
        {"status": "on_hold", "note": "Away"}
    ]


async def test_rest_rules_apply(
    client: httpx.AsyncClient,
    factory: Factory,
    lead: Partner,
    stranger: Partner,
    case: dict[str, Any],
) -> None:
    outsider = {"case": case["id"], "input": goal_input(stranger)}
    error = only_error(await gql(client, lead, CREATE_GOAL, outsider), "validation_error")
    assert error["extensions"]["errors"][0]["loc"] == ["input", "ownerOrgId"]
    too_long = {"case": case["id"], "input": {**goal_input(lead), "title": "x" * 201}}
    only_error(await gql(client, lead, CREATE_GOAL, too_long), "validation_error")
    hidden = {"case": case["id"], "input": goal_input(stranger)}
    only_error(await gql(client, stranger, CREATE_GOAL, hidden), "not_found")
    partner = await factory.partner(scopes=["cases:read"])
    only_error(
        await gql(client, partner, CREATE_GOAL, {"case": case["id"], "input": goal_input(lead)}),
        "insufficient_scope",
    )
    # REST's body and GraphQL's input are the same model
    assert goal_body(lead)["title"] == goal_input(lead)["title"]
