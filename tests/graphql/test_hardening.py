"""Limits, caches, and what production leaves out (introspection, suggestions, the IDE)."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.extensions.parser_cache import _get_parse_cache
from strawberry.extensions.validation_cache import _get_validate_cache

from app.api.graphql.router import IDE_ASSETS, STATIC
from app.api.graphql.schema import (
    CACHE_SIZE,
    DEFAULT_LIMITS,
    MAX_ALIASES,
    MAX_DEPTH,
    build_schema,
)
from app.db.database import Database
from app.domain.keys import KeyRing
from app.main import create_app
from app.settings import Settings
from tests.factories import Partner
from tests.graphql.helpers import GRAPHQL, data_of, gql, only_error
from tests.helpers import assert_problem

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def production(
    settings: Settings, database: Database, keyring: KeyRing, app: FastAPI
) -> AsyncIterator[httpx.AsyncClient]:
    prod = create_app(
        settings.model_copy(update={"env": "production"}),
        database=database,
        keyring=keyring,
        key_wrapper=app.state.ctx.key_wrapper,
        configure_logs=False,
    )
    transport = httpx.ASGITransport(app=prod)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


MAX_NAME_LENGTH = DEFAULT_LIMITS.max_name_length


class TestLimits:
    async def test_depth(self, client: httpx.AsyncClient, partner: Partner) -> None:
        ok = (
            "{ cases { edges { node { referrals { edges { node { case { updates { edges "
            "{ node { id } } } } } } } } } } }"
        )
        assert "errors" not in await gql(client, partner, ok)
        too_deep = (
            "{ cases { edges { node { referrals { edges { node { case { referrals { edges "
            "{ node { case { referrals { edges { node { id } } } } } } } } } } } } } } }"
        )
        result = await gql(client, partner, too_deep)
        assert result.get("data") is None
        error = only_error(result, "validation_error")
        assert f"exceeds maximum operation depth of {MAX_DEPTH}" in error["message"]

    async def test_aliases(self, client: httpx.AsyncClient, partner: Partner) -> None:
        fine = " ".join(f"a{i}: me {{ id }}" for i in range(MAX_ALIASES))
        assert "errors" not in await gql(client, partner, "{ " + fine + " }")
        too_many = " ".join(f"a{i}: me {{ id }}" for i in range(MAX_ALIASES + 1))
        result = await gql(client, partner, "{ " + too_many + " }")
        assert "aliases" in only_error(result, "validation_error")["message"]

    async def test_tokens(self, client: httpx.AsyncClient, partner: Partner) -> None:
        query = "{ me { " + " id" * 2_100 + " } }"
        result = await gql(client, partner, query)
        assert result.get("data") is None
        assert "tokens" in only_error(result, "validation_error")["message"]

    @pytest.mark.parametrize(
        "query",
        [
            # An operation name that each unused variable's error would repeat.
            "query {name}({variables}) {{ __typename }}",
            # An alias that each per-item error's path would repeat.
            "{{ {name}: cases(first: 5) {{ edges {{ node {{ id }} }} }} }}",
            "{{ me {{ ...{name} }} }} fragment {name} on Organization {{ id }}",
            "query($%s: Int) {{ me {{ id }} }}",
        ],
    )
    async def test_a_name_longer_than_the_limit_is_refused_before_it_is_repeated(
        self, client: httpx.AsyncClient, partner: Partner, query: str
    ) -> None:
        variables = ", ".join(f"$v{i}: Int" for i in range(120))
        limit = f"longer than {MAX_NAME_LENGTH} characters"
        for length in (
            MAX_NAME_LENGTH,
            MAX_NAME_LENGTH + 1,
            30_000,
        ):  # (the tests' body cap: 64 KiB)
            name = "N" * length
            text = query.replace("%s", name).format(name=name, variables=variables)
            result = await gql(client, partner, text)
            if length == MAX_NAME_LENGTH:  # (answered, or refused for what else it does)
                assert limit not in json.dumps(result)
                continue
            error = only_error(result, "validation_error")
            assert result.get("data") is None
            assert limit in error["message"]
            assert name not in json.dumps(result)  # (one short error, not the name repeated)

    async def test_parser_and_validation_caches_are_hit(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        schema = build_schema(production=False)
        made = [type(factory()) for factory in schema.extensions]
        assert ParserCache in made and ValidationCache in made
        parse_cache: Any = _get_parse_cache(CACHE_SIZE)
        validate_cache: Any = _get_validate_cache(CACHE_SIZE)
        query = "{ me { id name } }"
        await gql(client, partner, query)
        parsed, validated = parse_cache.cache_info().hits, validate_cache.cache_info().hits
        await gql(client, partner, query)
        # the same document is parsed and validated once, whatever the request
        assert parse_cache.cache_info().hits == parsed + 1
        assert validate_cache.cache_info().hits == validated + 1


class TestDevelopment:
    async def test_introspection_and_suggestions(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        data = data_of(await gql(client, partner, "{ __schema { queryType { name } } }"))
        assert data["__schema"]["queryType"]["name"] == "Query"
        result = await gql(client, partner, "{ me { nam } }")
        assert "Did you mean" in result["errors"][0]["message"]

    async def test_the_ide_is_served_from_the_app_itself(self, client: httpx.AsyncClient) -> None:
        response = await client.get(GRAPHQL, headers={"Accept": "text/html"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        references = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert references and all(r.startswith("graphql/ide/") for r in references)
        assert "//" not in "".join(references)
        for reference in references:
            asset = await client.get("/" + reference)
            assert asset.status_code == 200, reference
            assert (
                asset.headers["content-type"].split(";")[0] == IDE_ASSETS[reference.rsplit("/")[-1]]
            )

    async def test_only_the_listed_assets_are_served(self, client: httpx.AsyncClient) -> None:
        for name in ("README.md", "ide.html", "..%2Frouter.py", "LICENSE.react"):
            assert_problem(await client.get(f"/graphql/ide/{name}"), 404, "not_found")

    def test_vendored_assets_match_their_recorded_checksums_and_keep_their_licences(self) -> None:
        readme = (STATIC / "README.md").read_text()
        recorded = dict(
            (name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.M)
        )
        assert set(recorded) == {n for n in IDE_ASSETS if n != "ide.js"}
        for name, digest in recorded.items():
            assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
        for licence in ("LICENSE.graphiql", "LICENSE.react", "LICENSE.react-dom"):
            assert "MIT License" in (STATIC / licence).read_text()

    def test_assets_are_package_data(self) -> None:
        pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
        patterns = pyproject["tool"]["setuptools"]["package-data"]["app"]
        assert "api/graphql/static/*" in patterns


class TestProduction:
    async def test_no_introspection_and_no_suggestions(
        self, production: httpx.AsyncClient, partner: Partner
    ) -> None:
        result = await gql(production, partner, "{ __schema { types { name } } }")
        assert result.get("data") is None
        assert {e["extensions"]["code"] for e in result["errors"]} == {"validation_error"}
        assert "introspection has been disabled" in result["errors"][0]["message"]
        result = await gql(production, partner, '{ __type(name: "Case") { name } }')
        assert result.get("data") is None
        result = await gql(production, partner, "{ me { nam } }")
        assert "Did you mean" not in result["errors"][0]["message"]
        # __typename is not introspection of the schema: clients rely on it
        assert data_of(await gql(production, partner, "{ me { __typename id } }"))

    @pytest.mark.parametrize(
        ("query", "variables"),
        [
            ("query ($x: Cas) { me { id } }", None),  # a type
            ("{ me { id ... on Cas { id } } }", None),
            ("{ cases(firs: 1) { edges { cursor } } }", None),  # an argument
            ("{ cases(status: ope) { edges { cursor } } }", None),  # an enum value
            (
                "query ($s: CaseStatus) { cases(status: $s) { edges { cursor } } }",
                {"s": "ope"},
            ),
            (  # a field of an input object, in variables
                "mutation ($i: CreateCaseInput!) { createCase(input: $i) { id } }",
                {"i": {"externalRef": "x", "survivor": {"gender": "female", "gendr": "female"}}},
            ),
            (  # … and in the document
                'mutation { createCase(input: {externalRef: "x", survivor: {gender: female, '
                "gendr: female}}) { id } }",
                None,
            ),
            ("{ me { id caes { id } } }", None),  # a field
        ],
    )
    async def test_production_does_not_suggest_types_arguments_or_input_fields(
        self,
        production: httpx.AsyncClient,
        client: httpx.AsyncClient,
        partner: Partner,
        query: str,
        variables: dict[str, Any] | None,
    ) -> None:
        """Production answered "Unknown type 'Cas'. Did you mean 'Case'?": introspection off,
        but the schema spelled out one suggestion at a time."""
        result = await gql(production, partner, query, variables)
        assert result.get("data") is None
        assert {e["extensions"]["code"] for e in result["errors"]} == {"validation_error"}
        for error in result["errors"]:
            assert "Did you mean" not in error["message"], error
            assert error["message"].rstrip().endswith((".", "'")), error
        assert not re.search(r"'(Case|first|open|gender|cases)'", json.dumps(result)), result
        # development still helps (at least where graphql-core suggests something)
        developed = await gql(client, partner, query, variables)
        assert [e["locations"] for e in developed["errors"]] == [
            e["locations"] for e in result["errors"]
        ]

    async def test_no_ide(self, production: httpx.AsyncClient) -> None:
        response = await production.get(GRAPHQL, headers={"Accept": "text/html"})
        assert_problem(response, 405, "method_not_allowed")
        assert_problem(await production.get("/graphql/ide/ide.js"), 404, "not_found")

    async def test_queries_still_work(
        self, production: httpx.AsyncClient, partner: Partner
    ) -> None:
        assert data_of(await gql(production, partner, "{ me { id } }"))["me"]["id"] == str(
            partner.org.id
        )
