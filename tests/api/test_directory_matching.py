"""Directory matching: language, region, age and gender filters (GIN-indexed) and the new
service kinds."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from app.db.database import Database
from app.db.query import Query
from app.db.repositories.organizations import directory_sql
from app.domain.organizations import DirectoryFilter
from app.domain.vocabulary import ServiceKind as S
from tests.factories import Factory, Partner
from tests.graphql.helpers import data_of, gql, only_error
from tests.helpers import assert_problem, open_case

LIST = "/v1/organizations"


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [o["name"] for o in response.json()["items"]]


@pytest.fixture
async def directory(factory: Factory) -> None:
    await factory.organization(
        name="Bangkok Lao Clinic",
        kind="medical_provider",
        services=[S.MEDICAL, S.INTERPRETATION],
        languages=["lo", "th-TH"],
        regions=["TH-10"],
        accepts_minors=True,
        accepts_adults=False,
        genders=["female"],
        capacity=[(S.MEDICAL, 2, 5)],
    )
    await factory.organization(
        name="Chiang Mai Shelter",
        services=[S.SHELTER, S.BASIC_NEEDS, S.PROTECTION],
        languages=["th", "en"],
        regions=["TH-50"],
        accepts_minors=True,
        accepts_adults=True,
        capacity=[(S.SHELTER, 0, 10)],
    )
    await factory.organization(
        name="Adult Men's House",
        services=[S.SHELTER],
        languages=["en"],
        regions=["TH-10"],
        accepts_adults=True,
        genders=["male"],
    )


@pytest.mark.usefixtures("directory")
class TestFilters:
    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"language": "lo"}, ["Bangkok Lao Clinic"]),
            ({"language": "th"}, ["Bangkok Lao Clinic", "Chiang Mai Shelter"]),  # th-TH too
            ({"language": "th-TH"}, ["Bangkok Lao Clinic", "Chiang Mai Shelter"]),
            ({"region": "TH-10"}, ["Adult Men's House", "Bangkok Lao Clinic"]),
            ({"age": 15}, ["Bangkok Lao Clinic", "Chiang Mai Shelter"]),
            ({"age": 30}, ["Adult Men's House", "Chiang Mai Shelter"]),
            ({"gender": "female"}, ["Bangkok Lao Clinic", "Chiang Mai Shelter"]),  # [] = all
            ({"gender": "male"}, ["Adult Men's House", "Chiang Mai Shelter"]),
            ({"service": "interpretation"}, ["Bangkok Lao Clinic"]),
            ({"service": "basic_needs"}, ["Chiang Mai Shelter"]),
            # The shelter case of the issue: Lao speakers in TH-10 for a 15-year-old girl.
            (
                {"language": "lo", "region": "TH-10", "age": 15, "gender": "female"},
                ["Bangkok Lao Clinic"],
            ),
            ({"region": "TH-10", "age": 15, "gender": "male"}, []),
            (
                {"service": "medical", "has_capacity": "true", "language": "lo"},
                ["Bangkok Lao Clinic"],
            ),
            ({"service": "shelter", "has_capacity": "true", "region": "TH-50"}, []),
            ({"has_capacity": "true", "language": "th"}, ["Bangkok Lao Clinic"]),
        ],
    )
    async def test_filters_combine(
        self,
        client: httpx.AsyncClient,
        partner: Partner,
        params: dict[str, Any],
        expected: list[str],
    ) -> None:
        found = names(await client.get(LIST, params=params, headers=partner.headers))
        assert [n for n in found if n in {"Bangkok Lao Clinic", "Chiang Mai Shelter",
                                          "Adult Men's House"}] == expected  # fmt: skip

    @pytest.mark.parametrize(
        "params",
        [
            {"language": "Lao"},
            {"language": "l"},
            {"region": "TH10"},
            {"region": "th-10"},
            {"age": -1},
            {"age": 131},
            {"age": "fifteen"},
            {"gender": "unknown"},
        ],
    )
    async def test_bad_values_are_422(
        self, client: httpx.AsyncClient, partner: Partner, params: dict[str, Any]
    ) -> None:
        body = assert_problem(
            await client.get(LIST, params=params, headers=partner.headers), 422, "validation_error"
        )
        assert body["errors"][0]["loc"] == ["query", next(iter(params))]

    async def test_graphql_filters_the_same(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        query = """query($f: OrganizationFilter) {
          organizations(filter: $f) { edges { node { name } } } }"""
        found = data_of(
            await gql(client, partner, query, {"f": {"language": "lo", "region": "TH-10",
                                                      "age": 15, "gender": "female"}})
        )["organizations"]["edges"]  # fmt: skip
        assert [e["node"]["name"] for e in found] == ["Bangkok Lao Clinic"]
        only_error(await gql(client, partner, query, {"f": {"region": "bad"}}), "validation_error")
        only_error(await gql(client, partner, query, {"f": {"age": 200}}), "validation_error")


async def test_each_array_filter_is_an_index_scan_on_a_large_directory(
    database: Database,
) -> None:
    """10,000 organisations: the plan of a language + region search uses the GIN indexes (no
    sequential scan of the directory)."""
    session = database.session(transactional=True)
    try:
        await session.execute(
            Query(
                """
                INSERT INTO organizations (id, name, kind, services, languages, regions)
                SELECT gen_random_uuid(), 'Org ' || i, 'ngo_shelter', ARRAY['shelter'],
                       ARRAY[(ARRAY['en', 'th', 'km', 'my', 'vi'])[1 + i % 5] || '-XX'],
                       ARRAY['TH-' || (i % 77)]
                FROM generate_series(1, 10000) i
                """
            )
        )
        await session.execute(Query("ANALYZE organizations"))
        await session.commit()
        sql = directory_sql(DirectoryFilter(language="lo", region="TH-10").bound())
        # Parameters in statement order: language, region, after_name, after_id, limit.
        literal = _with_literals(sql, ["lo", "TH-10", "", None, 26])
        plan = "\n".join(r[0] for r in await session.fetch(Query("EXPLAIN " + literal)))
    finally:
        await session.close()
    assert "Bitmap Index Scan on ix_organizations_language_primaries" in plan, plan
    assert "Seq Scan on organizations" not in plan, plan


def _with_literals(sql: str, values: list[Any]) -> str:
    """The statement with its parameters inlined, for EXPLAIN (test data only)."""
    for i in range(len(values), 0, -1):
        value = values[i - 1]
        literal = (
            "NULL" if value is None else (str(value) if isinstance(value, int) else f"'{value}'")
        )
        sql = sql.replace(f"${i}", literal)
    return sql


async def test_interpreter_needed_is_demographics_and_in_the_preview(
    client: httpx.AsyncClient, lead: Partner, clinic: Partner
) -> None:
    case = await open_case(client, lead, survivor={"gender": "female",
                                                   "estimated_birth_year": 1998,
                                                   "interpreter_needed": True})  # fmt: skip
    assert case["survivor"]["interpreter_needed"] is True
    response = await client.post(
        "/v1/referrals",
        json={
            "case_id": case["id"],
            "to_org_id": str(clinic.org.id),
            "service": "interpretation",
            "urgency": "routine",
            "reason": "Needs a Lao interpreter for medical visits.",
        },
        headers=lead.headers,
    )
    assert response.status_code == 201, response.text
    inbox = (await client.get("/v1/referrals", headers=clinic.headers)).json()["items"]
    assert inbox[0]["preview"]["interpreter_needed"] is True
    patched = await client.patch(
        f"/v1/cases/{case['id']}",
        json={"survivor": {"interpreter_needed": False}},
        headers={**lead.headers, "If-Match": '"1"'},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["survivor"]["interpreter_needed"] is False
    bad = await client.patch(
        f"/v1/cases/{case['id']}",
        json={"survivor": {"interpreter_needed": None}},
        headers={**lead.headers, "If-Match": '"2"'},
    )
    assert_problem(bad, 422, "validation_error")
