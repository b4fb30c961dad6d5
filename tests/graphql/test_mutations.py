"""Every mutation: happy paths, REST's validation and domain errors, and atomic units of work."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.db.database import Database
from app.db.query import Query
from tests.api.test_referrals import refer
from tests.factories import Factory, Partner, case_body, minor_body
from tests.graphql.helpers import data_of, gql, only_error
from tests.helpers import consent, open_case

CREATE_CASE = """
mutation ($input: CreateCaseInput!) {
  createCase(input: $input) {
    id reference status role externalRef isMinor ageBand visibleCategories
    survivor { givenName gender languages } guardian { name relationship }
  }
}
"""
RECORD_CONSENT = """
mutation ($case: UUID!, $input: RecordConsentInput!) {
  recordConsent(caseId: $case, input: $input) { id status categories recipientOrgId purpose }
}
"""
REVOKE_CONSENT = """
mutation ($case: UUID!, $consent: UUID!, $reason: String!) {
  revokeConsent(caseId: $case, consentId: $consent, reason: $reason) { id status revokeReason }
}
"""
CREATE_REFERRAL = """
mutation ($input: CreateReferralInput!) {
  createReferral(input: $input) { id status direction sharedCategories caseReference }
}
"""
CREATE_UPDATE = """
mutation ($case: UUID!, $input: CreateCaseUpdateInput!) {
  createCaseUpdate(caseId: $case, input: $input) { id kind category summary details supersedes }
}
"""


def graphql_case(**overrides: Any) -> dict[str, Any]:
    """REST's intake body in GraphQL's spelling."""

    def camel(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k.split("_")[0] + "".join(p.title() for p in k.split("_")[1:]): camel(v)
                for k, v in value.items()
            }
        return value

    body: dict[str, Any] = camel(case_body(**overrides))
    return body


# Overrides the shared `clinic`: a medical provider offering only the default service.
@pytest.fixture
async def clinic(factory: Factory) -> Partner:
    return await factory.partner(name="Mutation Clinic", kind="medical_provider")


async def audit_actions(database: Database, org: Partner) -> list[str]:
    session = database.session(transactional=False)
    try:
        rows = await session.fetch(
            Query(
                # chronological across the organisation's chains (seq orders one chain only)
                "SELECT action FROM audit_log WHERE org_id = $1 ORDER BY occurred_at, chain, seq",
                ("org",),
            ),
            org=org.org.id,
        )
    finally:
        await session.close()
    return [r["action"] for r in rows]


class TestCreateCase:
    async def test_happy_path_matches_rest(
        self, client: httpx.AsyncClient, lead: Partner, database: Database
    ) -> None:
        created = data_of(await gql(client, lead, CREATE_CASE, {"input": graphql_case()}))
        case = created["createCase"]
        assert case["status"] == "open" and case["role"] == "lead"
        assert case["externalRef"] == "HL-2026-0001"
        assert case["ageBand"] == "25-34" and case["isMinor"] is False
        assert case["survivor"] == {
            "givenName": "Planted-Givenname-Xq7",
            "gender": "female",
            "languages": ["my", "th"],
        }
        rest = (await client.get(f"/v1/cases/{case['id']}", headers=lead.headers)).json()
        assert rest["reference"] == case["reference"]
        assert rest["survivor"]["given_name"] == "Planted-Givenname-Xq7"
        assert "case.create" in await audit_actions(database, lead)

    async def test_minor_needs_a_guardian(self, client: httpx.AsyncClient, lead: Partner) -> None:
        body = graphql_case(**{k: v for k, v in minor_body().items() if k != "guardian"})
        body.pop("guardian", None)
        result = await gql(client, lead, CREATE_CASE, {"input": body})
        error = only_error(result, "validation_error")
        assert error["extensions"]["errors"][0]["loc"] == ["input", "guardian"]
        body["guardian"] = {"name": "Planted-Guardian-Name", "relationship": "aunt"}
        case = data_of(await gql(client, lead, CREATE_CASE, {"input": body}))["createCase"]
        assert case["isMinor"] is True
        assert case["guardian"] == {"name": "Planted-Guardian-Name", "relationship": "aunt"}

    @pytest.mark.parametrize(
        ("change", "loc"),
        [
            ({"externalRef": ""}, ["input", "externalRef"]),
            ({"externalRef": "has spaces"}, ["input", "externalRef"]),
            ({"survivor": {"gender": "female", "languages": ["not a tag"]}}, ["input", "survivor"]),
            ({"survivor": {"gender": "female", "nationality": "Myanmar"}}, ["input", "survivor"]),
            ({"survivor": {"gender": "female", "givenName": "x" * 201}}, ["input", "survivor"]),
            ({"survivor": {"gender": "female"}}, ["input", "survivor", "dateOfBirth"]),
            ({"exploitation": {"identifiedOn": "2999-01-01"}}, ["input", "exploitation"]),
        ],
    )
    async def test_bad_input_is_a_validation_error_and_creates_nothing(
        self, client: httpx.AsyncClient, lead: Partner, change: dict[str, Any], loc: list[str]
    ) -> None:
        body = {**graphql_case(), **change}
        result = await gql(client, lead, CREATE_CASE, {"input": body})
        assert result["data"] == {"createCase": None}
        error = only_error(result, "validation_error")
        assert error["path"] == ["createCase"]
        assert error["extensions"]["errors"][0]["loc"][: len(loc)] == loc
        assert "x" * 201 not in str(result)
        listed = data_of(await gql(client, lead, "{ cases { edges { cursor } } }"))
        assert listed["cases"]["edges"] == []

    async def test_duplicate_external_ref_is_a_conflict(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        first = data_of(await gql(client, lead, CREATE_CASE, {"input": graphql_case()}))
        result = await gql(client, lead, CREATE_CASE, {"input": graphql_case()})
        error = only_error(result, "conflict")
        assert error["extensions"]["existingId"] == first["createCase"]["id"]


class TestConsents:
    async def test_record_and_revoke(
        self, client: httpx.AsyncClient, lead: Partner, clinic: Partner
    ) -> None:
        case = await open_case(client, lead)
        consent_input = {
            "grantedBy": ["survivor"],
            "recipientOrgId": str(clinic.org.id),
            "categories": ["medical"],
            "purpose": "treatment",
            "obtainedAt": "2026-11-01T09:00:00Z",
        }
        recorded = data_of(
            await gql(client, lead, RECORD_CONSENT, {"case": case["id"], "input": consent_input})
        )["recordConsent"]
        assert recorded["status"] == "active" and recorded["categories"] == ["medical"]
        variables = {"case": case["id"], "consent": recorded["id"], "reason": "withdrawn"}
        revoked = data_of(await gql(client, lead, REVOKE_CONSENT, variables))["revokeConsent"]
        assert revoked == {"id": recorded["id"], "status": "revoked", "revokeReason": "withdrawn"}
        again = await gql(client, lead, REVOKE_CONSENT, variables)
        only_error(again, "invalid_transition")
        empty = await gql(client, lead, REVOKE_CONSENT, {**variables, "reason": ""})
        assert only_error(empty, "validation_error")["extensions"]["errors"][0]["loc"] == ["reason"]

    async def test_rules_and_visibility(
        self, client: httpx.AsyncClient, lead: Partner, clinic: Partner
    ) -> None:
        case = await open_case(client, lead)
        both = {
            "grantedBy": ["survivor"],
            "recipientOrgId": str(clinic.org.id),
            "recipientKinds": ["medical_provider"],
            "categories": ["medical"],
            "purpose": "treatment",
            "obtainedAt": "2026-11-01T09:00:00Z",
        }
        result = await gql(client, lead, RECORD_CONSENT, {"case": case["id"], "input": both})
        error = only_error(result, "validation_error")
        assert error["extensions"]["errors"][0]["loc"] == ["input", "recipientOrgId"]
        naive = {**both, "recipientKinds": None, "obtainedAt": "2026-11-01T09:00:00"}
        result = await gql(client, lead, RECORD_CONSENT, {"case": case["id"], "input": naive})
        assert only_error(result, "validation_error")["extensions"]["errors"][0]["loc"] == [
            "input",
            "obtainedAt",
        ]
        ok = {**both, "recipientKinds": None}
        result = await gql(client, clinic, RECORD_CONSENT, {"case": case["id"], "input": ok})
        only_error(result, "not_found")  # only the lead records consent; others get REST's 404


class TestReferrals:
    async def test_create_needs_consent(
        self, client: httpx.AsyncClient, lead: Partner, clinic: Partner
    ) -> None:
        case = await open_case(client, lead)
        body = {
            "caseId": case["id"],
            "toOrgId": str(clinic.org.id),
            "service": "medical",
            "urgency": "high",
            "reason": "Infected wound needs treatment",
            "sharedCategories": ["demographics", "medical", "legal"],
        }
        result = await gql(client, lead, CREATE_REFERRAL, {"input": body})
        error = only_error(result, "consent_required")
        assert error["extensions"]["uncoveredCategories"] == ["medical", "legal"]
        assert error["extensions"]["errors"][0]["loc"] == ["input", "sharedCategories"]
        await consent(client, lead, case["id"], clinic, ["medical", "legal"])
        created = data_of(await gql(client, lead, CREATE_REFERRAL, {"input": body}))
        assert created["createReferral"]["status"] == "pending"
        assert created["createReferral"]["direction"] == "outgoing"
        assert created["createReferral"]["caseReference"] == case["reference"]

    @pytest.mark.parametrize(
        ("change", "code", "loc"),
        [
            ({"reason": ""}, "validation_error", ["input", "reason"]),
            (
                {"toOrgId": "00000000-0000-4000-8000-000000000000"},
                "validation_error",
                ["input", "toOrgId"],
            ),
            ({"respondBy": "2020-01-01T00:00:00Z"}, "validation_error", ["input", "respondBy"]),
        ],
    )
    async def test_bad_input(
        self,
        client: httpx.AsyncClient,
        lead: Partner,
        clinic: Partner,
        change: dict[str, Any],
        code: str,
        loc: list[str],
    ) -> None:
        case = await open_case(client, lead)
        body = {
            "caseId": case["id"],
            "toOrgId": str(clinic.org.id),
            "service": "medical",
            "urgency": "high",
            "reason": "x",
            **change,
        }
        error = only_error(await gql(client, lead, CREATE_REFERRAL, {"input": body}), code)
        assert error["extensions"]["errors"][0]["loc"] == loc

    async def test_transitions(
        self, client: httpx.AsyncClient, factory: Factory, lead: Partner, clinic: Partner
    ) -> None:
        case = await open_case(client, lead)
        fields = "{ id status statusReason outcome }"

        async def move(who: Partner, name: str, referral: dict[str, Any], **args: str) -> Any:
            params = "".join(f', {k}: "{v}"' for k, v in args.items())
            return await gql(
                client, who, f'mutation {{ {name}(id: "{referral["id"]}"{params}) {fields} }}'
            )

        first = await refer(client, lead, case, clinic, shared_categories=["demographics"])
        only_error(await move(clinic, "startReferral", first), "invalid_transition")
        only_error(await move(lead, "acceptReferral", first), "invalid_transition")
        for who, name, args, status in (
            (clinic, "acceptReferral", {}, "accepted"),
            (clinic, "startReferral", {}, "in_progress"),
            (clinic, "completeReferral", {"outcome": "Wound healed"}, "completed"),
        ):
            moved = data_of(await move(who, name, first, **args))[name]
            assert moved["status"] == status
        assert moved["outcome"] == "Wound healed"

        second = await refer(client, lead, case, clinic, shared_categories=["demographics"])
        only_error(await move(clinic, "declineReferral", second, reason=""), "validation_error")
        declined = data_of(await move(clinic, "declineReferral", second, reason="Full"))
        assert declined["declineReferral"]["status"] == "declined"

        third = await refer(client, lead, case, clinic, shared_categories=["demographics"])
        data_of(await move(clinic, "acceptReferral", third))
        failed = data_of(await move(clinic, "failReferral", third, reason="Lost contact"))
        assert failed["failReferral"] == {
            "id": third["id"],
            "status": "failed",
            "statusReason": "Lost contact",
            "outcome": None,
        }

        fourth = await refer(client, lead, case, clinic, shared_categories=["demographics"])
        stranger = await factory.partner(name="Mutation Stranger")
        only_error(await move(stranger, "withdrawReferral", fourth, reason="x"), "not_found")
        withdrawn = data_of(await move(lead, "withdrawReferral", fourth, reason="Found a place"))
        assert withdrawn["withdrawReferral"]["status"] == "withdrawn"


class TestCaseUpdates:
    async def test_post_and_correct(self, client: httpx.AsyncClient, lead: Partner) -> None:
        case = await open_case(client, lead)
        body = {
            "kind": "assessment",
            "category": "medical",
            "occurredAt": "2026-11-02T10:00:00Z",
            "summary": "Blood pressure normal",
            "details": {"systolic": 118, "diastolic": 76},
        }
        posted = data_of(
            await gql(client, lead, CREATE_UPDATE, {"case": case["id"], "input": body})
        )
        update = posted["createCaseUpdate"]
        assert update["details"] == {"systolic": 118, "diastolic": 76}
        correction = {**body, "summary": "Blood pressure slightly high", "supersedes": update["id"]}
        fixed = data_of(
            await gql(client, lead, CREATE_UPDATE, {"case": case["id"], "input": correction})
        )
        assert fixed["createCaseUpdate"]["supersedes"] == update["id"]
        wrong = {**correction, "category": "legal"}
        result = await gql(client, lead, CREATE_UPDATE, {"case": case["id"], "input": wrong})
        assert only_error(result, "validation_error")["extensions"]["errors"][0]["loc"] == [
            "input",
            "category",
        ]

    async def test_category_write_scope(
        self, client: httpx.AsyncClient, factory: Factory, lead: Partner
    ) -> None:
        case = await open_case(client, lead)
        token = factory.token(lead.client, "cases:read cases:write")
        body = {
            "kind": "note",
            "category": "medical",
            "occurredAt": "2026-11-02T10:00:00Z",
            "summary": "x",
        }
        result = await gql(
            client,
            {"Authorization": f"Bearer {token}"},
            CREATE_UPDATE,
            {"case": case["id"], "input": body},
        )
        error = only_error(result, "insufficient_scope")
        assert error["extensions"]["requiredScopes"] == ["cases:write", "medical:write"]
        future = {**body, "category": "general", "occurredAt": "2999-01-01T00:00:00Z"}
        result = await gql(client, lead, CREATE_UPDATE, {"case": case["id"], "input": future})
        only_error(result, "validation_error")

    async def test_details_larger_than_the_bound_are_a_validation_error(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        """The same bound as REST (AFTERCARE_MAX_DETAILS_BYTES, 16 KiB by default)."""
        case = await open_case(client, lead)
        body = {
            "kind": "note",
            "category": "general",
            "occurredAt": "2026-11-02T10:00:00Z",
            "summary": "long notes",
            "details": {"notes": "x" * 16_384},
        }
        result = await gql(client, lead, CREATE_UPDATE, {"case": case["id"], "input": body})
        error = only_error(result, "validation_error")
        assert error["extensions"]["errors"][0]["loc"] == ["input", "details"]
        assert "x" * 10 not in str(result)
        body["details"] = {"notes": "x" * 16_000}
        posted = data_of(
            await gql(client, lead, CREATE_UPDATE, {"case": case["id"], "input": body})
        )
        assert posted["createCaseUpdate"]["details"] == body["details"]


class TestUnitOfWork:
    async def test_a_failed_mutation_rolls_back_alone(
        self, client: httpx.AsyncClient, lead: Partner, database: Database
    ) -> None:
        before = await audit_actions(database, lead)
        result = await gql(
            client,
            lead,
            """mutation ($a: CreateCaseInput!, $b: CreateCaseInput!) {
                 first: createCase(input: $a) { id }
                 second: createCase(input: $b) { id }
                 third: createCase(input: $a) { id }
               }""",
            {"a": graphql_case(external_ref="UOW-1"), "b": graphql_case(external_ref="")},
        )
        assert result["data"]["first"]["id"]
        assert result["data"]["second"] is None and result["data"]["third"] is None
        assert [e["path"] for e in result["errors"]] == [["second"], ["third"]]
        assert [e["extensions"]["code"] for e in result["errors"]] == [
            "validation_error",
            "conflict",
        ]
        listed = data_of(await gql(client, lead, "{ cases { edges { node { id } } } }"))
        assert [e["node"]["id"] for e in listed["cases"]["edges"]] == [
            result["data"]["first"]["id"]
        ]
        # only the successful intake left an audit trace (and the list just now)
        assert (await audit_actions(database, lead))[len(before) :] == ["case.create", "case.list"]

    async def test_a_mutation_failing_after_writing_leaves_nothing(
        self, client: httpx.AsyncClient, factory: Factory, lead: Partner, database: Database
    ) -> None:
        full = await factory.partner(
            name="Mutation Full Shelter",
            kind="government_shelter",
            services=["shelter"],
            capacity=[("shelter", 0, 10)],
        )
        case = await open_case(client, lead)
        referral = await refer(
            client, lead, case, full, service="shelter", shared_categories=["demographics"]
        )
        # accept moves the status first, then finds no free place: everything is undone
        variables = {"id": referral["id"]}
        result = await gql(
            client, full, "mutation ($id: UUID!) { acceptReferral(id: $id) { status } }", variables
        )
        only_error(result, "conflict")
        again = data_of(
            await gql(
                client, full, "query ($id: UUID!) { referral(id: $id) { status } }", variables
            )
        )
        assert again["referral"]["status"] == "pending"
        assert "referral.accept" not in await audit_actions(database, full)

    async def test_accept_then_complete_in_one_document_does_not_return_a_case_no_longer_seen(
        self, client: httpx.AsyncClient, lead: Partner, clinic: Partner
    ) -> None:
        """The request's loaders cached the case as the first mutation's answer saw it (the
        clinic then on the care team) and answered the second with it, after completing the
        referral had taken the clinic off the case."""
        case = await open_case(client, lead)
        referral = await refer(client, lead, case, clinic, shared_categories=["demographics"])
        selection = "{ status case { id ageBand } }"
        document = (
            f"mutation ($id: UUID!) {{ a: acceptReferral(id: $id) {selection} "
            f'b: completeReferral(id: $id, outcome: "Done") {selection} }}'
        )
        data = data_of(await gql(client, clinic, document, {"id": referral["id"]}))
        assert data["a"]["status"] == "accepted"
        assert data["a"]["case"]["id"] == case["id"]
        assert data["b"]["status"] == "completed"
        assert data["b"]["case"] is None  # as a fresh request (and REST) answers now
        after = await gql(
            client, clinic, "query ($id: UUID!) { case(id: $id) { id } }", {"id": case["id"]}
        )
        only_error(after, "not_found")
