"""Coded referral outcomes: `reason_code` on decline/fail, `outcome_code` on complete, their
defaults for older clients, GraphQL, and the events that carry them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.db.database import Database
from app.domain.referral_rules import DEFAULT_CODES, Code, OutcomeCode, ReasonCode
from tests.api.test_referrals import act, refer
from tests.factories import Partner
from tests.graphql.helpers import data_of, gql, only_error
from tests.helpers import assert_problem, events_settled


def test_defaults_are_the_contracts() -> None:
    assert DEFAULT_CODES == {
        Code.REASON_CODE: ReasonCode.OTHER,
        Code.OUTCOME_CODE: OutcomeCode.SERVICE_PROVIDED,
    }
    assert [c.value for c in ReasonCode] == [
        "no_capacity", "not_eligible", "unable_to_contact", "survivor_declined",
        "service_unavailable", "lost_contact", "other",
    ]  # fmt: skip
    assert [c.value for c in OutcomeCode] == [
        "service_provided", "goal_achieved", "partially_achieved", "referred_elsewhere",
    ]  # fmt: skip


class TestCodes:
    async def test_decline_with_a_code(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner, clinic: Partner
    ) -> None:
        referral = await refer(client, lead, case, clinic)
        response = await act(
            client, clinic, referral, "decline", reason_code="no_capacity", reason="Full this week"
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["reason_code"], body["outcome_code"]) == (
            "declined", "no_capacity", None,
        )  # fmt: skip
        assert body["status_reason"] == "Full this week"
        seen_by_lead = (
            await client.get(f"/v1/referrals/{referral['id']}", headers=lead.headers)
        ).json()
        assert seen_by_lead["reason_code"] == "no_capacity"

    async def test_older_clients_get_the_defaults(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner, clinic: Partner
    ) -> None:
        first = await refer(client, lead, case, clinic)
        declined = await act(client, clinic, first, "decline", reason="Not for us")
        assert declined.json()["reason_code"] == "other"
        second = await refer(client, lead, case, clinic)
        await act(client, clinic, second, "accept")
        done = await act(client, clinic, second, "complete", outcome="Treated")
        assert (done.json()["outcome_code"], done.json()["reason_code"]) == (
            "service_provided", None,
        )  # fmt: skip
        third = await refer(client, lead, case, clinic)
        await act(client, clinic, third, "accept")
        failed = await act(
            client, clinic, third, "fail", reason_code="lost_contact", reason="Moved away"
        )
        assert failed.json()["reason_code"] == "lost_contact"

    async def test_withdraw_takes_no_code(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner, clinic: Partner
    ) -> None:
        referral = await refer(client, lead, case, clinic)
        response = await act(
            client, lead, referral, "withdraw", reason_code="other", reason="Changed plan"
        )
        assert_problem(response, 422, "validation_error")
        ok = await act(client, lead, referral, "withdraw", reason="Changed plan")
        assert ok.status_code == 200 and ok.json()["reason_code"] is None

    @pytest.mark.parametrize(
        ("action", "body"),
        [
            ("decline", {"reason_code": "bored", "reason": "x"}),
            ("decline", {"reason_code": None, "reason": "x"}),
            ("decline", {"reason_code": "no_capacity"}),  # the text is still required
            ("decline", {"outcome_code": "goal_achieved", "reason": "x"}),
        ],
    )
    async def test_bad_codes_are_422_and_change_nothing(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        clinic: Partner,
        action: str,
        body: dict[str, Any],
    ) -> None:
        referral = await refer(client, lead, case, clinic)
        assert_problem(await act(client, clinic, referral, action, **body), 422, "validation_error")
        again = await client.get(f"/v1/referrals/{referral['id']}", headers=clinic.headers)
        assert again.json()["status"] == "pending"

    async def test_bad_outcome_code_is_422(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner, clinic: Partner
    ) -> None:
        referral = await refer(client, lead, case, clinic)
        await act(client, clinic, referral, "accept")
        response = await act(
            client, clinic, referral, "complete", outcome_code="healed", outcome="Treated"
        )
        assert_problem(response, 422, "validation_error")

    async def test_graphql_records_and_shows_the_codes(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner, clinic: Partner
    ) -> None:
        referral = await refer(client, lead, case, clinic)
        await act(client, clinic, referral, "accept")
        result = data_of(
            await gql(
                client,
                clinic,
                """mutation ($id: UUID!) {
                  completeReferral(id: $id, outcome: "Healed", outcomeCode: goal_achieved) {
                    status outcome outcomeCode reasonCode } }""",
                {"id": referral["id"]},
            )
        )["completeReferral"]
        assert result == {
            "status": "completed",
            "outcome": "Healed",
            "outcomeCode": "goal_achieved",
            "reasonCode": None,
        }
        other = await refer(client, lead, case, clinic)
        declined = data_of(
            await gql(
                client,
                clinic,
                'mutation ($id: UUID!) { declineReferral(id: $id, reason: "No") { reasonCode } }',
                {"id": other["id"]},
            )
        )["declineReferral"]
        assert declined == {"reasonCode": "other"}
        only_error(
            await gql(
                client,
                clinic,
                'mutation ($id: UUID!) { declineReferral(id: $id, reason: "") { reasonCode } }',
                {"id": (await refer(client, lead, case, clinic))["id"]},
            ),
            "validation_error",
        )


async def test_events_carry_the_codes(
    client: httpx.AsyncClient,
    database: Database,
    case: dict[str, Any],
    lead: Partner,
    clinic: Partner,
) -> None:
    first = await refer(client, lead, case, clinic)
    await act(client, clinic, first, "decline", reason_code="not_eligible", reason="Adults only")
    second = await refer(client, lead, case, clinic)
    await act(client, clinic, second, "accept")
    await act(client, clinic, second, "complete", outcome="Done")
    await events_settled(database)
    feed = (
        await client.get("/v1/events", params={"types": "referral.declined,referral.completed"},
                         headers=lead.headers)
    ).json()["items"]  # fmt: skip
    assert [e["data"] for e in feed] == [
        {"referral_id": first["id"], "status": "declined", "reason_code": "not_eligible"},
        {"referral_id": second["id"], "status": "completed", "outcome_code": "service_provided"},
    ]
