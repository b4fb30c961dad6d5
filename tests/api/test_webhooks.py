"""Webhook subscriptions: /v1/webhooks (create, list, get, patch, delete, rotate-secret, test,
deliveries, retry), secrets shown once and stored sealed, the URL checks at subscription time."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.db.database import Database, asyncpg_dsn
from app.db.repositories import webhooks as webhook_repo
from app.domain.webhook_signing import sign_headers, verify
from app.domain.webhooks import open_secret, signing_secrets
from app.settings import Settings
from tests.api.test_at_rest import pg_dump
from tests.factories import Factory, Partner
from tests.helpers import assert_forbidden, assert_problem, assert_unauthorized

HOOKS = "/v1/webhooks"
RECEIVER = "http://127.0.0.1:9/hooks"  # never called: no worker runs in these tests
PUBLIC = "https://93.184.215.14/hooks"  # a public address literal: no lookup needed


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Receivers on 127.0.0.1, as in local demos; refusals are tested with the guard back on."""
    return settings.model_copy(update={"webhook_allow_private_networks": True})


def guard_on(app: FastAPI, **more: Any) -> None:
    ctx = app.state.ctx
    ctx.settings = ctx.settings.model_copy(update={"webhook_allow_private_networks": False, **more})


def body(**kw: Any) -> dict[str, Any]:
    return {"url": RECEIVER, "event_types": ["referral.created"], "description": "CRM", **kw}


