"""Consents and the case timeline."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from app.db.database import Database
from tests.factories import Factory, Partner, add_member, minor_body
from tests.helpers import (
    StatementCounter,
    assert_forbidden,
    assert_problem,
    assert_unauthorized,
    audit_rows,
    consent,
    read_and_audit_in_one,
)

CASES = "/v1/cases"


def summaries(response: httpx.Response) -> list[str]:
    return [u["summary"] for u in response.json()["items"]]


def consent_body(to: Partner, **kw: Any) -> dict[str, Any]:
    return {
        "granted_by": ["survivor"],
        "recipient_org_id": str(to.org.id),
        "categories": ["medical"],
        "purpose": "treatment",
        "obtained_at": "2026-11-01T09:00:00Z",
        **kw,
    }


class TestGrantConsent:
    async def test_member_and_stranger_get_404(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        member: Partner,
        stranger: Partner,
        database: Database,
    ) -> None:
        await add_member(database, uuid.UUID(case["id"]), member.org.id, ["medical"])
        for other in (member, stranger):
            response = await client.post(
                f"{CASES}/{case['id']}/consents", json=consent_body(other), headers=other.headers
            )
            assert_problem(response, 404, "not_found")

    async def test_happy_path(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner, member: Partner
    ) -> None:
        response = await client.post(
            f"{CASES}/{case['id']}/consents",
            json=consent_body(
                member,
                granted_by="survivor",
                evidence_ref="form-17",
                expires_at="2027-11-01T00:00:00Z",
            ),
            headers=lead.headers,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "active"
        assert body["granted_by"] == ["survivor"]
        assert body["recipient_org_id"] == str(member.org.id)
        assert body["categories"] == ["medical"]
        assert body["evidence_ref"] == "form-17"
        assert response.headers["location"].endswith(body["id"])

    @pytest.mark.parametrize(
        ("overrides", "loc"),
        [
            ({"recipient_kinds": ["legal_partner"]}, ["body", "recipient_org_id"]),
            ({"recipient_org_id": None}, ["body", "recipient_org_id"]),
            ({"recipient_org_id": str(uuid.uuid4())}, ["body", "recipient_org_id"]),
            ({"categories": []}, ["body", "categories"]),
            ({"categories": ["gossip"]}, ["body", "categories", 0]),
            ({"granted_by": ["neighbour"]}, ["body", "granted_by", 0]),
            ({"granted_by": ["survivor", "guardian", "survivor"]}, ["body", "granted_by"]),
            ({"obtained_at": "2026-11-01T09:00:00"}, ["body", "obtained_at"]),
            ({"obtained_at": "2999-01-01T00:00:00Z"}, ["body", "obtained_at"]),
            ({"expires_at": "2026-10-01T00:00:00Z"}, ["body", "expires_at"]),
            ({"purpose": ""}, ["body", "purpose"]),
            ({"scope": "all"}, ["body", "scope"]),
        ],
    )
    async def test_bad_input(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        member: Partner,
        overrides: dict[str, Any],
        loc: list[Any],
    ) -> None:
        response = await client.post(
            f"{CASES}/{case['id']}/consents",
            json=consent_body(member, **overrides),
            headers=lead.headers,
        )
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"][: len(loc)] == loc, problem
        listed = (await client.get(f"{CASES}/{case['id']}/consents", headers=lead.headers)).json()
        assert listed["items"] == []

    async def test_minor_consent_must_include_guardian(
        self, client: httpx.AsyncClient, lead: Partner, member: Partner
    ) -> None:
        response = await client.post(CASES, json=minor_body(), headers=lead.headers)
        minor = response.json()
        refused = await client.post(
            f"{CASES}/{minor['id']}/consents",
            json=consent_body(member, granted_by=["survivor"]),
            headers=lead.headers,
        )
        problem = assert_problem(refused, 422, "validation_error")
        assert problem["errors"][0]["loc"] == ["body", "granted_by"]
        accepted = await client.post(
            f"{CASES}/{minor['id']}/consents",
            json=consent_body(member, granted_by=["survivor", "guardian"]),
            headers=lead.headers,
        )
        assert accepted.status_code == 201

    async def test_a_consent_naming_the_lead_itself_is_422(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner
    ) -> None:
        """The lead sees the whole case without a consent; one naming itself would only let it
        keep seeing everything after handing the case over, which the new lead never decided."""
        response = await client.post(
            f"{CASES}/{case['id']}/consents", json=consent_body(lead), headers=lead.headers
        )
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"] == ["body", "recipient_org_id"]
        listed = (await client.get(f"{CASES}/{case['id']}/consents", headers=lead.headers)).json()
        assert listed["items"] == []


class TestListAndRevokeConsents:
    async def test_member_sees_only_consents_addressed_to_it(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        member: Partner,
        factory: Factory,
        database: Database,
    ) -> None:
        lawyer = await factory.partner(name="Legal Aid", kind="legal_partner")
        await add_member(database, uuid.UUID(case["id"]), member.org.id, ["medical"])
        mine = await consent(client, lead, case["id"], member, ["medical"])
        await consent(client, lead, case["id"], lawyer, ["legal"])
        lead_view = (
            await client.get(f"{CASES}/{case['id']}/consents", headers=lead.headers)
        ).json()
        assert len(lead_view["items"]) == 2
        member_view = (
            await client.get(f"{CASES}/{case['id']}/consents", headers=member.headers)
        ).json()
        assert [c["id"] for c in member_view["items"]] == [mine["id"]]

    async def test_a_page_appends_its_audit_row_in_the_same_statement_an_empty_one_none(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        member: Partner,
        database: Database,
    ) -> None:
        url = f"{CASES}/{case['id']}/consents"
        case_id = uuid.UUID(case["id"])
        await add_member(database, case_id, member.org.id, ["medical"])
        counter = StatementCounter()

        async def listed(partner: Partner) -> list[dict[str, Any]]:
            counter.reset()
            database.statement_hook = counter
            try:
                response = await client.get(url, headers=partner.headers)
            finally:
                database.statement_hook = None
            assert response.status_code == 200, response.text
            items: list[dict[str, Any]] = response.json()["items"]
            return items

        assert await listed(member) == []  # nothing addressed to it yet
        assert await audit_rows(database, "consent.list", case_id) == 0
        given = await consent(client, lead, case["id"], member, ["medical"])
        assert [c["id"] for c in await listed(member)] == [given["id"]]
        read_and_audit_in_one(counter, "consents s")
        assert await audit_rows(database, "consent.list", case_id) == 1

    async def test_revoke(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        member: Partner,
        stranger: Partner,
    ) -> None:
        c = await consent(client, lead, case["id"], member, ["medical"])
        url = f"{CASES}/{case['id']}/consents/{c['id']}/revoke"
        assert_unauthorized(await client.post(url, json={"reason": "x"}))
        assert_problem(
            await client.post(url, json={"reason": "x"}, headers=stranger.headers), 404, "not_found"
        )
        assert_problem(
            await client.post(url, json={}, headers=lead.headers), 422, "validation_error"
        )
        missing = f"{CASES}/{case['id']}/consents/{uuid.uuid4()}/revoke"
        assert_problem(
            await client.post(missing, json={"reason": "x"}, headers=lead.headers), 404, "not_found"
        )
        response = await client.post(url, json={"reason": "survivor asked"}, headers=lead.headers)
        assert response.status_code == 200
        body = response.json()
        assert (
            body["status"] == "revoked"
            and body["revoke_reason"] == "survivor asked"
            and body["revoked_at"]
        )
        assert_problem(
            await client.post(url, json={"reason": "again"}, headers=lead.headers),
            409,
            "invalid_transition",
        )

    async def test_the_organisation_a_consent_names_may_revoke_that_one(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        member: Partner,
        factory: Factory,
        database: Database,
    ) -> None:
        """The survivor may withdraw her consent where she is: the member a consent names may
        record it. A consent it is not named in (another member's, or one addressed to its
        kind, which covers other partners too) stays the lead's to revoke: 404."""
        other = await factory.partner(name="Other Member", kind=member.org.kind)
        for on_team in (member, other):
            await add_member(database, uuid.UUID(case["id"]), on_team.org.id, ["medical"])
        mine = await consent(client, lead, case["id"], member, ["medical"])
        theirs = await consent(client, lead, case["id"], other, ["medical"])
        by_kind = await client.post(
            f"{CASES}/{case['id']}/consents",
            json={
                "granted_by": ["survivor"],
                "recipient_kinds": [member.org.kind],
                "categories": ["general"],
                "purpose": "care",
                "obtained_at": "2026-11-01T09:00:00Z",
            },
            headers=lead.headers,
        )
        assert by_kind.status_code == 201, by_kind.text

        def revoke(consent_id: str) -> str:
            return f"{CASES}/{case['id']}/consents/{consent_id}/revoke"

        for foreign in (theirs["id"], by_kind.json()["id"]):
            assert_problem(
                await client.post(revoke(foreign), json={"reason": "x"}, headers=member.headers),
                404,
                "not_found",
            )
        revoked = await client.post(
            revoke(mine["id"]), json={"reason": "Told us herself"}, headers=member.headers
        )
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["status"] == "revoked"
        read = await client.get(f"{CASES}/{case['id']}", headers=member.headers)
        assert "medical" not in read.json()["visible_categories"]
        # Other consents are untouched.
        listed = (await client.get(f"{CASES}/{case['id']}/consents", headers=lead.headers)).json()
        status = {c["id"]: c["status"] for c in listed["items"]}
        assert status[theirs["id"]] == status[by_kind.json()["id"]] == "active"


