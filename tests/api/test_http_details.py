"""HTTP details every route gets: HEAD, If-None-Match → 304, Cache-Control, Allow, CORS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from structlog.testing import capture_logs

from app.db.database import Database
from app.domain.keys import KeyRing
from app.main import create_app
from app.settings import Settings
from tests.factories import Partner, case_body


async def test_head_is_get_without_a_body(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any]
) -> None:
    url = f"/v1/cases/{case['id']}"
    get = await client.get(url, headers=lead.headers)
    head = await client.head(url, headers=lead.headers)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-type"] == get.headers["content-type"]
    assert (await client.head("/v1/cases/" + "0" * 8 + "-0000-0000-0000-" + "0" * 12,
                              headers=lead.headers)).status_code == 404  # fmt: skip
    assert (await client.head("/healthz")).status_code == 200


async def test_head_over_a_real_connection_completes_and_keeps_it_alive(
    served: str, lead: Partner, case: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Through uvicorn, not the in-process transport: the server must see HEAD as HEAD (it
    sends the GET's Content-Length without a body, and expects none from the app), and the
    kept-alive connection serves the next request."""
    url = f"{served}/v1/cases/{case['id']}"
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with capture_logs() as logged:
        async with httpx.AsyncClient(limits=limits) as http:
            head = await http.head(url, headers=lead.headers)
            again = await http.head(f"{served}/healthz")
            get = await http.get(url, headers=lead.headers)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] != "0"
    assert head.headers["etag"] == get.headers["etag"]
    assert again.status_code == 200 and get.status_code == 200
    assert not [entry for entry in logged if entry["log_level"] in ("error", "critical")]
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_if_none_match_gives_304(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any]
) -> None:
    url = f"/v1/cases/{case['id']}"
    tag = (await client.get(url, headers=lead.headers)).headers["etag"]
    for sent in (tag, f"W/{tag}", f'"999", {tag}', "*"):
        again = await client.get(url, headers=lead.headers_with(**{"If-None-Match": sent}))
        assert again.status_code == 304, sent
        assert again.content == b""
        assert again.headers["etag"] == tag
        assert again.headers["cache-control"] == "no-store"
        assert "x-request-id" in again.headers
        assert "content-type" not in again.headers
    stale = await client.get(url, headers=lead.headers_with(**{"If-None-Match": '"999"'}))
    assert stale.status_code == 200 and stale.json()["id"] == case["id"]
    me = await client.get("/v1/organizations/me", headers=lead.headers)
    cached = await client.get(
        "/v1/organizations/me", headers=lead.headers_with(**{"If-None-Match": me.headers["etag"]})
    )
    assert cached.status_code == 304