async def subscribe(client: httpx.AsyncClient, partner: Partner, **kw: Any) -> dict[str, Any]:
    response = await client.post(HOOKS, json=body(**kw), headers=partner.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def ping(client: httpx.AsyncClient, partner: Partner, hook_id: str) -> dict[str, Any]:
    response = await client.post(f"{HOOKS}/{hook_id}/test", headers=partner.headers)
    assert response.status_code == 202, response.text
    made: dict[str, Any] = response.json()
    return made


async def sql(database: Database, query: str, *args: Any) -> list[asyncpg.Record]:
    async with database.pool.acquire() as conn:
        rows: list[asyncpg.Record] = await conn.fetch(query, *args)
        return rows


def close_to(moment: str | None, expected: datetime, seconds: float = 30) -> bool:
    assert moment is not None
    return abs(datetime.fromisoformat(moment) - expected) < timedelta(seconds=seconds)


# -- auth ------------------------------------------------------------------------------------------
ROUTES = [
    ("POST", HOOKS),
    ("GET", HOOKS),
    ("GET", HOOKS + "/{id}"),
    ("PATCH", HOOKS + "/{id}"),
    ("DELETE", HOOKS + "/{id}"),
    ("POST", HOOKS + "/{id}/rotate-secret"),
    ("POST", HOOKS + "/{id}/test"),
    ("GET", HOOKS + "/{id}/deliveries"),
    ("POST", HOOKS + "/{id}/deliveries/{id}/retry"),
]


async def test_every_route_needs_a_token_and_the_webhooks_scope(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    reader = await factory.partner(scopes=["events:read", "cases:read"])
    for method, path in ROUTES:
        url = path.replace("{id}", str(uuid.uuid4()))
        assert_unauthorized(await client.request(method, url))
        assert_forbidden(
            await client.request(method, url, headers=reader.headers), "webhooks:manage"
        )


async def test_another_organisations_subscription_is_404_everywhere(
    client: httpx.AsyncClient, lead: Partner, stranger: Partner
) -> None:
    hook = await subscribe(client, lead)
    made = await ping(client, lead, hook["id"])
    base = f"{HOOKS}/{hook['id']}"
    change: dict[str, Any] = {"description": "mine"}
    for method, url, payload in (
        ("GET", base, None),
        ("PATCH", base, change),
        ("DELETE", base, None),
        ("POST", f"{base}/rotate-secret", None),
        ("POST", f"{base}/test", None),
        ("GET", f"{base}/deliveries", None),
        ("POST", f"{base}/deliveries/{made['delivery_id']}/retry", None),
    ):
        headers = stranger.headers_with(**{"If-Match": "*"})
        response = await client.request(method, url, headers=headers, json=payload)
        assert_problem(response, 404, "not_found")
    listed = (await client.get(HOOKS, headers=stranger.headers)).json()
    assert listed["items"] == []
    # and the owner's subscription is untouched
    again = (await client.get(base, headers=lead.headers)).json()
    assert again["description"] == "CRM" and again["version"] == 1


# -- create ----------------------------------------------------------------------------------------
async def test_create_shows_the_secret_once(client: httpx.AsyncClient, lead: Partner) -> None:
    response = await client.post(HOOKS, json=body(), headers=lead.headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["status"] == "active"
    assert created["url"] == RECEIVER
    assert created["event_types"] == ["referral.created"]
    assert created["description"] == "CRM"
    assert created["version"] == 1 and created["consecutive_failures"] == 0
    assert created["created_at"] and created["updated_at"]
    assert response.headers["location"] == f"{HOOKS}/{created['id']}"
    assert response.headers["etag"] == '"1"'
    assert response.headers["cache-control"] == "no-store"

    one = await client.get(f"{HOOKS}/{created['id']}", headers=lead.headers)
    assert one.status_code == 200
    assert one.headers["etag"] == '"1"'
    assert "secret" not in one.json()
    assert created["secret"] not in one.text
    listed = await client.get(HOOKS, headers=lead.headers)
    assert [h["id"] for h in listed.json()["items"]] == [created["id"]]
    assert "whsec_" not in listed.text


async def test_every_type_or_star_normalised(client: httpx.AsyncClient, lead: Partner) -> None:
    star = await subscribe(client, lead, event_types=["*"], description=None)
    assert star["event_types"] == ["*"] and star["description"] is None
    twice = await subscribe(
        client, lead, event_types=["webhook.disabled", "case.closed", "webhook.disabled"]
    )
    assert twice["event_types"] == ["webhook.disabled", "case.closed"]
    literal = await subscribe(client, lead, url="http://127.1:8080/x?a=1")
    assert literal["url"] == "http://127.0.0.1:8080/x?a=1"  # stored as checked


async def test_idempotent_create_replays_the_first_answer(
    client: httpx.AsyncClient, lead: Partner, database: Database
) -> None:
    headers = lead.headers_with(**{"Idempotency-Key": "hook-1"})
    first = await client.post(HOOKS, json=body(), headers=headers)
    again = await client.post(HOOKS, json=body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()  # the same client, within the key's lifetime
    assert again.headers["location"] == first.headers["location"]
    assert (await sql(database, "SELECT count(*) FROM webhooks"))[0][0] == 1
    other = await client.post(HOOKS, json=body(description="other"), headers=headers)
    assert_problem(other, 422, "idempotency_key_reused")


@pytest.mark.parametrize(
    ("payload", "loc"),
    [
        ({"event_types": ["referral.nonsense"]}, ["body", "event_types", 0]),
        ({"event_types": ["case.closed", "Case.Closed"]}, ["body", "event_types", 1]),
        ({"event_types": ["*", "case.closed"]}, ["body", "event_types"]),
        ({"event_types": []}, ["body", "event_types"]),
        ({"event_types": ["case.closed"] * 31}, ["body", "event_types"]),
        ({"event_types": "case.closed"}, ["body", "event_types"]),
        ({"url": ""}, ["body", "url"]),
        ({"url": "http://127.0.0.1/" + "a" * 2048}, ["body", "url"]),
        ({"url": "ftp://127.0.0.1/x"}, ["body", "url"]),
        ({"url": "http://user:pw@127.0.0.1/x"}, ["body", "url"]),
        ({"url": "not a url"}, ["body", "url"]),
        ({"description": "x" * 501}, ["body", "description"]),
        ({"secret": "whsec_mine"}, ["body", "secret"]),
        ({"status": "active"}, ["body", "status"]),
    ],
)
async def test_bad_subscriptions_are_422(
    client: httpx.AsyncClient,
    lead: Partner,
    database: Database,
    payload: dict[str, Any],
    loc: list[Any],
) -> None:
    response = await client.post(HOOKS, json=body(**payload), headers=lead.headers)
    problem = assert_problem(response, 422, "validation_error")
    assert loc in [e["loc"][: len(loc)] for e in problem["errors"]], problem
    assert (await sql(database, "SELECT count(*) FROM webhooks"))[0][0] == 0


async def test_missing_fields_are_422(client: httpx.AsyncClient, lead: Partner) -> None:
    response = await client.post(HOOKS, json={"url": RECEIVER}, headers=lead.headers)
    problem = assert_problem(response, 422, "validation_error")
    assert ["body", "event_types"] in [e["loc"] for e in problem["errors"]]


REFUSED = [
    "http://127.0.0.1/x",
    "http://127.1/x",
    "http://2130706433/x",
    "http://0x7f000001/x",
    "http://0177.0.0.1/x",
    "http://[::1]/x",
    "http://[::ffff:127.0.0.1]/x",
    "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.1/x",
    "http://192.168.1.10/x",
    "http://100.64.0.1/x",
    "http://[fd00::1]/x",
    "http://0.0.0.0/x",
    "http://localhost:8080/x",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_private_addresses_are_refused_when_the_guard_is_on(
    client: httpx.AsyncClient, app: FastAPI, lead: Partner, url: str
) -> None:
    guard_on(app)
    response = await client.post(HOOKS, json=body(url=url), headers=lead.headers)
    problem = assert_problem(response, 422, "validation_error")
    assert [e["loc"] for e in problem["errors"]] == [["body", "url"]]


async def test_a_name_is_resolved_and_every_address_checked(
    client: httpx.AsyncClient, app: FastAPI, lead: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {
        "inside.example.org": ["10.0.0.1"],
        "mixed.example.org": ["93.184.215.14", "192.168.0.7"],
        "public.example.org": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    }
    asked: list[str] = []

    async def resolver(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        if host not in answers:
            raise OSError("NXDOMAIN")
        return answers[host]

    monkeypatch.setattr("app.domain.webhook_delivery.system_resolver", resolver)
    guard_on(app)
    for host in ("inside.example.org", "mixed.example.org", "nowhere.example.org"):
        response = await client.post(
            HOOKS, json=body(url=f"https://{host}/hooks"), headers=lead.headers
        )
        problem = assert_problem(response, 422, "validation_error")
        assert problem["errors"][0]["loc"] == ["body", "url"]
        assert "10.0.0.1" not in response.text and "192.168" not in response.text
    made = await subscribe(client, lead, url="https://PUBLIC.example.org./hooks")
    assert made["url"] == "https://public.example.org/hooks"
    assert asked == [
        "inside.example.org",
        "mixed.example.org",
        "nowhere.example.org",
        "public.example.org",
    ]
    # the same checks on PATCH
    patched = await client.patch(
        f"{HOOKS}/{made['id']}",
        json={"url": "https://inside.example.org/x"},
        headers=lead.headers_with(**{"If-Match": '"1"'}),
    )
    assert assert_problem(patched, 422, "validation_error")["errors"][0]["loc"] == ["body", "url"]


async def test_production_requires_https(
    client: httpx.AsyncClient, app: FastAPI, lead: Partner
) -> None:
    guard_on(app, env="production", webhook_allow_private_networks=True)
    response = await client.post(HOOKS, json=body(url="http://127.0.0.1/x"), headers=lead.headers)
    assert assert_problem(response, 422, "validation_error")["errors"][0]["loc"] == ["body", "url"]
    await subscribe(client, lead, url="https://127.0.0.1/x")


# -- stored sealed ---------------------------------------------------------------------------------
async def test_secrets_are_stored_sealed(
    client: httpx.AsyncClient, app: FastAPI, lead: Partner, database: Database
) -> None:
    headers = lead.headers_with(**{"Idempotency-Key": "sealed-1"})
    created = (await client.post(HOOKS, json=body(), headers=headers)).json()
    rotated = (
        await client.post(f"{HOOKS}/{created['id']}/rotate-secret", headers=lead.headers)
    ).json()
    dump = await asyncio.to_thread(pg_dump, database.dsn)
    assert "INSERT INTO public.webhooks" in dump
    assert created["id"] in dump
    assert "whsec_" not in dump
    for secret in (created["secret"], rotated["secret"]):
        assert secret.removeprefix("whsec_") not in dump
    # ...and they open with the KEK, bound to their subscription
    (row,) = await sql(database, "SELECT secret_enc, previous_secret_enc FROM webhooks")
    wrapper = app.state.ctx.key_wrapper
    hook_id = uuid.UUID(created["id"])
    assert open_secret(wrapper, hook_id, row["secret_enc"]) == rotated["secret"]
    assert open_secret(wrapper, hook_id, row["previous_secret_enc"]) == created["secret"]
    with pytest.raises(Exception, match="authenticate"):
        open_secret(wrapper, uuid.uuid4(), row["secret_enc"])


# -- list ------------------------------------------------------------------------------------------
async def test_list_pages_in_creation_order(client: httpx.AsyncClient, lead: Partner) -> None:
    made = [(await subscribe(client, lead, description=f"hook {i}"))["id"] for i in range(3)]
    first = (await client.get(HOOKS, params={"limit": 2}, headers=lead.headers)).json()
    assert [h["id"] for h in first["items"]] == made[:2]
    rest = (
        await client.get(
            HOOKS, params={"limit": 2, "cursor": first["next_cursor"]}, headers=lead.headers
        )
    ).json()
    assert [h["id"] for h in rest["items"]] == made[2:]
    assert rest["next_cursor"] is None
    await client.patch(
        f"{HOOKS}/{made[1]}",
        json={"status": "disabled"},
        headers=lead.headers_with(**{"If-Match": '"1"'}),
    )
    disabled = (await client.get(HOOKS, params={"status": "disabled"}, headers=lead.headers)).json()
    assert [h["id"] for h in disabled["items"]] == [made[1]]
    for params in ({"cursor": "nonsense"}, {"limit": 0}, {"status": "paused"}):
        assert_problem(
            await client.get(HOOKS, params=params, headers=lead.headers), 422, "validation_error"
        )


# -- patch -----------------------------------------------------------------------------------------
async def test_patch_needs_if_match(client: httpx.AsyncClient, lead: Partner) -> None:
    hook = await subscribe(client, lead)
    url = f"{HOOKS}/{hook['id']}"
    change = {"description": "new"}
    assert_problem(
        await client.patch(url, json=change, headers=lead.headers), 428, "precondition_required"
    )
    assert_problem(
        await client.patch(url, json=change, headers=lead.headers_with(**{"If-Match": '"7"'})),
        412,
        "precondition_failed",
    )
    ok = await client.patch(url, json=change, headers=lead.headers_with(**{"If-Match": '"1"'}))
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
    assert_problem(
        await client.patch(url, json=change, headers=lead.headers_with(**{"If-Match": '"1"'})),
        412,
        "precondition_failed",
    )


async def test_patch_changes_what_is_given(client: httpx.AsyncClient, lead: Partner) -> None:
    hook = await subscribe(client, lead)
    url = f"{HOOKS}/{hook['id']}"
    response = await client.patch(
        url,
        json={"url": "http://127.0.0.1:9/other", "event_types": ["*"]},
        headers=lead.headers_with(**{"If-Match": '"1"'}),
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["url"] == "http://127.0.0.1:9/other"
    assert changed["event_types"] == ["*"]
    assert changed["description"] == "CRM"  # absent: kept
    assert changed["version"] == 2 and "secret" not in changed
    cleared = await client.patch(
        url, json={"description": None}, headers=lead.headers_with(**{"If-Match": '"2"'})
    )
    assert cleared.json()["description"] is None
    empty = await client.patch(url, json={}, headers=lead.headers_with(**{"If-Match": "*"}))
    assert empty.json()["version"] == 3  # nothing to change: no new version
    for bad, loc in (
        ({"url": None}, ["body"]),
        ({"status": None}, ["body"]),
        ({"event_types": ["nope"]}, ["body", "event_types", 0]),
        ({"status": "paused"}, ["body", "status"]),
        ({"secret": "x"}, ["body", "secret"]),
        ({"description": "y" * 501}, ["body", "description"]),
    ):
        problem = assert_problem(
            await client.patch(url, json=bad, headers=lead.headers_with(**{"If-Match": "*"})),
            422,
            "validation_error",
        )
        assert loc in [e["loc"][: len(loc)] for e in problem["errors"]], (bad, problem)


async def test_reenabling_resets_the_failures(
    client: httpx.AsyncClient, lead: Partner, database: Database
) -> None:
    hook = await subscribe(client, lead)
    url = f"{HOOKS}/{hook['id']}"
    # what the worker does after AFTERCARE_WEBHOOK_DISABLE_AFTER failures in a row
    await sql(
        database,
        "UPDATE webhooks SET status = 'disabled', consecutive_failures = 30, "
        "disabled_at = now(), version = version + 1 WHERE id = $1",
        uuid.UUID(hook["id"]),
    )
    seen = (await client.get(url, headers=lead.headers)).json()
    assert seen["status"] == "disabled" and seen["consecutive_failures"] == 30
    assert seen["disabled_at"] is not None
    assert_problem(
        await client.post(f"{url}/test", headers=lead.headers), 409, "invalid_transition"
    )
    response = await client.patch(
        url, json={"status": "active"}, headers=lead.headers_with(**{"If-Match": '"2"'})
    )
    enabled = response.json()
    assert enabled["status"] == "active"
    assert enabled["consecutive_failures"] == 0 and enabled["disabled_at"] is None
    # and a partner may pause it itself
    paused = await client.patch(
        url, json={"status": "disabled"}, headers=lead.headers_with(**{"If-Match": '"3"'})
    )
    assert paused.json()["status"] == "disabled" and paused.json()["disabled_at"] is not None


# -- delete ----------------------------------------------------------------------------------------
async def test_delete_takes_deliveries_and_log_with_it(
    client: httpx.AsyncClient, lead: Partner, database: Database
) -> None:
    hook = await subscribe(client, lead)
    other = await subscribe(client, lead)
    made = await ping(client, lead, hook["id"])
    await ping(client, lead, other["id"])
    await record_attempt(database, made["delivery_id"], status="failed", response_status=500)
    url = f"{HOOKS}/{hook['id']}"
    assert_problem(
        await client.delete(url, headers=lead.headers_with(**{"If-Match": '"9"'})),
        412,
        "precondition_failed",
    )
    response = await client.delete(url, headers=lead.headers)
    assert response.status_code == 204 and response.content == b""
    assert_problem(await client.get(url, headers=lead.headers), 404, "not_found")
    assert_problem(await client.delete(url, headers=lead.headers), 404, "not_found")
    hook_id = uuid.UUID(hook["id"])
    for table in ("webhook_deliveries", "webhook_attempts"):
        rows = await sql(database, f"SELECT webhook_id FROM {table}")
        assert hook_id not in [r["webhook_id"] for r in rows], table
    left = await sql(database, "SELECT webhook_id FROM webhook_deliveries")
    assert [r["webhook_id"] for r in left] == [uuid.UUID(other["id"])]
    # the events stay: they belong to the feed
    assert (await sql(database, "SELECT count(*) FROM events"))[0][0] == 2


# -- rotation --------------------------------------------------------------------------------------
async def test_rotation_signs_with_both_secrets_for_24_hours(
    client: httpx.AsyncClient, app: FastAPI, lead: Partner, database: Database
) -> None:
    hook = await subscribe(client, lead)
    url = f"{HOOKS}/{hook['id']}"
    response = await client.post(f"{url}/rotate-secret", headers=lead.headers)
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert set(rotated) == {"secret", "previous_secret_expires_at"}
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != hook["secret"]
    assert response.headers["cache-control"] == "no-store"
    expires = datetime.now(UTC) + timedelta(hours=24)
    assert close_to(rotated["previous_secret_expires_at"], expires)
    seen = (await client.get(url, headers=lead.headers)).json()
    assert seen["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]
    assert seen["version"] == 2 and "whsec_" not in str(seen)

    row = await webhook_row(database, hook["id"])
    assert row.previous_secret_expires_at is not None
    assert abs(row.previous_secret_expires_at - expires) < timedelta(seconds=30)
    wrapper = app.state.ctx.key_wrapper
    now = datetime.now(UTC)
    both = signing_secrets(wrapper, row, now)
    assert both == [rotated["secret"], hook["secret"]]
    payload = b'{"type":"webhook.test"}'
    headers = sign_headers(both, "msg_1", payload)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in both:  # a receiver holding either secret verifies
        verify(secret, payload, headers)
    # after the window only the new one signs
    later = signing_secrets(wrapper, row, now + timedelta(hours=24, seconds=31))
    assert later == [rotated["secret"]]

    # a second rotation: the first secret stops at once, the second signs beside the third
    third = (await client.post(f"{url}/rotate-secret", headers=lead.headers)).json()
    row = await webhook_row(database, hook["id"])
    assert signing_secrets(wrapper, row, datetime.now(UTC)) == [
        third["secret"],
        rotated["secret"],
    ]


# -- test ping -------------------------------------------------------------------------------------
async def test_ping_makes_one_delivery_for_this_subscription_only(
    client: httpx.AsyncClient, lead: Partner, stranger: Partner, database: Database
) -> None:
    hook = await subscribe(client, lead, event_types=["case.closed"])
    everything = await subscribe(client, lead, event_types=["*"])
    tests_too = await subscribe(client, lead, event_types=["webhook.test"])
    theirs = await subscribe(client, stranger, event_types=["*"])
    async with listening(database, "aftercare_deliveries") as woken:
        made = await ping(client, lead, hook["id"])
        await asyncio.wait_for(woken.wait(), 5)
    deliveries = await sql(database, "SELECT webhook_id, event_id, status FROM webhook_deliveries")
    assert [(str(d["webhook_id"]), str(d["event_id"]), d["status"]) for d in deliveries] == [
        (hook["id"], made["event_id"], "pending")
    ]
    assert everything["id"] != tests_too["id"] != theirs["id"]
    (event,) = await sql(database, "SELECT * FROM events")
    assert str(event["id"]) == made["event_id"]
    assert event["org_id"] == lead.org.id
    assert event["type"] == "webhook.test"
    assert (event["subject_type"], str(event["subject_id"])) == ("webhook", hook["id"])
    assert event["case_id"] is None
    # the owner sees it in its feed too; nobody else does
    feed = (await client.get("/v1/events", headers=lead.headers)).json()
    assert [e["id"] for e in feed["items"]] == [made["event_id"]]
    assert feed["items"][0]["data"] == {"webhook_id": hook["id"]}
    assert (await client.get("/v1/events", headers=stranger.headers)).json()["items"] == []


# -- delivery log ----------------------------------------------------------------------------------
async def record_attempt(
    database: Database,
    delivery_id: str,
    *,
    status: str,
    response_status: int | None = None,
    error: str | None = None,
    retry_in: timedelta | None = None,
    at: datetime | None = None,
) -> str:
    """What the worker writes for one attempt (its attempt row and the delivery's new state)."""
    attempt_id = uuid.uuid4()
    when = at or datetime.now(UTC)
    next_at = when + retry_in if retry_in is not None else None
    delivery_status = "succeeded" if status == "succeeded" else "pending" if next_at else "failed"
    async with database.pool.acquire() as conn, conn.transaction():
        delivery = await conn.fetchrow(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, status = $2, "
            "next_attempt_at = $3, last_response_status = $4, updated_at = $5 WHERE id = $1 "
            "RETURNING webhook_id, event_id, attempts",
            uuid.UUID(delivery_id),
            delivery_status,
            next_at,
            response_status,
            when,
        )
        await conn.execute(
            "INSERT INTO webhook_attempts (id, delivery_id, webhook_id, event_id, attempt, status,"
            " response_status, error, duration_ms, next_attempt_at, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 12, $9, $10)",
            attempt_id,
            uuid.UUID(delivery_id),
            delivery["webhook_id"],
            delivery["event_id"],
            delivery["attempts"],
            status,
            response_status,
            error,
            next_at,
            when,
        )
    return str(attempt_id)


async def test_the_log_lists_attempts_newest_first_and_what_is_still_to_come(
    client: httpx.AsyncClient, lead: Partner, database: Database
) -> None:
    hook = await subscribe(client, lead)
    url = f"{HOOKS}/{hook['id']}/deliveries"
    first = await ping(client, lead, hook["id"])
    # not attempted yet: one line, the attempt to come
    (waiting,) = (await client.get(url, headers=lead.headers)).json()["items"]
    assert waiting["id"] is None
    assert waiting["status"] == "pending" and waiting["attempt"] == 1
    assert waiting["delivery_id"] == first["delivery_id"]
    assert waiting["event_id"] == first["event_id"]
    assert waiting["event_type"] == "webhook.test"
    assert waiting["response_status"] is None and waiting["duration_ms"] is None
    assert waiting["next_attempt_at"] is not None

    start = datetime.now(UTC) - timedelta(minutes=10)
    failed = await record_attempt(
        database,
        first["delivery_id"],
        status="failed",
        response_status=500,
        retry_in=timedelta(seconds=5),
        at=start,
    )
    second = await ping(client, lead, hook["id"])
    ok = await record_attempt(
        database,
        second["delivery_id"],
        status="succeeded",
        response_status=204,
        at=start + timedelta(minutes=1),
    )
    items = (await client.get(url, headers=lead.headers)).json()["items"]
    assert [(i["id"], i["status"], i["attempt"]) for i in items] == [
        (ok, "succeeded", 1),
        (None, "pending", 2),  # first delivery: retry due 5 s after its failed attempt
        (failed, "failed", 1),
    ]
    assert items[2]["response_status"] == 500 and items[2]["duration_ms"] == 12
    assert items[2]["next_attempt_at"] == items[1]["next_attempt_at"]
    assert {i["delivery_id"] for i in items} == {first["delivery_id"], second["delivery_id"]}

    only = (await client.get(url, params={"status": "failed"}, headers=lead.headers)).json()
    assert [i["id"] for i in only["items"]] == [failed]
    pending = (await client.get(url, params={"status": "pending"}, headers=lead.headers)).json()
    assert [(i["id"], i["attempt"]) for i in pending["items"]] == [(None, 2)]

    # keyset pages, newest first
    page = (await client.get(url, params={"limit": 2}, headers=lead.headers)).json()
    assert [i["id"] for i in page["items"]] == [ok, None]
    rest = (
        await client.get(
            url, params={"limit": 2, "cursor": page["next_cursor"]}, headers=lead.headers
        )
    ).json()
    assert [i["id"] for i in rest["items"]] == [failed] and rest["next_cursor"] is None
    for params in ({"status": "sent"}, {"cursor": page["next_cursor"][:-3]}, {"limit": 101}):
        assert_problem(
            await client.get(url, params=params, headers=lead.headers), 422, "validation_error"
        )


# -- manual retry ----------------------------------------------------------------------------------
async def test_retry_makes_a_failed_delivery_due_now(
    client: httpx.AsyncClient, lead: Partner, stranger: Partner, database: Database
) -> None:
    hook = await subscribe(client, lead)
    made = await ping(client, lead, hook["id"])
    for _ in range(3):
        await record_attempt(database, made["delivery_id"], status="failed", error="timeout")
    url = f"{HOOKS}/{hook['id']}/deliveries/{made['delivery_id']}/retry"
    async with listening(database, "aftercare_deliveries") as woken:
        response = await client.post(url, headers=lead.headers)
        await asyncio.wait_for(woken.wait(), 5)
    assert response.status_code == 202, response.text
    retried = response.json()
    assert retried["id"] == made["delivery_id"] and retried["event_id"] == made["event_id"]
    assert retried["status"] == "pending" and retried["attempts"] == 3  # the counter is kept
    assert close_to(retried["next_attempt_at"], datetime.now(UTC), 10)
    (row,) = await sql(database, "SELECT status, attempts, next_attempt_at FROM webhook_deliveries")
    assert (row["status"], row["attempts"]) == ("pending", 3)
    # a waiting delivery may be hurried too
    again = await client.post(url, headers=lead.headers)
    assert again.status_code == 202 and again.json()["attempts"] == 3
    # a delivered one may not
    await record_attempt(database, made["delivery_id"], status="succeeded", response_status=200)
    assert_problem(await client.post(url, headers=lead.headers), 409, "invalid_transition")
    # someone else's delivery under one's own subscription is not found
    theirs = await subscribe(client, stranger)
    their_delivery = await ping(client, stranger, theirs["id"])
    mixed = f"{HOOKS}/{hook['id']}/deliveries/{their_delivery['delivery_id']}/retry"
    assert_problem(await client.post(mixed, headers=lead.headers), 404, "not_found")
    assert_problem(
        await client.post(
            f"{HOOKS}/{theirs['id']}/deliveries/{their_delivery['delivery_id']}/retry",
            headers=lead.headers,
        ),
        404,
        "not_found",
    )
    assert_problem(
        await client.post(
            f"{HOOKS}/{hook['id']}/deliveries/not-a-uuid/retry", headers=lead.headers
        ),
        422,
        "validation_error",
    )


async def test_retry_of_a_disabled_subscription_is_409(
    client: httpx.AsyncClient, lead: Partner, database: Database
) -> None:
    hook = await subscribe(client, lead)
    made = await ping(client, lead, hook["id"])
    await record_attempt(database, made["delivery_id"], status="failed", error="timeout")
    await client.patch(
        f"{HOOKS}/{hook['id']}",
        json={"status": "disabled"},
        headers=lead.headers_with(**{"If-Match": "*"}),
    )
    url = f"{HOOKS}/{hook['id']}/deliveries/{made['delivery_id']}/retry"
    assert_problem(await client.post(url, headers=lead.headers), 409, "invalid_transition")


# -- helpers ---------------------------------------------------------------------------------------
async def webhook_row(database: Database, hook_id: str) -> webhook_repo.WebhookRow:
    session = database.session(transactional=False)
    try:
        async with database.pool.acquire() as conn:
            org_id = await conn.fetchval(
                "SELECT org_id FROM webhooks WHERE id = $1", uuid.UUID(hook_id)
            )
        row = await webhook_repo.get(session, uuid.UUID(hook_id), org_id)
        assert row is not None
        return row
    finally:
        await session.close()


class _Woken:
    def __init__(self) -> None:
        self.event = asyncio.Event()

    def __call__(self, *_: Any) -> None:
        self.event.set()

    async def wait(self) -> None:
        await self.event.wait()


@asynccontextmanager
async def listening(database: Database, channel: str) -> AsyncIterator[_Woken]:
    woken = _Woken()
    conn = await asyncpg.connect(asyncpg_dsn(database.dsn))
    try:
        await conn.add_listener(channel, woken)
        yield woken
    finally:
        await conn.close()


async def test_kek_rotation_reseals_the_signing_secrets(
    client: httpx.AsyncClient, lead: Partner, settings: Settings, database: Database
) -> None:
    from app.domain.crypto import KeyWrapper, load_kek
    from app.domain.kek_rotation import rotate

    hook = await subscribe(client, lead)
    rotated = (
        await client.post(f"{HOOKS}/{hook['id']}/rotate-secret", headers=lead.headers)
    ).json()
    old_kek = load_kek(None, settings.resolved_keys_dir, create=False)
    new_kek = bytes(range(32))
    result = await rotate(
        database, KeyWrapper(new_kek, [old_kek]), batch_size=1, progress=lambda *_: None
    )
    assert result.webhook_secrets == 1
    row = await webhook_row(database, hook["id"])
    only_new = KeyWrapper(new_kek)
    assert signing_secrets(only_new, row, datetime.now(UTC)) == [rotated["secret"], hook["secret"]]
    again = await rotate(
        database, KeyWrapper(new_kek, [old_kek]), batch_size=1, progress=lambda *_: None
    )
    assert again.webhook_secrets == 0