class TestTimeline:
    def update(self, **kw: Any) -> dict[str, Any]:
        return {
            "kind": "service_delivered",
            "category": "medical",
            "occurred_at": "2026-11-20T10:00:00Z",
            "summary": "Wound dressing changed; follow-up in a week.",
            **kw,
        }

    async def test_medical_update_needs_medical_write_too(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner, factory: Factory
    ) -> None:
        # The route's own scope (cases:write) is in the auth matrix; a medical update needs
        # medical:write on top of it.
        token = factory.token(lead.client, "cases:read cases:write")
        response = await client.post(
            f"{CASES}/{case['id']}/updates",
            json=self.update(),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert_forbidden(response, "medical:write")

    @pytest.mark.parametrize(
        ("overrides", "loc"),
        [
            ({"kind": "gossip"}, ["body", "kind"]),
            ({"category": "everything"}, ["body", "category"]),
            ({"occurred_at": "2999-01-01T00:00:00Z"}, ["body", "occurred_at"]),
            ({"summary": ""}, ["body", "summary"]),
            ({"supersedes": str(uuid.uuid4())}, ["body", "supersedes"]),
            ({"author_org_id": str(uuid.uuid4())}, ["body", "author_org_id"]),
        ],
    )
    async def test_bad_input(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        overrides: dict[str, Any],
        loc: list[Any],
    ) -> None:
        response = await client.post(
            f"{CASES}/{case['id']}/updates", json=self.update(**overrides), headers=lead.headers
        )
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"][: len(loc)] == loc, problem
        assert (await client.get(f"{CASES}/{case['id']}/updates", headers=lead.headers)).json()[
            "items"
        ] == []

    async def test_update_details_larger_than_the_bound_are_422(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner
    ) -> None:
        """`details` was unbounded (up to a whole request body), so every page of updates could
        weigh 100 request bodies; now at most AFTERCARE_MAX_DETAILS_BYTES as compact JSON."""
        url = f"{CASES}/{case['id']}/updates"
        fits = {"notes": "x" * (16_384 - len('{"notes":""}'))}  # exactly 16 KiB
        over = {"notes": "x" * (16_384 - len('{"notes":""}') + 1)}
        problem = assert_problem(
            await client.post(url, json=self.update(details=over), headers=lead.headers),
            422,
            "validation_error",
        )
        assert problem["errors"][0]["loc"] == ["body", "details"]
        assert "16,384 bytes" in problem["errors"][0]["msg"] and "x" * 10 not in str(problem)
        assert (await client.get(url, headers=lead.headers)).json()["items"] == []
        created = await client.post(url, json=self.update(details=fits), headers=lead.headers)
        assert created.status_code == 201, created.text
        assert created.json()["details"] == fits

    async def test_visibility_follows_the_policy(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        member: Partner,
        database: Database,
    ) -> None:
        url = f"{CASES}/{case['id']}/updates"
        await add_member(database, uuid.UUID(case["id"]), member.org.id, ["medical", "legal"])
        medical = (await client.post(url, json=self.update(), headers=lead.headers)).json()
        await client.post(
            url,
            json=self.update(category="legal", kind="note", summary="Statement taken"),
            headers=lead.headers,
        )
        await client.post(
            url,
            json=self.update(category="counseling", kind="assessment", summary="PTSD screen"),
            headers=lead.headers,
        )
        assert summaries(await client.get(url, headers=member.headers)) == []  # no consent yet
        c = await consent(client, lead, case["id"], member, ["medical"])
        assert summaries(await client.get(url, headers=member.headers)) == [medical["summary"]]
        # The member reports back in `general` and sees its own update, though not shared general.
        own = await client.post(
            url,
            json=self.update(category="general", kind="follow_up", summary="Seen today"),
            headers=member.headers,
        )
        assert own.status_code == 201, own.text
        assert summaries(await client.get(url, headers=member.headers)) == [
            medical["summary"],
            "Seen today",
        ]
        # Not entitled to counselling: refused.
        refused = await client.post(
            url, json=self.update(category="counseling"), headers=member.headers
        )
        assert_problem(refused, 422, "validation_error")
        await client.post(
            f"{CASES}/{case['id']}/consents/{c['id']}/revoke",
            json={"reason": "withdrawn"},
            headers=lead.headers,
        )
        assert summaries(await client.get(url, headers=member.headers)) == ["Seen today"]
        assert len((await client.get(url, headers=lead.headers)).json()["items"]) == 4
        only_legal = await client.get(url, params={"category": "legal"}, headers=lead.headers)
        assert summaries(only_legal) == ["Statement taken"]

    async def test_corrections_supersede(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner
    ) -> None:
        url = f"{CASES}/{case['id']}/updates"
        first = (await client.post(url, json=self.update(), headers=lead.headers)).json()
        wrong_category = await client.post(
            url, json=self.update(category="general", supersedes=first["id"]), headers=lead.headers
        )
        assert_problem(wrong_category, 422, "validation_error")
        fixed = await client.post(
            url,
            json=self.update(summary="Corrected note", supersedes=first["id"]),
            headers=lead.headers,
        )
        assert fixed.status_code == 201
        assert fixed.json()["supersedes"] == first["id"]
        assert len((await client.get(url, headers=lead.headers)).json()["items"]) == 2

    async def test_pagination_and_statement_count(
        self, client: httpx.AsyncClient, case: dict[str, Any], lead: Partner, database: Database
    ) -> None:
        url = f"{CASES}/{case['id']}/updates"
        for i in range(7):
            await client.post(url, json=self.update(summary=f"visit {i}"), headers=lead.headers)
        counter = StatementCounter()
        database.statement_hook = counter
        page = (await client.get(url, params={"limit": 3}, headers=lead.headers)).json()
        assert counter.count == 4, counter.statements  # token, policy, page, audit
        seen = [u["summary"] for u in page["items"]]
        while page["next_cursor"]:
            page = (
                await client.get(
                    url, params={"limit": 3, "cursor": page["next_cursor"]}, headers=lead.headers
                )
            ).json()
            seen += [u["summary"] for u in page["items"]]
        assert seen == [f"visit {i}" for i in range(7)]


class TestSingleResources:
    async def test_location_headers_lead_somewhere(
        self,
        client: httpx.AsyncClient,
        case: dict[str, Any],
        lead: Partner,
        member: Partner,
        stranger: Partner,
        factory: Factory,
        database: Database,
    ) -> None:
        created = await client.post(
            f"{CASES}/{case['id']}/consents", json=consent_body(member), headers=lead.headers
        )
        consent_url = created.headers["location"]
        assert (await client.get(consent_url, headers=lead.headers)).json() == created.json()
        assert_unauthorized(await client.get(consent_url))
        token = factory.token(lead.client, "consents:write")
        assert_forbidden(
            await client.get(consent_url, headers={"Authorization": f"Bearer {token}"}),
            "cases:read",
        )
        assert_problem(await client.get(consent_url, headers=stranger.headers), 404, "not_found")
        await add_member(database, uuid.UUID(case["id"]), member.org.id, ["medical"])
        assert (await client.get(consent_url, headers=member.headers)).status_code == 200
        other = await factory.partner(name="Other Member")
        await add_member(database, uuid.UUID(case["id"]), other.org.id, ["medical"])
        assert_problem(await client.get(consent_url, headers=other.headers), 404, "not_found")
        update = await client.post(
            f"{CASES}/{case['id']}/updates",
            json={
                "kind": "note",
                "category": "medical",
                "occurred_at": "2026-11-20T10:00:00Z",
                "summary": "Seen at clinic",
            },
            headers=lead.headers,
        )
        update_url = update.headers["location"]
        assert (await client.get(update_url, headers=lead.headers)).json() == update.json()
        assert (await client.get(update_url, headers=member.headers)).status_code == 200
        assert_problem(await client.get(update_url, headers=other.headers), 404, "not_found")
        assert_problem(
            await client.get(f"{CASES}/{case['id']}/updates/{uuid.uuid4()}", headers=lead.headers),
            404,
            "not_found",
        )
