"""CONTRACT §3 conventions: problem+json, body limit, request ids, idempotency, 503s, logs."""

from __future__ import annotations

import asyncio
import re
import urllib.parse
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from fastapi import APIRouter, Body, FastAPI

from app.api.deps import require_scopes
from app.api.idempotency import Created, Idempotent
from app.api.json_body import StrictJSONRoute
from app.api.schemas.common import RequestModel, ResponseModel
from app.db.database import Database
from app.domain.context import RequestContext
from app.domain.errors import ValidationFailed
from app.domain.keys import KeyRing
from app.domain.organizations import OrganizationService
from app.domain.vocabulary import OrganizationKind
from app.main import create_app
from app.settings import Settings
from tests.conftest import LOG_STREAM
from tests.factories import Factory, Partner
from tests.helpers import assert_problem

# -- a creating endpoint used only by these tests, to exercise the Idempotency-Key mechanism ----


class _CreateIn(RequestModel):
    name: str
    delay: float = 0.0
    fail: bool = False


class _CreateOut(ResponseModel):
    id: UUID
    name: str


_router = APIRouter(route_class=StrictJSONRoute)  # as every JSON-body router of the app


@_router.post("/v1/_test/organizations", status_code=201)
async def _create(
    body: Annotated[_CreateIn, Body()],
    ctx: Annotated[RequestContext, require_scopes("directory:write")],
    idem: Idempotent,
) -> Any:
    async def create() -> Created:
        org = await OrganizationService(ctx.session).create(
            name=body.name, kind=OrganizationKind.OTHER
        )
        if body.delay:
            await asyncio.sleep(body.delay)
        if body.fail:
            raise ValidationFailed("asked to fail", loc=["fail"])
        return Created(_CreateOut(id=org.id, name=org.name), location=f"/v1/organizations/{org.id}")

    return await idem.create(ctx, create)


CREATE = "/v1/_test/organizations"


@pytest.fixture
def app(app: FastAPI) -> FastAPI:
    app.include_router(_router)
    return app


async def _count_orgs(database: Database, name: str) -> int:
    async with database.pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM organizations WHERE name = $1", name))


