"""Cases: intake, need-to-know reads, edits, closing, erasure and the access log."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.db.database import Database
from app.domain.audit import ACCESS_LOG_LIST
from app.domain.pagination import encode_cursor
from tests.factories import PLANTED, Factory, Partner, add_member, case_body, minor_body
from tests.helpers import StatementCounter, assert_problem, consent, open_case

CASES = "/v1/cases"


def ids(response: httpx.Response) -> list[str]:
    return [c["id"] for c in response.json()["items"]]


class TestCreate:
    async def test_happy_path(self, client: httpx.AsyncClient, lead: Partner) -> None:
        response = await client.post(CASES, json=case_body(), headers=lead.headers)
        assert response.status_code == 201
        body = response.json()
        assert response.headers["location"] == f"/v1/cases/{body['id']}"
        assert response.headers["etag"] == '"1"'
        assert re.fullmatch(r"AC-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", body["reference"])
        assert body["lead_org_id"] == str(lead.org.id)
        assert body["status"] == "open"
        assert body["role"] == "lead"
        assert body["is_minor"] is False
        assert body["age_band"] == "25-34"
        assert body["external_ref"] == "HL-2026-0001"
        assert body["survivor"]["given_name"] == "Planted-Givenname-Xq7"
        assert body["exploitation"] == {
            "types": ["labour"],
            "identified_on": "2026-10-02",
            "country": "TH",
        }
        assert len(body["visible_categories"]) == 9

    async def test_minor_from_estimated_year_needs_guardian(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        body = minor_body()
        del body["guardian"]
        response = await client.post(CASES, json=body, headers=lead.headers)
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"] == ["body", "guardian"]
        ok = await client.post(CASES, json=minor_body(), headers=lead.headers)
        assert ok.status_code == 201
        assert ok.json()["is_minor"] is True
        assert ok.json()["age_band"] == "12-14"
        assert ok.json()["guardian"] == {
            "name": "Planted-Guardian-Name",
            "relationship": "aunt",
            "contact": None,
        }

    async def test_duplicate_external_ref_is_409_with_existing_id(
        self, client: httpx.AsyncClient, lead: Partner, factory: Factory
    ) -> None:
        first = await open_case(client, lead)
        response = await client.post(CASES, json=case_body(), headers=lead.headers)
        problem = assert_problem(response, 409, "conflict")
        assert problem["existing_id"] == first["id"]
        # external_ref is unique per lead: another organisation may use the same one.
        other = await factory.partner()
        assert (
            await client.post(CASES, json=case_body(), headers=other.headers)
        ).status_code == 201

    async def test_idempotent_replay(self, client: httpx.AsyncClient, lead: Partner) -> None:
        headers = lead.headers_with(**{"Idempotency-Key": "intake-7"})
        first = await client.post(CASES, json=case_body(), headers=headers)
        again = await client.post(CASES, json=case_body(), headers=headers)
        assert first.status_code == again.status_code == 201
        assert first.json() == again.json()

    @pytest.mark.parametrize(
        ("mutate", "loc"),
        [
            (lambda b: b.update(lead_org_id=str(uuid.uuid4())), ["body", "lead_org_id"]),
            (lambda b: b.update(status="closed"), ["body", "status"]),
            (lambda b: b["survivor"].pop("gender"), ["body", "survivor", "gender"]),
            (lambda b: b["survivor"].update(gender="robot"), ["body", "survivor", "gender"]),
            (
                lambda b: b["survivor"].update(estimated_birth_year=1999),
                ["body", "survivor", "date_of_birth"],
            ),
            (lambda b: b["survivor"].pop("date_of_birth"), ["body", "survivor", "date_of_birth"]),
            (
                lambda b: b["survivor"].update(date_of_birth="2999-01-01"),
                ["body", "survivor", "date_of_birth"],
            ),
            (
                lambda b: b["survivor"].update(nationality="Myanmar"),
                ["body", "survivor", "nationality"],
            ),
            (lambda b: b["survivor"].update(ssn="x"), ["body", "survivor"]),  # key not repeated
            (lambda b: b.update(needs=["spa"]), ["body", "needs", 0]),
            (lambda b: b.update(risk_level="extreme"), ["body", "risk_level"]),
            (lambda b: b.update(external_ref=""), ["body", "external_ref"]),
            (
                lambda b: b["exploitation"].update(types=["piracy"]),
                ["body", "exploitation", "types", 0],
            ),
            (
                lambda b: b["exploitation"].update(identified_on="2999-01-01"),
                ["body", "exploitation"],
            ),
        ],
    )
    async def test_bad_input_is_422_and_creates_nothing(
        self, client: httpx.AsyncClient, lead: Partner, mutate: Any, loc: list[Any]
    ) -> None:
        body = case_body()
        mutate(body)
        response = await client.post(CASES, json=body, headers=lead.headers)
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"][: len(loc)] == loc, problem
        for planted in PLANTED:
            assert planted not in response.text
        assert (await client.get(CASES, headers=lead.headers)).json()["items"] == []


class TestRead:
    async def test_stranger_gets_the_same_404_as_a_missing_case(
        self, client: httpx.AsyncClient, lead: Partner, stranger: Partner
    ) -> None:
        case = await open_case(client, lead)
        hidden = await client.get(f"{CASES}/{case['id']}", headers=stranger.headers)
        missing = await client.get(f"{CASES}/{uuid.uuid4()}", headers=stranger.headers)
        assert_problem(hidden, 404, "not_found")
        assert hidden.json() == missing.json()
        assert set(hidden.headers) == set(missing.headers) - {"x-request-id"} | {"x-request-id"}

    async def test_malformed_id_is_422(self, client: httpx.AsyncClient, lead: Partner) -> None:
        assert_problem(
            await client.get(f"{CASES}/not-a-uuid", headers=lead.headers), 422, "validation_error"
        )

    async def test_member_sees_demographics_and_consented_shared_categories_only(
        self, client: httpx.AsyncClient, lead: Partner, member: Partner, database: Database
    ) -> None:
        case = await open_case(client, lead)
        await add_member(
            database, uuid.UUID(case["id"]), member.org.id, ["demographics", "medical", "identity"]
        )
        url = f"{CASES}/{case['id']}"
        body = (await client.get(url, headers=member.headers)).json()
        assert body["role"] == "care_team"
        assert body["visible_categories"] == ["demographics"]
        assert body["survivor"] == {
            "gender": "female",
            "nationality": "MM",
            "languages": ["my", "th"],
            "interpreter_needed": False,
        }
        assert body["is_minor"] is False
        for absent in ("external_ref", "exploitation", "needs", "risk_level", "guardian"):
            assert absent not in body
        text = (await client.get(url, headers=member.headers)).text
        for planted in PLANTED:
            assert planted not in text
        # Consent for medical + identity (+ exploitation, which was not shared: stays hidden).
        c = await consent(client, lead, case["id"], member, ["medical", "identity", "exploitation"])
        body = (await client.get(url, headers=member.headers)).json()
        assert body["visible_categories"] == ["demographics", "identity", "medical"]
        assert body["survivor"]["given_name"] == "Planted-Givenname-Xq7"
        assert "exploitation" not in body
        # Revocation takes effect on the next request.
        revoked = await client.post(
            f"{url}/consents/{c['id']}/revoke",
            json={"reason": "survivor withdrew"},
            headers=lead.headers,
        )
        assert revoked.status_code == 200
        body = (await client.get(url, headers=member.headers)).json()
        assert body["visible_categories"] == ["demographics"]
        assert "given_name" not in body["survivor"]

    async def test_expired_consent_no_longer_counts(
        self, client: httpx.AsyncClient, lead: Partner, member: Partner, database: Database
    ) -> None:
        case = await open_case(client, lead)
        await add_member(database, uuid.UUID(case["id"]), member.org.id, ["identity"])
        await consent(
            client, lead, case["id"], member, ["identity"], expires_at="2026-11-02T00:00:00Z"
        )
        body = (await client.get(f"{CASES}/{case['id']}", headers=member.headers)).json()
        assert body["visible_categories"] == ["demographics"]

    async def test_consent_by_organisation_kind(
        self, client: httpx.AsyncClient, lead: Partner, member: Partner, database: Database
    ) -> None:
        case = await open_case(client, lead)
        await add_member(database, uuid.UUID(case["id"]), member.org.id, ["exploitation"])
        await client.post(
            f"{CASES}/{case['id']}/consents",
            json={
                "granted_by": "survivor",
                "recipient_kinds": ["medical_provider"],
                "categories": ["exploitation"],
                "purpose": "any clinic treating her",
                "obtained_at": "2026-11-01T09:00:00Z",
            },
            headers=lead.headers,
        )
        body = (await client.get(f"{CASES}/{case['id']}", headers=member.headers)).json()
        assert body["visible_categories"] == ["demographics", "exploitation"]

    async def test_token_scopes_narrow_what_the_lead_sees(
        self, client: httpx.AsyncClient, lead: Partner, factory: Factory
    ) -> None:
        case = await open_case(client, lead)
        token = factory.token(lead.client, "cases:read")
        body = (
            await client.get(f"{CASES}/{case['id']}", headers={"Authorization": f"Bearer {token}"})
        ).json()
        assert body["visible_categories"] == ["demographics", "identity", "exploitation", "general"]

    async def test_read_costs_three_statements(
        self, client: httpx.AsyncClient, lead: Partner, database: Database
    ) -> None:
        case = await open_case(client, lead)
        counter = StatementCounter()
        database.statement_hook = counter
        response = await client.get(f"{CASES}/{case['id']}", headers=lead.headers)
        assert response.status_code == 200
        # token check, case + policy facts, audit row: nothing else.
        assert counter.count == 3, counter.statements
        assert "audit_log" in counter.statements[2]


class TestList:
    async def test_lists_led_and_care_team_cases_only(
        self,
        client: httpx.AsyncClient,
        lead: Partner,
        member: Partner,
        stranger: Partner,
        database: Database,
    ) -> None:
        led = await open_case(client, lead, external_ref="A")
        shared = await open_case(client, lead, external_ref="B")
        await open_case(client, stranger, external_ref="C")
        await add_member(database, uuid.UUID(shared["id"]), member.org.id, ["medical"])
        own = await open_case(client, member, external_ref="D")
        assert ids(await client.get(CASES, headers=member.headers)) == [shared["id"], own["id"]]
        assert ids(await client.get(CASES, params={"role": "lead"}, headers=member.headers)) == [
            own["id"]
        ]
        assert ids(
            await client.get(CASES, params={"role": "care_team"}, headers=member.headers)
        ) == [shared["id"]]
        assert ids(await client.get(CASES, headers=lead.headers)) == [led["id"], shared["id"]]
        listed = (
            await client.get(CASES, params={"role": "care_team"}, headers=member.headers)
        ).json()
        assert listed["items"][0]["visible_categories"] == ["demographics"]
        assert "PLANTED" not in str(listed)

    async def test_filters_and_pagination(self, client: httpx.AsyncClient, lead: Partner) -> None:
        created = [await open_case(client, lead, external_ref=f"R{i}") for i in range(5)]
        await client.post(
            f"{CASES}/{created[1]['id']}/close", json={"reason": "moved on"}, headers=lead.headers
        )
        closed = (await client.get(CASES, params={"status": "closed"}, headers=lead.headers)).json()
        assert [c["id"] for c in closed["items"]] == [created[1]["id"]]
        since = created[3]["updated_at"]
        recent = (
            await client.get(CASES, params={"updated_since": since}, headers=lead.headers)
        ).json()
        assert {c["id"] for c in recent["items"]} >= {
            created[3]["id"],
            created[4]["id"],
            created[1]["id"],
        }
        page1 = (await client.get(CASES, params={"limit": 2}, headers=lead.headers)).json()
        page2 = (
            await client.get(
                CASES, params={"limit": 2, "cursor": page1["next_cursor"]}, headers=lead.headers
            )
        ).json()
        page3 = (
            await client.get(
                CASES, params={"limit": 2, "cursor": page2["next_cursor"]}, headers=lead.headers
            )
        ).json()
        seen = [c["id"] for p in (page1, page2, page3) for c in p["items"]]
        assert sorted(seen) == sorted(c["id"] for c in created)
        assert page3["next_cursor"] is None

    @pytest.mark.parametrize(
        "params",
        [{"status": "pending"}, {"role": "boss"}, {"updated_since": "yesterday"}, {"limit": 500}],
    )
    async def test_bad_filters(
        self, client: httpx.AsyncClient, lead: Partner, params: dict[str, Any]
    ) -> None:
        assert_problem(
            await client.get(CASES, params=params, headers=lead.headers), 422, "validation_error"
        )

    async def test_list_costs_constant_statements(
        self, client: httpx.AsyncClient, lead: Partner, member: Partner, database: Database
    ) -> None:
        for i in range(12):
            case = await open_case(client, lead, external_ref=f"N{i}")
            await add_member(database, uuid.UUID(case["id"]), member.org.id, ["identity"])
        counter = StatementCounter()
        database.statement_hook = counter
        for headers in (lead.headers, member.headers):
            counter.reset()
            response = await client.get(CASES, params={"limit": 100}, headers=headers)
            assert len(response.json()["items"]) == 12
            assert counter.count == 3, counter.statements  # token, page, one audit row


class TestPatch:
    async def test_member_and_stranger_get_404(
        self,
        client: httpx.AsyncClient,
        lead: Partner,
        member: Partner,
        stranger: Partner,
        database: Database,
    ) -> None:
        case = await open_case(client, lead)
        await add_member(database, uuid.UUID(case["id"]), member.org.id, ["general"])
        for other in (member, stranger):
            response = await client.patch(
                f"{CASES}/{case['id']}",
                json={"risk_level": "low"},
                headers=other.headers_with(**{"If-Match": "*"}),
            )
            assert_problem(response, 404, "not_found")

    async def test_happy_path_and_rederived_age(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        case = await open_case(client, lead)
        response = await client.patch(
            f"{CASES}/{case['id']}",
            json={
                "survivor": {"date_of_birth": "2012-06-01", "given_name": None},
                "guardian": {"name": "Planted-Guardian-Name", "relationship": "social worker"},
                "risk_level": None,
                "needs": ["counseling"],
            },
            headers=lead.headers_with(**{"If-Match": '"1"'}),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert response.headers["etag"] == '"2"'
        assert body["is_minor"] is True and body["age_band"] == "12-14"
        assert body["survivor"]["given_name"] is None
        assert body["survivor"]["family_name"] == "Planted-Familyname-Zr9"
        assert body["risk_level"] is None and body["needs"] == ["counseling"]

    async def test_a_type_or_need_named_twice_is_kept_once(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        case = await open_case(client, lead)
        response = await client.patch(
            f"{CASES}/{case['id']}",
            json={
                "exploitation": {"types": ["labour", "sex", "labour"]},
                "needs": ["medical", "shelter", "medical"],
            },
            headers=lead.headers_with(**{"If-Match": '"1"'}),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["exploitation"]["types"] == ["labour", "sex"]
        assert body["needs"] == ["medical", "shelter"]

    async def test_if_match_required_and_checked(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        case = await open_case(client, lead)
        url = f"{CASES}/{case['id']}"
        assert_problem(
            await client.patch(url, json={"needs": []}, headers=lead.headers),
            428,
            "precondition_required",
        )
        assert_problem(
            await client.patch(
                url, json={"needs": []}, headers=lead.headers_with(**{"If-Match": '"7"'})
            ),
            412,
            "precondition_failed",
        )

    @pytest.mark.parametrize(
        "body",
        [
            {"lead_org_id": str(uuid.uuid4())},
            {"status": "closed"},
            {"reference": "AC-0000-0000"},
            {"is_minor": True},
            {"age_band": "0-11"},
            {"id": str(uuid.uuid4())},
            {"version": 9},
            {"survivor": {"gender": None}},
            {"survivor": {"date_of_birth": "2999-01-01"}},
        ],
    )
    async def test_server_owned_fields_and_bad_values_are_422(
        self, client: httpx.AsyncClient, lead: Partner, body: dict[str, Any]
    ) -> None:
        case = await open_case(client, lead)
        response = await client.patch(
            f"{CASES}/{case['id']}", json=body, headers=lead.headers_with(**{"If-Match": "*"})
        )
        assert_problem(response, 422, "validation_error")
        after = (await client.get(f"{CASES}/{case['id']}", headers=lead.headers)).json()
        assert after["version"] == 1

    async def test_making_an_adult_a_minor_needs_a_guardian(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        case = await open_case(client, lead)
        response = await client.patch(
            f"{CASES}/{case['id']}",
            json={"survivor": {"estimated_birth_year": 2015}},
            headers=lead.headers_with(**{"If-Match": "*"}),
        )
        assert_problem(response, 422, "validation_error")


class TestClose:
    async def test_reason_required(self, client: httpx.AsyncClient, lead: Partner) -> None:
        case = await open_case(client, lead)
        response = await client.post(f"{CASES}/{case['id']}/close", json={}, headers=lead.headers)
        assert_problem(response, 422, "validation_error")

    async def test_close_once(self, client: httpx.AsyncClient, lead: Partner) -> None:
        case = await open_case(client, lead)
        url = f"{CASES}/{case['id']}/close"
        response = await client.post(
            url, json={"reason": "services completed"}, headers=lead.headers
        )
        assert response.status_code == 200
        body = response.json()
        assert (
            body["status"] == "closed"
            and body["closed_at"]
            and body["close_reason"] == "services completed"
        )
        assert_problem(
            await client.post(url, json={"reason": "again"}, headers=lead.headers),
            409,
            "invalid_transition",
        )
        edit = await client.patch(
            f"{CASES}/{case['id']}",
            json={"needs": []},
            headers=lead.headers_with(**{"If-Match": "*"}),
        )
        assert_problem(edit, 409, "conflict")


class TestErasure:
    async def test_member_and_stranger_404(
        self,
        client: httpx.AsyncClient,
        lead: Partner,
        member: Partner,
        stranger: Partner,
        database: Database,
    ) -> None:
        case = await open_case(client, lead)
        await add_member(database, uuid.UUID(case["id"]), member.org.id, ["identity"])
        for other in (member, stranger):
            response = await client.delete(
                f"{CASES}/{case['id']}/survivor-identity", headers=other.headers
            )
            assert_problem(response, 404, "not_found")

    async def test_erasure_destroys_the_key_and_keeps_the_case(
        self, client: httpx.AsyncClient, lead: Partner, database: Database
    ) -> None:
        case = await open_case(client, lead)
        await client.post(
            f"{CASES}/{case['id']}/updates",
            json={
                "kind": "note",
                "category": "general",
                "occurred_at": "2026-11-20T10:00:00Z",
                "summary": "intake done",
            },
            headers=lead.headers,
        )
        async with database.pool.acquire() as conn:
            wrapped_before = await conn.fetchval(
                "SELECT wrapped_key FROM case_keys WHERE case_id = $1", uuid.UUID(case["id"])
            )
        response = await client.delete(
            f"{CASES}/{case['id']}/survivor-identity", headers=lead.headers
        )
        assert response.status_code == 204
        body = (await client.get(f"{CASES}/{case['id']}", headers=lead.headers)).json()
        assert body["identity_erased"] is True
        assert body["survivor"]["given_name"] is None and body["survivor"]["date_of_birth"] is None
        assert body["survivor"]["gender"] == "female" and body["age_band"] == "25-34"
        # The de-identified history stays; free text written before the erasure went with the key.
        updates = (await client.get(f"{CASES}/{case['id']}/updates", headers=lead.headers)).json()
        assert [(u["kind"], u["category"], u["summary"]) for u in updates["items"]] == [
            ("note", "general", "[erased]")
        ]
        async with database.pool.acquire() as conn:
            # The old data key is destroyed; a fresh one protects what is written from now on.
            keys = await conn.fetch(
                "SELECT wrapped_key FROM case_keys WHERE case_id = $1", uuid.UUID(case["id"])
            )
            assert len(keys) == 1 and keys[0]["wrapped_key"] != wrapped_before
        edit = await client.patch(
            f"{CASES}/{case['id']}",
            json={"survivor": {"given_name": "New"}},
            headers=lead.headers_with(**{"If-Match": "*"}),
        )
        assert_problem(edit, 409, "conflict")


class TestAccessLog:
    async def test_only_the_lead_sees_it(
        self,
        client: httpx.AsyncClient,
        lead: Partner,
        member: Partner,
        stranger: Partner,
        database: Database,
    ) -> None:
        case = await open_case(client, lead)
        await add_member(database, uuid.UUID(case["id"]), member.org.id, ["medical"])
        for other in (member, stranger):
            assert_problem(
                await client.get(f"{CASES}/{case['id']}/access-log", headers=other.headers),
                404,
                "not_found",
            )

    async def test_shows_who_read_or_changed_the_case(
        self, client: httpx.AsyncClient, lead: Partner, member: Partner, database: Database
    ) -> None:
        case = await open_case(client, lead)
        await add_member(database, uuid.UUID(case["id"]), member.org.id, ["medical"])
        await client.get(
            f"{CASES}/{case['id']}",
            headers=member.headers_with(**{"X-Request-ID": "clinic-read-0001"}),
        )
        await client.get(CASES, headers=member.headers)
        log = (await client.get(f"{CASES}/{case['id']}/access-log", headers=lead.headers)).json()[
            "items"
        ]
        assert [e["action"] for e in log] == ["case.list", "case.read", "case.create"]
        read = log[1]
        assert read["org_id"] == str(member.org.id)
        assert read["org_name"] == "Care Team Clinic"
        assert read["client_id"] == member.client.client_id
        assert read["categories"] == ["demographics"]
        assert read["request_id"] == "clinic-read-0001"
        page = (
            await client.get(
                f"{CASES}/{case['id']}/access-log", params={"limit": 2}, headers=lead.headers
            )
        ).json()
        rest = (
            await client.get(
                f"{CASES}/{case['id']}/access-log",
                params={"limit": 2, "cursor": page["next_cursor"]},
                headers=lead.headers,
            )
        ).json()
        assert [e["action"] for e in page["items"] + rest["items"]] == [
            "case.list",
            "case.read",
            "case.create",
        ]

    async def test_orders_rows_of_one_moment_across_chains_and_pages_through_all(
        self, client: httpx.AsyncClient, lead: Partner, database: Database, database_url: str
    ) -> None:
        """Rows of the same organisation at the same instant in different chains (each at seq
        1) are told apart by the chain: the order is total and a page boundary between them
        loses or repeats nothing."""
        case = await open_case(client, lead)
        moment = datetime.now(UTC) + timedelta(minutes=1)  # newest: the first page
        # Rows put straight into three chains the organisation doesn't use yet (which chain an
        # append takes depends on which are free: tests/api/test_at_rest.py covers that).
        async with database.pool.acquire() as conn:
            used = {
                r["chain"]
                for r in await conn.fetch(
                    "SELECT chain FROM audit_heads WHERE org_id = $1", lead.org.id
                )
            }
            chains = [c for c in range(1, 256) if c not in used][:3]
            for chain in chains:
                await conn.execute(
                    """
                    INSERT INTO audit_log (org_id, chain, seq, hash, occurred_at, client_id,
                                           action, case_ids, categories)
                    VALUES ($1, $2, 1, $3, $4, $5, 'case.read', $6, '{general}')
                    """,
                    lead.org.id,
                    chain,
                    bytes(32),
                    moment,
                    f"chain-{chain}",
                    [uuid.UUID(case["id"])],
                )
        url = f"{CASES}/{case['id']}/access-log"
        seen: list[str] = []
        cursor = None
        counter = StatementCounter()
        for _ in range(4):
            params: dict[str, Any] = {"limit": 1}
            if cursor:
                params["cursor"] = cursor
            counter.reset()
            database.statement_hook = counter
            try:
                page = (await client.get(url, params=params, headers=lead.headers)).json()
            finally:
                database.statement_hook = None
            assert counter.count == 3  # token status, the case as lead, the page
            seen += [e["client_id"] for e in page["items"]]
            cursor = page["next_cursor"]
        assert seen == [f"chain-{c}" for c in sorted(chains, reverse=True)] + [
            lead.client.client_id
        ]

    async def test_a_cursor_from_before_the_chains_is_422(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        """Cursors issued before this list was also ordered by chain carry (time, org, seq):
        refused as any malformed cursor, never a 500."""
        case = await open_case(client, lead)
        old = encode_cursor("access-log", (datetime.now(UTC).isoformat(), str(lead.org.id), 3))
        problem = assert_problem(
            await client.get(
                f"{CASES}/{case['id']}/access-log",
                params={"cursor": old},
                headers=lead.headers,
            ),
            422,
            "validation_error",
        )
        assert problem["errors"][0]["loc"] == ["query", "cursor"]
        # A chain number beyond smallint is refused too, not a 500.
        beyond = ACCESS_LOG_LIST.at(datetime.now(UTC), lead.org.id, 70_000, 1)
        response = await client.get(
            f"{CASES}/{case['id']}/access-log", params={"cursor": beyond}, headers=lead.headers
        )
        assert 400 <= response.status_code < 500, response.text


async def test_replay_shows_only_what_the_caller_may_see_now(
    client: httpx.AsyncClient, lead: Partner, factory: Factory, database: Database
) -> None:
    headers = lead.headers_with(**{"Idempotency-Key": "intake-narrow"})
    first = await client.post(CASES, json=case_body(), headers=headers)
    assert first.json()["survivor"]["given_name"] == PLANTED[0]
    narrow = factory.token(lead.client, "cases:write")
    replay = await client.post(
        CASES,
        json=case_body(),
        headers={"Authorization": f"Bearer {narrow}", "Idempotency-Key": "intake-narrow"},
    )
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["visible_categories"] == []
    for planted in PLANTED:
        assert planted not in replay.text
    async with database.pool.acquire() as conn:
        stored = await conn.fetchval("SELECT response_body FROM idempotency_keys")
    assert b"Planted" not in stored


@pytest.mark.parametrize(
    ("path", "method", "body"),
    [
        ("consents", "post", {"obtained_at": "0001-01-01T00:00:00+14:00"}),
        ("updates", "post", {"occurred_at": "9999-12-31T23:59:59-14:00"}),
    ],
)
async def test_out_of_range_timestamps_are_422(
    client: httpx.AsyncClient, lead: Partner, path: str, method: str, body: dict[str, Any]
) -> None:
    case = await open_case(client, lead)
    bases: dict[str, dict[str, Any]] = {
        "consents": {
            "granted_by": ["survivor"],
            "recipient_kinds": ["legal_partner"],
            "categories": ["legal"],
            "purpose": "x",
            "obtained_at": "2026-11-01T00:00:00Z",
        },
        "updates": {
            "kind": "note",
            "category": "general",
            "occurred_at": "2026-11-01T00:00:00Z",
            "summary": "x",
        },
    }
    base = bases[path]
    response = await client.request(
        method, f"{CASES}/{case['id']}/{path}", json={**base, **body}, headers=lead.headers
    )
    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize(
    "params",
    [
        {"updated_since": "2026-11-01T00:00:00"},
        {"updated_since": "0001-01-01T00:00:00+14:00"},
        {"updated_since": "1"},  # a number of seconds is not the documented RFC 3339
        {"updated_since": "1700000000"},
    ],
)
async def test_list_rejects_naive_or_absurd_timestamps(
    client: httpx.AsyncClient, lead: Partner, params: dict[str, str]
) -> None:
    response = await client.get(CASES, params=params, headers=lead.headers)
    assert_problem(response, 422, "validation_error")


async def test_crafted_cursors_are_422_never_500(client: httpx.AsyncClient, lead: Partner) -> None:
    for cursor in (
        encode_cursor("cases", ("0001-01-01T00:00:00+14:00", uuid.uuid4())),
        encode_cursor("cases", ("2026-01-01T00:00:00", uuid.uuid4())),
    ):
        response = await client.get(CASES, params={"cursor": cursor}, headers=lead.headers)
        assert response.status_code in (200, 422), response.text
    nul = encode_cursor("organizations", ("a\x00b", uuid.uuid4()))
    response = await client.get("/v1/organizations", params={"cursor": nul}, headers=lead.headers)
    assert_problem(response, 422, "validation_error")


async def test_huge_if_match_is_412(client: httpx.AsyncClient, lead: Partner) -> None:
    case = await open_case(client, lead)
    response = await client.patch(
        f"{CASES}/{case['id']}",
        json={"needs": []},
        headers=lead.headers_with(**{"If-Match": '"3000000000"'}),
    )
    assert_problem(response, 412, "precondition_failed")


async def test_concurrent_external_ref_changes_never_500(
    client: httpx.AsyncClient, lead: Partner
) -> None:
    import asyncio

    cases = [await open_case(client, lead, external_ref=f"RACE-{i}") for i in range(4)]
    responses = await asyncio.gather(
        *[
            client.patch(
                f"{CASES}/{c['id']}",
                json={"external_ref": "SAME-REF"},
                headers=lead.headers_with(**{"If-Match": "*"}),
            )
            for c in cases
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1 and set(statuses) <= {200, 409}, statuses
