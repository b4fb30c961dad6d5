"""The operator CLI: JSON on stdout for what it creates, clear errors and exit codes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.db.migrations import head_revision


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