class TestIdempotency:
    async def test_replay_returns_the_first_response(
        self, client: httpx.AsyncClient, partner: Partner, database: Database
    ) -> None:
        headers = partner.headers_with(**{"Idempotency-Key": "k-1"})
        first = await client.post(CREATE, json={"name": "Once"}, headers=headers)
        second = await client.post(CREATE, json={"name": "Once"}, headers=headers)
        assert first.status_code == second.status_code == 201
        assert first.content == second.content
        assert second.headers["location"] == first.headers["location"]
        assert second.headers["idempotent-replayed"] == "true"
        assert await _count_orgs(database, "Once") == 1

    async def test_without_a_key_each_post_creates(
        self, client: httpx.AsyncClient, partner: Partner, database: Database
    ) -> None:
        for _ in range(2):
            assert (
                await client.post(CREATE, json={"name": "Twice"}, headers=partner.headers)
            ).status_code == 201
        assert await _count_orgs(database, "Twice") == 2

    async def test_same_key_different_body_is_422(
        self, client: httpx.AsyncClient, partner: Partner, database: Database
    ) -> None:
        headers = partner.headers_with(**{"Idempotency-Key": "k-2"})
        assert (await client.post(CREATE, json={"name": "A"}, headers=headers)).status_code == 201
        response = await client.post(CREATE, json={"name": "B"}, headers=headers)
        assert_problem(response, 422, "idempotency_key_reused")
        assert await _count_orgs(database, "B") == 0

    async def test_keys_are_scoped_per_client(
        self, client: httpx.AsyncClient, partner: Partner, factory: Factory, database: Database
    ) -> None:
        other = await factory.partner()
        for p in (partner, other):
            r = await client.post(
                CREATE,
                json={"name": "Shared key"},
                headers=p.headers_with(**{"Idempotency-Key": "same"}),
            )
            assert r.status_code == 201
        assert await _count_orgs(database, "Shared key") == 2

    async def test_in_flight_duplicate_is_409(
        self, client: httpx.AsyncClient, partner: Partner, database: Database
    ) -> None:
        headers = partner.headers_with(**{"Idempotency-Key": "slow"})
        body = {"name": "Slow", "delay": 3.0}
        slow = asyncio.create_task(client.post(CREATE, json=body, headers=headers))
        # Send the duplicate once the first request holds the key's lock (not after a guessed
        # pause: on a busy machine the first request may not have got there yet).
        async with database.pool.acquire() as conn:
            for _ in range(500):
                held = await conn.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
                    "database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
                if held:
                    break
                await asyncio.sleep(0.01)
        assert held, "the first request never took the idempotency lock"
        duplicate = await client.post(CREATE, json=body, headers=headers)
        assert_problem(duplicate, 409, "idempotency_in_flight")
        assert (await slow).status_code == 201
        replay = await client.post(CREATE, json=body, headers=headers)
        assert replay.status_code == 201 and replay.content == (await slow).content
        assert await _count_orgs(database, "Slow") == 1

    async def test_concurrent_race_creates_exactly_once(
        self, client: httpx.AsyncClient, partner: Partner, database: Database
    ) -> None:
        headers = partner.headers_with(**{"Idempotency-Key": "race"})
        responses = await asyncio.gather(
            *[client.post(CREATE, json={"name": "Race"}, headers=headers) for _ in range(8)]
        )
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {201, 409}
        created = {r.content for r in responses if r.status_code == 201}
        assert len(created) == 1  # every 201 is the same response
        assert await _count_orgs(database, "Race") == 1

    async def test_failed_attempt_is_not_stored(
        self, client: httpx.AsyncClient, partner: Partner, database: Database
    ) -> None:
        headers = partner.headers_with(**{"Idempotency-Key": "retry-me"})
        failed = await client.post(CREATE, json={"name": "Flaky", "fail": True}, headers=headers)
        assert_problem(failed, 422, "validation_error")
        assert await _count_orgs(database, "Flaky") == 0  # the whole request rolled back
        ok = await client.post(CREATE, json={"name": "Flaky", "fail": True}, headers=headers)
        assert ok.status_code == 422
        fixed = await client.post(
            CREATE,
            json={"name": "Flaky"},
            headers=partner.headers_with(**{"Idempotency-Key": "retry-me"}),
        )
        assert fixed.status_code == 201

    @pytest.mark.parametrize("key", ["", "has space", "x" * 256])
    async def test_malformed_key_is_422(
        self, client: httpx.AsyncClient, partner: Partner, key: str
    ) -> None:
        response = await client.post(
            CREATE, json={"name": "K"}, headers=partner.headers_with(**{"Idempotency-Key": key})
        )
        assert_problem(response, 422, "validation_error")

    async def test_two_keys_are_422_and_nothing_is_made(
        self, client: httpx.AsyncClient, partner: Partner, database: Database
    ) -> None:
        headers = [
            *partner.headers.items(),
            ("Idempotency-Key", "first-key"),
            ("Idempotency-Key", "second-key"),
        ]
        response = await client.post(CREATE, json={"name": "Two keys"}, headers=headers)
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["header", "Idempotency-Key"]
        assert await _count_orgs(database, "Two keys") == 0


