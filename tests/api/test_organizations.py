"""Directory: GET /v1/organizations, /{id}, /me and PATCH /me."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from app.domain.vocabulary import OrganizationKind as K
from app.domain.vocabulary import ServiceKind as S
from tests.factories import Factory, Partner
from tests.helpers import StatementCounter, assert_problem

LIST = "/v1/organizations"
ME = "/v1/organizations/me"


# Overrides the shared `partner`: the directory tests read its name, services and capacity.
@pytest.fixture
async def partner(factory: Factory) -> Partner:
    return await factory.partner(
        name="Aaa Harbor Shelter",
        services=[S.SHELTER, S.COUNSELING],
        capacity=[(S.SHELTER, 2, 10)],
        accepts_minors=True,
    )


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [o["name"] for o in response.json()["items"]]


class TestList:
    async def test_any_scope_may_read_the_directory(
        self, client: httpx.AsyncClient, factory: Factory
    ) -> None:
        reader = await factory.partner(scopes=["reports:read"])
        assert (await client.get(LIST, headers=reader.headers)).status_code == 200

    async def test_filters(
        self, client: httpx.AsyncClient, factory: Factory, partner: Partner
    ) -> None:
        await factory.organization(
            name="Bbb Government Shelter",
            kind=K.GOVERNMENT_SHELTER,
            services=[S.SHELTER],
            capacity=[(S.SHELTER, 0, 30)],
            country="KH",
        )
        await factory.organization(
            name="Ccc Legal Aid",
            kind=K.LEGAL_PARTNER,
            services=[S.LEGAL],
            accepts_minors=True,
            capacity=[(S.LEGAL, 5, 5)],
        )
        await factory.organization(
            name="Ddd Clinic", kind=K.MEDICAL_PROVIDER, services=[S.MEDICAL], accepts_minors=False
        )
        h = partner.headers
        assert names(await client.get(LIST, headers=h)) == [
            "Aaa Harbor Shelter",
            "Bbb Government Shelter",
            "Ccc Legal Aid",
            "Ddd Clinic",
        ]
        assert names(await client.get(LIST, params={"kind": "legal_partner"}, headers=h)) == [
            "Ccc Legal Aid"
        ]
        assert names(await client.get(LIST, params={"service": "shelter"}, headers=h)) == [
            "Aaa Harbor Shelter",
            "Bbb Government Shelter",
        ]
        assert names(await client.get(LIST, params={"country": "KH"}, headers=h)) == [
            "Bbb Government Shelter"
        ]
        assert names(await client.get(LIST, params={"accepts_minors": "true"}, headers=h)) == [
            "Aaa Harbor Shelter",
            "Ccc Legal Aid",
        ]
        assert names(
            await client.get(LIST, params={"service": "shelter", "has_capacity": "true"}, headers=h)
        ) == ["Aaa Harbor Shelter"]
        assert names(await client.get(LIST, params={"has_capacity": "true"}, headers=h)) == [
            "Aaa Harbor Shelter",
            "Ccc Legal Aid",
        ]
        assert names(
            await client.get(
                LIST, params={"service": "shelter", "has_capacity": "false"}, headers=h
            )
        ) == ["Bbb Government Shelter"]
        routing = {"service": "shelter", "has_capacity": "true", "accepts_minors": "true"}
        assert names(await client.get(LIST, params=routing, headers=h)) == ["Aaa Harbor Shelter"]

    @pytest.mark.parametrize(
        "params",
        [
            {"kind": "castle"},
            {"service": "spa"},
            {"country": "tha"},
            {"country": "th"},
            {"accepts_minors": "perhaps"},
            {"limit": "0"},
            {"limit": "101"},
            {"limit": "ten"},
            {"cursor": "not-a-cursor"},
            {"has_capacity": "yes"},  # booleans are `true` or `false`, as documented
            {"accepts_minors": "1"},
        ],
    )
    async def test_bad_input(
        self, client: httpx.AsyncClient, partner: Partner, params: dict[str, str]
    ) -> None:
        body = assert_problem(
            await client.get(LIST, params=params, headers=partner.headers), 422, "validation_error"
        )
        assert body["errors"][0]["loc"][0] == "query"
        assert body["errors"][0]["loc"][1] in params

    async def test_pagination_is_stable_under_inserts(
        self, client: httpx.AsyncClient, factory: Factory, partner: Partner
    ) -> None:
        for i in range(1, 10):
            await factory.organization(name=f"Org {i:02d}")
        h = partner.headers
        first = await client.get(LIST, params={"limit": 4}, headers=h)
        assert names(first) == ["Aaa Harbor Shelter", "Org 01", "Org 02", "Org 03"]
        cursor = first.json()["next_cursor"]
        # Rows inserted before and after the boundary: the next page continues where it was.
        await factory.organization(name="Org 00 early")
        await factory.organization(name="Org 05b")
        second = await client.get(LIST, params={"limit": 4, "cursor": cursor}, headers=h)
        assert names(second) == ["Org 04", "Org 05", "Org 05b", "Org 06"]
        third = await client.get(
            LIST, params={"limit": 4, "cursor": second.json()["next_cursor"]}, headers=h
        )
        assert names(third) == ["Org 07", "Org 08", "Org 09"]
        assert third.json()["next_cursor"] is None

    async def test_default_limit_is_25(
        self, client: httpx.AsyncClient, factory: Factory, partner: Partner
    ) -> None:
        for i in range(26):
            await factory.organization(name=f"Org {i:02d}")
        body = (await client.get(LIST, headers=partner.headers)).json()
        assert len(body["items"]) == 25 and body["next_cursor"]

    async def test_a_page_costs_two_statements(
        self, client: httpx.AsyncClient, factory: Factory, partner: Partner, database: Any
    ) -> None:
        for i in range(30):
            await factory.organization(name=f"Org {i:02d}", capacity=[(S.SHELTER, 1, 2)])
        counter = StatementCounter()
        database.statement_hook = counter
        response = await client.get(LIST, params={"limit": 30}, headers=partner.headers)
        assert len(response.json()["items"]) == 30
        # token check + one page query (capacity aggregated in it): no N+1.
        assert counter.count == 2, counter.statements


class TestGetOne:
    async def test_happy_path(
        self, client: httpx.AsyncClient, factory: Factory, partner: Partner
    ) -> None:
        other = await factory.organization(
            name="Other", services=[S.MEDICAL], languages=["th", "my"]
        )
        response = await client.get(f"{LIST}/{other.id}", headers=partner.headers)
        assert response.status_code == 200
        assert response.headers["etag"] == '"1"'
        body = response.json()
        assert body["id"] == str(other.id)
        assert body["services"] == ["medical"]
        assert body["languages"] == ["th", "my"]
        assert set(body) == {
            "id",
            "name",
            "kind",
            "country",
            "services",
            "languages",
            "regions",
            "populations",
            "capacity",
            "created_at",
            "updated_at",
            "version",
        }

    async def test_unknown_is_404(self, client: httpx.AsyncClient, partner: Partner) -> None:
        assert_problem(
            await client.get(f"{LIST}/{uuid.uuid4()}", headers=partner.headers), 404, "not_found"
        )

    async def test_malformed_id_is_422(self, client: httpx.AsyncClient, partner: Partner) -> None:
        assert_problem(
            await client.get(f"{LIST}/42", headers=partner.headers), 422, "validation_error"
        )


class TestMe:
    async def test_happy_path(self, client: httpx.AsyncClient, partner: Partner) -> None:
        response = await client.get(ME, headers=partner.headers)
        assert response.status_code == 200
        assert response.headers["etag"] == '"1"'
        body = response.json()
        assert body["id"] == str(partner.org.id)
        assert body["populations"] == {
            "accepts_minors": True,
            "accepts_adults": True,
            "genders": [],
        }
        assert body["capacity"][0]["service"] == "shelter"
        assert body["capacity"][0]["available"] == 2
        assert body["created_at"].endswith("Z")

    async def test_costs_two_statements(
        self, client: httpx.AsyncClient, partner: Partner, database: Any
    ) -> None:
        counter = StatementCounter()
        database.statement_hook = counter
        assert (await client.get(ME, headers=partner.headers)).status_code == 200
        assert counter.count == 2, counter.statements


class TestPatchMe:
    async def test_happy_path(self, client: httpx.AsyncClient, partner: Partner) -> None:
        response = await client.patch(
            ME,
            json={
                "services": ["shelter", "counseling", "education"],
                "languages": ["en", "th", "pt-BR"],
                "regions": ["TH-10", "TH-50"],
                "populations": {"accepts_adults": False, "genders": ["female", "non_binary"]},
                "capacity": [
                    {"service": "shelter", "available": 3, "maximum": 10},
                    {"service": "education", "available": 20, "maximum": 25},
                ],
            },
            headers=partner.headers_with(**{"If-Match": '"1"'}),
        )
        assert response.status_code == 200, response.text
        assert response.headers["etag"] == '"2"'
        body = response.json()
        assert body["version"] == 2
        assert body["services"] == ["shelter", "counseling", "education"]
        assert body["languages"] == ["en", "th", "pt-BR"]
        assert body["populations"] == {
            "accepts_minors": True,
            "accepts_adults": False,
            "genders": ["female", "non_binary"],
        }
        assert [(c["service"], c["available"], c["maximum"]) for c in body["capacity"]] == [
            ("education", 20, 25),
            ("shelter", 3, 10),
        ]
        assert body["updated_at"] > body["created_at"]
        again = await client.get(ME, headers=partner.headers)
        assert again.json() == body

    async def test_partial_patch_keeps_other_fields(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        response = await client.patch(
            ME, json={"languages": ["km"]}, headers=partner.headers_with(**{"If-Match": "*"})
        )
        body = response.json()
        assert body["languages"] == ["km"]
        assert body["services"] == ["shelter", "counseling"]
        assert body["capacity"][0]["available"] == 2

    async def test_dropping_a_service_drops_its_capacity(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        response = await client.patch(
            ME,
            json={"services": ["counseling"]},
            headers=partner.headers_with(**{"If-Match": '"1"'}),
        )
        assert response.json()["capacity"] == []

    async def test_the_capacity_a_get_returned_can_be_sent_back(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        """`updated_at` of a capacity entry is read-only: accepted and ignored (the hub sets
        it), so a client may send back the `capacity` it read, changed or not."""
        read = await client.get(ME, headers=partner.headers)
        capacity = read.json()["capacity"]
        assert [set(c) for c in capacity] == [{"service", "available", "maximum", "updated_at"}]
        response = await client.patch(
            ME, json={"capacity": capacity}, headers=partner.headers_with(**{"If-Match": '"1"'})
        )
        assert response.status_code == 200, response.text
        assert [(c["service"], c["available"]) for c in response.json()["capacity"]] == [
            ("shelter", 2)
        ]
        changed = [{**capacity[0], "available": 5, "updated_at": "2001-02-03T04:05:06Z"}]
        response = await client.patch(
            ME, json={"capacity": changed}, headers=partner.headers_with(**{"If-Match": '"2"'})
        )
        assert response.status_code == 200, response.text
        (entry,) = response.json()["capacity"]
        assert entry["available"] == 5
        assert entry["updated_at"] >= capacity[0]["updated_at"]  # the hub's clock, not ours
        assert entry["updated_at"] != "2001-02-03T04:05:06Z"

    async def test_if_match_missing_is_428(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        response = await client.patch(ME, json={"languages": ["en"]}, headers=partner.headers)
        assert_problem(response, 428, "precondition_required")

    async def test_stale_if_match_is_412_and_changes_nothing(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        ok = await client.patch(
            ME, json={"languages": ["en"]}, headers=partner.headers_with(**{"If-Match": '"1"'})
        )
        assert ok.status_code == 200
        stale = await client.patch(
            ME, json={"languages": ["fr"]}, headers=partner.headers_with(**{"If-Match": '"1"'})
        )
        assert_problem(stale, 412, "precondition_failed")
        assert (await client.get(ME, headers=partner.headers)).json()["languages"] == ["en"]

    @pytest.mark.parametrize(
        ("body", "loc"),
        [
            ({"name": "Renamed"}, ["body", "name"]),
            ({"lead": True}, ["body"]),  # an unknown key is not repeated (it could be data)
            ({"languages": ["English"]}, ["body", "languages", 0]),
            ({"languages": None}, ["body"]),
            ({"services": ["spa"]}, ["body", "services", 0]),
            (
                {"populations": {"accepts_minors": "maybe"}},
                ["body", "populations", "accepts_minors"],
            ),
            ({"populations": {"pets": True}}, ["body", "populations"]),
            (
                {"capacity": [{"service": "shelter", "available": -1, "maximum": 3}]},
                ["body", "capacity", 0, "available"],
            ),
            (
                {"capacity": [{"service": "shelter", "available": 4, "maximum": 3}]},
                ["body", "capacity", 0, "available"],
            ),
            (
                {"capacity": [{"service": "medical", "available": 1, "maximum": 3}]},
                ["body", "capacity", 0, "service"],
            ),
            (
                {"capacity": [{"service": "shelter", "available": 1}]},
                ["body", "capacity", 0, "maximum"],
            ),
            (
                {
                    "capacity": [
                        {"service": "shelter", "available": 1, "maximum": 3, "updated_at": 1}
                    ]
                },
                ["body", "capacity", 0, "updated_at"],
            ),
        ],
    )
    async def test_bad_input_is_422_and_changes_nothing(
        self, client: httpx.AsyncClient, partner: Partner, body: dict[str, Any], loc: list[Any]
    ) -> None:
        response = await client.patch(
            ME, json=body, headers=partner.headers_with(**{"If-Match": '"1"'})
        )
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"][: len(loc)] == loc, problem
        after = (await client.get(ME, headers=partner.headers)).json()
        assert after["version"] == 1

    async def test_malformed_json_is_422(self, client: httpx.AsyncClient, partner: Partner) -> None:
        response = await client.patch(
            ME,
            content=b'{"languages": [',
            headers=partner.headers_with(**{"If-Match": '"1"', "Content-Type": "application/json"}),
        )
        assert_problem(response, 422, "validation_error")

    async def test_another_organisations_profile_cannot_be_patched(
        self, client: httpx.AsyncClient, factory: Factory, partner: Partner
    ) -> None:
        other = await factory.organization(name="Someone Else")
        response = await client.patch(
            f"{LIST}/{other.id}",
            json={"languages": ["en"]},
            headers=partner.headers_with(**{"If-Match": "*"}),
        )
        assert_problem(response, 405, "method_not_allowed")
        assert (await client.get(f"{LIST}/{other.id}", headers=partner.headers)).json()[
            "version"
        ] == 1
