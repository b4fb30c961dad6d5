"""The operator CLI: JSON on stdout for what it creates, clear errors and exit codes."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from app.cli import cli
from app.db.database import Database
from app.db.migrations import head_revision
from app.domain.crypto import kek_id_of
from app.domain.keys import KeyRing
from app.main import create_app
from app.settings import Settings
from tests.factories import PLANTED, Factory, Partner, case_body


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    values = {
        "AFTERCARE_DATABASE_URL": database_url,
        "AFTERCARE_DATA_DIR": str(tmp_path),
        "AFTERCARE_KEYS_DIR": str(tmp_path / "keys"),
    }
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    yield values
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_org_and_client_create(env: dict[str, str]) -> None:
    code, out, _ = run(
        "org",
        "create",
        "--name",
        "Lotus Haven (fictional)",
        "--kind",
        "ngo_shelter",
        "--country",
        "TH",
    )
    assert code == 0
    org = orjson.loads(out)
    assert org["name"] == "Lotus Haven (fictional)" and org["kind"] == "ngo_shelter"
    code, out, _ = run(
        "client",
        "create",
        "--org",
        org["id"],
        "--name",
        "case system",
        "--scopes",
        "cases:read legal:read",
    )
    assert code == 0
    client = orjson.loads(out)
    assert client["org_id"] == org["id"]
    assert client["scopes"] == ["cases:read", "legal:read"]
    assert client["client_id"].startswith("acx_") and client["client_secret"].startswith("acs_")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("org", "create", "--name", "X", "--kind", "castle"), "unknown kind"),
        (("org", "create", "--name", "X", "--kind", "other", "--country", "tha"), "country"),
        (("client", "create", "--org", "nope", "--name", "c", "--scopes", "cases:read"), "UUID"),
        (
            (
                "client",
                "create",
                "--org",
                "00000000-0000-0000-0000-000000000000",
                "--name",
                "c",
                "--scopes",
                "cases:read",
            ),
            "No such organization",
        ),
        (
            (
                "client",
                "create",
                "--org",
                "00000000-0000-0000-0000-000000000000",
                "--name",
                "c",
                "--scopes",
                "cases:delete",
            ),
            "Unknown scope",
        ),
        (
            (
                "client",
                "create",
                "--org",
                "00000000-0000-0000-0000-000000000000",
                "--name",
                "c",
                "--scopes",
                " ",
            ),
            "at least one scope",
        ),
    ],
)
def test_errors_exit_non_zero_with_a_message(
    env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = run(*args)
    assert code != 0
    assert out == ""
    assert message in err


@pytest.mark.parametrize(
    "args",
    [
        ("serve", "--workers", "0"),
        ("serve", "--workers", "65"),
        ("worker", "--metrics-port", "0"),
    ],
)
def test_process_options_are_checked_before_anything_starts(
    env: dict[str, str], args: tuple[str, ...]
) -> None:
    code, out, err = run(*args)
    assert code == 2
    assert out == ""
    assert "Invalid value for '--" in err


def test_keys_rotate_list_retire(env: dict[str, str]) -> None:
    code, out, _ = run("keys", "rotate")
    first = orjson.loads(out)["active_kid"]
    code, out, _ = run("keys", "rotate")
    rotated = orjson.loads(out)
    assert rotated["active_kid"] != first
    assert set(rotated["published_kids"]) == {first, rotated["active_kid"]}
    code, out, err = run("keys", "retire", "--kid", rotated["active_kid"])
    assert code != 0 and "active" in err
    code, out, _ = run("keys", "retire")
    assert orjson.loads(out) == {"retired_kids": [first]}
    code, out, _ = run("keys", "list")
    assert orjson.loads(out) == {
        "active_kid": rotated["active_kid"],
        "published_kids": [rotated["active_kid"]],
    }
    assert (
        oct(
            os.stat(Path(env["AFTERCARE_KEYS_DIR"]) / f"{rotated['active_kid']}.pem").st_mode
            & 0o777
        )
        == "0o600"
    )


def test_db_upgrade_is_idempotent(env: dict[str, str]) -> None:
    code, out, _ = run("db", "upgrade")
    assert code == 0 and orjson.loads(out) == {"revision": head_revision()}


def test_production_refuses_to_start_without_explicit_config(tmp_path: Path) -> None:
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AFTERCARE_")}
    os.environ["AFTERCARE_ENV"] = "production"
    try:
        code, _, err = run("keys", "list")
        assert code == 2
        assert "AFTERCARE_DATABASE_URL" in err and "AFTERCARE_KEYS_DIR" in err
    finally:
        os.environ.pop("AFTERCARE_ENV")
        os.environ.update(saved)


def test_client_disable_and_prune(env: dict[str, str]) -> None:
    code, out, _ = run("org", "create", "--name", "Prune Org", "--kind", "other")
    org = orjson.loads(out)
    code, out, _ = run(
        "client", "create", "--org", org["id"], "--name", "c", "--scopes", "cases:read"
    )
    client = orjson.loads(out)
    code, out, _ = run("client", "disable", client["client_id"])
    assert code == 0 and orjson.loads(out)["client_id"] == client["client_id"]
    code, _, err = run("client", "disable", "acx_nobody")
    assert code == 1 and "No such client" in err
    code, out, _ = run("db", "prune")
    assert code == 0
    assert orjson.loads(out) == {"revoked_tokens": 0, "idempotency_keys": 0, "referrals_expired": 0}


def test_unreachable_database_is_a_clear_error(env: dict[str, str]) -> None:
    os.environ["AFTERCARE_DATABASE_URL"] = "postgresql+asyncpg://postgres@127.0.0.1:9/none"
    code, out, err = run("db", "upgrade")
    assert code == 1 and out == ""
    assert err.startswith("error: database unavailable")
    assert "Traceback" not in err
    code, _, err = run("org", "create", "--name", "X", "--kind", "other")
    assert code == 1 and "database unavailable" in err


# -- kek rotate --------------------------------------------------------------------------------


async def _reader(
    settings: Settings, database: Database, keyring: KeyRing, **keks: str
) -> AsyncIterator[httpx.AsyncClient]:
    """An API client on the same database whose process knows only the given KEKs."""
    configured = settings.model_copy(update={k: SecretStr(v) for k, v in keks.items()})
    app = create_app(configured, database=database, keyring=keyring, configure_logs=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def kek_env(database_url: str, keys_dir: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    old = (keys_dir / "kek").read_text().strip()  # what the app under test wrapped keys with
    new = base64.b64encode(secrets.token_bytes(32)).decode()
    values = {
        "AFTERCARE_DATABASE_URL": database_url,
        "AFTERCARE_DATA_DIR": str(tmp_path),
        "AFTERCARE_KEYS_DIR": str(keys_dir),
        "AFTERCARE_KEK": new,
        "AFTERCARE_KEK_PREVIOUS": old,
    }
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    yield values
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


async def _cases_with_free_text(client: httpx.AsyncClient, lead: Partner) -> list[str]:
    ids = []
    for i in range(5):
        headers = lead.headers_with(**{"Idempotency-Key": f"rotate-{i}"}) if i == 0 else None
        created = await client.post(
            "/v1/cases",
            json=case_body(external_ref=f"ROT-{i}"),
            headers=headers or lead.headers,
        )
        assert created.status_code == 201, created.text
        case_id = created.json()["id"]
        closed = await client.post(
            f"/v1/cases/{case_id}/close", json={"reason": f"Rotated text {i}"}, headers=lead.headers
        )
        assert closed.status_code == 200
        ids.append(case_id)
    return ids


async def _assert_readable(client: httpx.AsyncClient, lead: Partner, ids: list[str]) -> None:
    for i, case_id in enumerate(ids):
        response = await client.get(f"/v1/cases/{case_id}", headers=lead.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["survivor"]["given_name"] == PLANTED[0]
        assert body["close_reason"] == f"Rotated text {i}" and body["external_ref"] == f"ROT-{i}"


async def test_kek_rotate_is_resumable_online_and_verified(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    settings: Settings,
    keyring: KeyRing,
    kek_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.db.repositories import case_keys

    lead = await factory.partner()
    ids = await _cases_with_free_text(client, lead)
    real_rewrap = case_keys.rewrap
    calls = 0

    async def crash_on_the_third(*args: Any, **kw: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ConnectionResetError("simulated crash")
        await real_rewrap(*args, **kw)

    monkeypatch.setattr(case_keys, "rewrap", crash_on_the_third)
    code, out, err = await asyncio.to_thread(run, "kek", "rotate", "--batch-size", "2")
    assert code == 1 and out == ""
    assert "rerun to resume" in err
    new_id = kek_id_of(base64.b64decode(kek_env["AFTERCARE_KEK"]))
    async with database.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM case_keys WHERE kek_id = $1", new_id) == 2
    # Mid-rotation the service still reads every case, under either KEK.
    async for during in _reader(
        settings,
        database,
        keyring,
        kek=kek_env["AFTERCARE_KEK"],
        kek_previous=kek_env["AFTERCARE_KEK_PREVIOUS"],
    ):
        await _assert_readable(during, lead, ids)

    monkeypatch.setattr(case_keys, "rewrap", real_rewrap)
    code, out, err = await asyncio.to_thread(run, "kek", "rotate", "--batch-size", "2")
    assert code == 0, err
    summary = orjson.loads(out)
    assert summary == {
        "kek_id": new_id,
        "case_keys": 5,
        "rewrapped": 3,
        "already_current": 2,
        "idempotency_bodies": 1,
        "resealed": 1,
        "webhook_secrets": 0,
        "verified": 5,
    }
    assert "case keys" in err and "5/5" in err  # the progress bar went to stderr
    # Run again: nothing left to do.
    code, out, _ = await asyncio.to_thread(run, "kek", "rotate")
    assert code == 0 and orjson.loads(out)["rewrapped"] == 0 == orjson.loads(out)["resealed"]

    # With only the new KEK, everything still reads, the stored replay included.
    async for after in _reader(settings, database, keyring, kek=kek_env["AFTERCARE_KEK"]):
        await _assert_readable(after, lead, ids)
        replay = await after.post(
            "/v1/cases",
            json=case_body(external_ref="ROT-0"),
            headers=lead.headers_with(**{"Idempotency-Key": "rotate-0"}),
        )
        assert replay.status_code == 201 and replay.json()["id"] == ids[0]


async def test_kek_rotate_without_the_old_kek_fails_clearly(
    client: httpx.AsyncClient, factory: Factory, kek_env: dict[str, str]
) -> None:
    lead = await factory.partner()
    await _cases_with_free_text(client, lead)
    os.environ.pop("AFTERCARE_KEK_PREVIOUS")
    code, out, err = await asyncio.to_thread(run, "kek", "rotate")
    assert code == 1 and out == ""
    assert "AFTERCARE_KEK_PREVIOUS" in err and "Traceback" not in err