class TestProblemJson:
    async def test_unknown_route(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.get("/v1/nothing-here"), 404, "not_found")

    async def test_wrong_method(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.delete("/healthz"), 405, "method_not_allowed")

    async def test_validation_errors_list_location_and_message_without_input(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        secret_like = "Planted Name 1987-03-04"
        response = await client.post(
            CREATE, json={"name": secret_like, "delay": "soon"}, headers=partner.headers
        )
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"] == [
            {
                "loc": ["body", "delay"],
                "msg": "Input should be a valid number",
                "type": "float_type",
            }
        ]
        assert secret_like not in response.text and "soon" not in response.text

    async def test_an_unknown_key_is_never_repeated(
        self, client: httpx.AsyncClient, partner: Partner, database: Database
    ) -> None:
        """A client that keys an object by a survivor's name must not have the name repeated:
        the error points at the object holding the key, once, and lists the fields it takes."""
        planted = {"Planted Name 1987-03-04": 1, "another planted key": 2}
        response = await client.post(
            CREATE, json={"name": "Unknown keys", **planted}, headers=partner.headers
        )
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"] == [
            {
                "loc": ["body"],
                "msg": "Unknown field (its name is not repeated); the fields here are: "
                "name, delay, fail",
                "type": "extra_forbidden",
            }
        ]
        assert "Planted" not in response.text and "planted" not in response.text
        assert await _count_orgs(database, "Unknown keys") == 0
        # a word of the API's own (a field the hub sets) is named: it cannot be anyone's data
        response = await client.post(
            CREATE, json={"name": "Unknown keys", "status": "open"}, headers=partner.headers
        )
        assert assert_problem(response, 422, "validation_error")["errors"] == [
            {
                "loc": ["body", "status"],
                "msg": "Extra inputs are not permitted",
                "type": "extra_forbidden",
            }
        ]

    @pytest.mark.parametrize(
        "content_type",
        ["text/plain", "application/x-www-form-urlencoded", "application/xml", None],
    )
    async def test_a_body_that_is_not_json_is_415(
        self,
        client: httpx.AsyncClient,
        partner: Partner,
        database: Database,
        content_type: str | None,
    ) -> None:
        """curl's `-d` sends a form; a client that forgot the header learns what to send."""
        headers = dict(partner.headers)
        if content_type is not None:
            headers["Content-Type"] = content_type
        body = b'{"name": "Not JSON"}'
        response = await client.post(CREATE, content=body, headers=headers)
        assert_problem(response, 415, "unsupported_media_type")
        assert response.headers["accept-post"] == "application/json"
        assert await _count_orgs(database, "Not JSON") == 0
        # without a token it is still 401 first: nothing is read for an anonymous caller
        anonymous = {k: v for k, v in headers.items() if k != "Authorization"}
        assert (await client.post(CREATE, content=body, headers=anonymous)).status_code == 401

    async def test_a_patch_that_is_not_json_names_what_is_read(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        headers = {**partner.headers, "If-Match": '"1"', "Content-Type": "text/plain"}
        response = await client.patch(f"/v1/cases/{uuid4()}", content=b"{}", headers=headers)
        assert_problem(response, 415, "unsupported_media_type")
        assert response.headers["accept-patch"] == "application/json, application/merge-patch+json"

    async def test_json_media_types_are_read(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        for media_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
            headers = {**partner.headers, "Content-Type": media_type}
            response = await client.post(CREATE, content=b'{"name": "Typed"}', headers=headers)
            assert response.status_code == 201, (media_type, response.text)

    async def test_body_over_the_limit_is_413_by_content_length(
        self, client: httpx.AsyncClient, partner: Partner, database: Database
    ) -> None:
        big = {"name": "Big", "padding": "x" * (70 * 1024)}
        response = await client.post(CREATE, json=big, headers=partner.headers)
        assert_problem(response, 413, "payload_too_large")
        assert await _count_orgs(database, "Big") == 0

    async def test_body_over_the_limit_is_413_when_streamed(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"name": "Big", "padding": "'
            for _ in range(80):
                yield b"x" * 1024
            yield b'"}'

        response = await client.post(
            CREATE,
            content=chunks(),
            headers=partner.headers_with(**{"Content-Type": "application/json"}),
        )
        assert_problem(response, 413, "payload_too_large")

    async def test_a_request_target_over_the_limit_is_414_before_anything_else(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        """Whatever server runs the app: the middleware measures the path and query."""
        from app.api.middleware import MAX_TARGET_BYTES

        long_query = "/v1/events?types=" + "x" * MAX_TARGET_BYTES
        for headers in (partner.headers, {}):  # before authentication, too
            answer = await client.get(long_query, headers=headers)
            assert_problem(answer, 414, "uri_too_long")
            assert answer.headers["cache-control"] == "no-store"
        answer = await client.post(
            "/v1/cases/" + "0" * MAX_TARGET_BYTES + "/updates", json={}, headers=partner.headers
        )
        assert_problem(answer, 414, "uri_too_long")

    async def test_request_id_is_echoed_or_generated(self, client: httpx.AsyncClient) -> None:
        given = await client.get("/healthz", headers={"X-Request-ID": "partner-req-12345"})
        assert given.headers["x-request-id"] == "partner-req-12345"
        generated = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
        assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])


class TestDatabaseFailures:
    async def test_unreachable_database_is_503(
        self, settings: Settings, keyring: KeyRing, partner: Partner
    ) -> None:
        dead = Database("postgresql://postgres@127.0.0.1:9/none", min_size=0, connect_timeout=1)
        await dead.connect()
        app = create_app(settings, database=dead, keyring=keyring, configure_logs=False)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as c:
            response = await c.get("/v1/organizations/me", headers=partner.headers)
            body = assert_problem(response, 503, "service_unavailable")
            assert response.headers["retry-after"] == "1"
            assert "127.0.0.1" not in body["detail"]
            ready = await c.get("/readyz")
            assert_problem(ready, 503, "service_unavailable")
        await dead.close()

    async def test_pool_survives_a_database_restart(
        self,
        client: httpx.AsyncClient,
        partner: Partner,
        admin: asyncpg.Connection,
        database: Database,
    ) -> None:
        for _ in range(3):
            assert (
                await client.get("/v1/organizations/me", headers=partner.headers)
            ).status_code == 200
        dbname = urllib.parse.urlsplit(database.dsn).path.lstrip("/")
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
            dbname,
        )
        assert killed >= 1
        await asyncio.sleep(0.2)
        statuses = [
            (await client.get("/v1/organizations/me", headers=partner.headers)).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 200]


async def test_logs_carry_request_ids_but_no_secrets_or_tokens(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    LOG_STREAM.seek(0)
    LOG_STREAM.truncate()
    token_response = await client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.client.client_id, partner.secret),
    )
    token = token_response.json()["access_token"]
    await client.get(
        "/v1/organizations?country=TH",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "trace-abcdef12"},
    )
    await client.patch(
        "/v1/organizations/me",
        json={"languages": ["Planted Survivor Name"]},
        headers={"Authorization": f"Bearer {token}", "If-Match": "*"},
    )
    for typed in ("/v1/cases/Planted-Path-Name", "/v1/Planted-Path-Name/x"):  # 422, 404
        await client.get(typed, headers={"Authorization": f"Bearer {token}"})
    logs = LOG_STREAM.getvalue()
    assert '"route":"/v1/cases/{case_id}"' in logs and '"route":"unmatched"' in logs
    assert '"request_id":"trace-abcdef12"' in logs
    assert '"route":"/v1/organizations"' in logs
    for forbidden in (
        partner.secret,
        token,
        token.split(".")[1],
        "Planted Survivor Name",
        "Planted-Path-Name",
        "country=TH",
    ):
        assert forbidden not in logs


async def test_an_unexpected_error_is_a_500_problem_with_request_id_and_no_details(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    @app.get("/v1/_test/boom")
    async def boom() -> None:
        raise RuntimeError("Planted-Secret-In-Exception")

    LOG_STREAM.seek(0)
    LOG_STREAM.truncate()
    response = await client.get("/v1/_test/boom", headers={"X-Request-ID": "boom-request-1"})
    assert_problem(response, 500, "internal_error")
    assert response.headers["x-request-id"] == "boom-request-1"
    assert "Planted-Secret" not in response.text
    logs = LOG_STREAM.getvalue()
    assert '"error_type":"RuntimeError"' in logs and "Planted-Secret" not in logs


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Nul\u0000byte"},
        {"name": "ok", "delay": 2**80},
        {"name": "x" * 10, "fail": False, "nested": {"a": "\u0000"}},
    ],
)
async def test_unstorable_values_are_422_not_500(
    client: httpx.AsyncClient, partner: Partner, body: dict[str, Any]
) -> None:
    response = await client.post(CREATE, json=body, headers=partner.headers)
    assert_problem(response, 422, "validation_error")