async def test_api_answers_are_never_stored(
    client: httpx.AsyncClient, lead: Partner, case: dict[str, Any]
) -> None:
    for response in (
        await client.get(f"/v1/cases/{case['id']}", headers=lead.headers),
        await client.get("/v1/cases", headers=lead.headers),
        await client.get("/v1/cases/not-a-uuid", headers=lead.headers),
        await client.get("/v1/cases"),
        await client.post("/graphql", json={"query": "{ me { id } }"}, headers=lead.headers),
    ):
        assert response.headers["cache-control"] == "no-store", response.request.url


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/v1/cases", "GET, HEAD, POST"),
        ("DELETE", "/v1/cases", "GET, HEAD, POST"),
        ("PUT", "/v1/organizations/me", "GET, HEAD, PATCH"),
        ("POST", "/healthz", "GET, HEAD"),
    ],
)
async def test_405_names_every_allowed_method(
    client: httpx.AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == "application/problem+json"


async def test_no_cors_unless_configured(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/v1/cases",
        headers={"Origin": "https://portal.example.org", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    plain = await client.get("/healthz", headers={"Origin": "https://portal.example.org"})
    assert "access-control-allow-origin" not in plain.headers


async def test_cors_for_configured_origins_only(
    database: Database, keyring: KeyRing, keys_dir: Path, tmp_path: Path, database_url: str
) -> None:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        keys_dir=keys_dir,
        cors_origins="https://portal.example.org",
    )
    app: FastAPI = create_app(settings, database=database, keyring=keyring, configure_logs=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        allowed = await client.options(
            "/v1/cases",
            headers={
                "Origin": "https://portal.example.org",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://portal.example.org"
        other = await client.options(
            "/v1/cases",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in other.headers
        got = await client.get("/healthz", headers={"Origin": "https://portal.example.org"})
        assert got.headers["access-control-allow-origin"] == "https://portal.example.org"


def test_cors_origins_must_be_origins() -> None:
    with pytest.raises(ValueError, match="origins"):
        Settings(cors_origins="portal.example.org")
    with pytest.raises(ValueError, match="origins"):
        Settings(cors_origins="https://portal.example.org/path")


async def test_every_answer_carrying_a_versioned_resource_carries_its_etag(
    client: httpx.AsyncClient, lead: Partner, member: Partner, case: dict[str, Any]
) -> None:
    """Creates and state changes too, not only reads and edits: the tag is the resource's
    version, so a client may send it as If-Match without reading the resource again."""
    cases = f"/v1/cases/{case['id']}"

    def tagged(response: httpx.Response, status: int, version: int | None = None) -> None:
        assert response.status_code == status, response.text
        expected = response.json()["version"] if version is None else version
        assert response.headers["etag"] == f'"{expected}"', response.request.url

    consent_body = {
        "granted_by": ["survivor"],
        "recipient_org_id": str(member.org.id),
        "categories": ["medical"],
        "purpose": "treatment",
        "obtained_at": "2026-11-01T09:00:00Z",
    }
    consent = await client.post(f"{cases}/consents", json=consent_body, headers=lead.headers)
    tagged(consent, 201)
    revoked = await client.post(
        f"{cases}/consents/{consent.json()['id']}/revoke",
        json={"reason": "asked by the survivor"},
        headers=lead.headers,
    )
    tagged(revoked, 200)
    assert revoked.json()["version"] > consent.json()["version"]
    update = await client.post(
        f"{cases}/updates",
        json={"kind": "note", "category": "general", "occurred_at": "2026-11-02T10:00:00Z",
              "summary": "Settled in"},
        headers=lead.headers,
    )  # fmt: skip
    tagged(update, 201, version=1)  # an update never changes
    goal = await client.post(
        f"{cases}/goals",
        json={
            "category": "general",
            "title": "Open a bank account",
            "owner_org_id": str(lead.org.id),
        },
        headers=lead.headers,
    )
    tagged(goal, 201)
    progress = await client.post(
        f"{cases}/goals/{goal.json()['id']}/progress",
        json={"status": "on_hold", "recorded_at": "2026-11-03T10:00:00Z"},
        headers=lead.headers,
    )
    tagged(progress, 200)
    tagged(
        await client.post(f"{cases}/close", json={"reason": "moved_on"}, headers=lead.headers),
        200,
    )


class TestUnknownQueryParameters:
    """A query parameter the operation does not take is 422, as a body's unknown field is: a
    typo (`stauts=open`) would otherwise list every case, and `cursor` on the event feed (which
    pages with `after`) the first page again, for ever."""

    async def test_a_typo_is_refused_and_the_parameters_taken_are_listed(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        response = await client.get("/v1/cases?stauts=open", headers=lead.headers)
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {
                "loc": ["query"],
                "msg": "Unknown query parameter (its name is not repeated); the query "
                "parameters here are: cursor, limit, role, status, updated_since",
                "type": "extra_forbidden",
            }
        ]
        assert "stauts" not in response.text

    async def test_a_name_of_the_apis_own_is_named(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        response = await client.get("/v1/events?cursor=abc", headers=lead.headers)
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {
                "loc": ["query", "cursor"],
                "msg": "Unknown query parameter; this operation takes: after, limit, types, wait",
                "type": "extra_forbidden",
            }
        ]
        me = await client.get("/v1/organizations/me?limit=5", headers=lead.headers)
        assert me.json()["errors"][0]["msg"].endswith("this operation takes: none")

    async def test_a_name_that_could_be_data_is_not_repeated(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        response = await client.get(
            "/v1/organizations/me", params={"Planted Name 1987-03-04": "x"}, headers=lead.headers
        )
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {
                "loc": ["query"],
                "msg": "Unknown query parameter (its name is not repeated); no query parameters",
                "type": "extra_forbidden",
            }
        ]
        assert "Planted" not in response.text

    async def test_a_write_with_one_changes_nothing(
        self, client: httpx.AsyncClient, lead: Partner, database: Database
    ) -> None:
        before = await database.pool.fetchval("SELECT count(*) FROM cases")
        response = await client.post(
            "/v1/cases?dry_run=true", json=case_body(), headers=lead.headers
        )
        assert response.status_code == 422
        assert await database.pool.fetchval("SELECT count(*) FROM cases") == before

    async def test_anonymous_is_still_401_first(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/v1/cases?stauts=open")).status_code == 401

    async def test_the_parameters_taken_are_read_as_before(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        listed = await client.get("/v1/cases?status=open&limit=2", headers=lead.headers)
        assert listed.status_code == 200
        assert (await client.get("/healthz?probe=1")).status_code == 200  # no caller: not checked
