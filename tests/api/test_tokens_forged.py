"""RFC 8725: every forged or unacceptable token is a 401 with WWW-Authenticate, never a 500."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from app.domain.keys import KeyRing
from tests import tokens as t
from tests.factories import Factory, Partner
from tests.helpers import assert_unauthorized

ME = "/v1/organizations/me"


def _claims(partner: Partner, factory: Factory, **overrides: Any) -> dict[str, Any]:
    cfg = factory.ctx.token_config
    return t.claims_for(
        partner.client.client_id,
        partner.org.id,
        issuer=cfg.issuer,
        audience=cfg.audience,
        **overrides,
    )


def _header(keyring: KeyRing, **overrides: Any) -> dict[str, Any]:
    header = {"alg": "RS256", "typ": "at+jwt", "kid": keyring.keyset.active.kid}
    header.update(overrides)
    return {k: v for k, v in header.items() if v is not None}


async def test_a_genuine_token_works(client: httpx.AsyncClient, partner: Partner) -> None:
    response = await client.get(ME, headers=partner.headers)
    assert response.status_code == 200


async def test_a_well_formed_hand_signed_token_works(
    client: httpx.AsyncClient, partner: Partner, factory: Factory, keyring: KeyRing
) -> None:
    # Proves the forgeries below fail for the reason they test, not because the helper is wrong.
    token = t.sign_rs256(_header(keyring), _claims(partner, factory), t.private_key(keyring))
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


Forger = Callable[[Partner, Factory, KeyRing], str]

FORGERIES: dict[str, Forger] = {
    "alg_none": lambda p, f, k: t.unsigned(_header(k, alg="none"), _claims(p, f)),
    "hs256_signed_with_public_key": lambda p, f, k: t.sign_hs256(
        _header(k, alg="HS256"), _claims(p, f), t.public_pem(k)
    ),
    "tampered_payload": lambda p, f, k: _tamper(
        t.sign_rs256(_header(k), _claims(p, f), t.private_key(k)),
        _claims(p, f, scope="audit:read cases:read cases:write"),
    ),
    "wrong_typ": lambda p, f, k: t.sign_rs256(
        _header(k, typ="JWT"), _claims(p, f), t.private_key(k)
    ),
    "missing_typ": lambda p, f, k: t.sign_rs256(
        _header(k, typ=None), _claims(p, f), t.private_key(k)
    ),
    "wrong_aud": lambda p, f, k: t.sign_rs256(
        _header(k), _claims(p, f, aud="someone-else"), t.private_key(k)
    ),
    "wrong_iss": lambda p, f, k: t.sign_rs256(
        _header(k), _claims(p, f, iss="https://evil.example"), t.private_key(k)
    ),
    "expired": lambda p, f, k: t.sign_rs256(
        _header(k),
        _claims(p, f, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
        t.private_key(k),
    ),
    "unknown_kid": lambda p, f, k: t.sign_rs256(
        _header(k, kid="not-a-key"), _claims(p, f), t.private_key(k)
    ),
    "missing_kid": lambda p, f, k: t.sign_rs256(
        _header(k, kid=None), _claims(p, f), t.private_key(k)
    ),
    "missing_jti": lambda p, f, k: t.sign_rs256(
        _header(k), _claims(p, f, jti=None), t.private_key(k)
    ),
    "missing_exp": lambda p, f, k: t.sign_rs256(
        _header(k), _claims(p, f, exp=None), t.private_key(k)
    ),
    "missing_iat": lambda p, f, k: t.sign_rs256(
        _header(k), _claims(p, f, iat=None), t.private_key(k)
    ),
    "missing_sub": lambda p, f, k: t.sign_rs256(
        _header(k), _claims(p, f, sub=None), t.private_key(k)
    ),
    "sub_differs_from_client": lambda p, f, k: t.sign_rs256(
        _header(k), _claims(p, f, sub="acx_other"), t.private_key(k)
    ),
    "bad_org_id": lambda p, f, k: t.sign_rs256(
        _header(k), _claims(p, f, org_id="nope"), t.private_key(k)
    ),
    "org_id_not_the_clients": lambda p, f, k: t.sign_rs256(
        _header(k), _claims(p, f, org_id=str(uuid.uuid4())), t.private_key(k)
    ),
    "unknown_client": lambda p, f, k: t.sign_rs256(
        _header(k), _claims(p, f, sub="acx_ghost", client_id="acx_ghost"), t.private_key(k)
    ),
    "garbage": lambda p, f, k: "not.a.jwt",
    "two_segments": lambda p, f, k: "eyJhbGciOiJSUzI1NiJ9.e30",
    "bad_base64_header": lambda p, f, k: "%%%.e30.sig",
    "header_not_object": lambda p, f, k: t.b64(b"[1,2]") + ".e30.sig",
    "rs512_header": lambda p, f, k: t.sign_rs256(
        _header(k, alg="RS512"), _claims(p, f), t.private_key(k)
    ),
}


def _tamper(token: str, claims: dict[str, Any]) -> str:
    import orjson

    header, _, signature = token.split(".")
    return f"{header}.{t.b64(orjson.dumps(claims))}.{signature}"


@pytest.mark.parametrize("name", sorted(FORGERIES))
async def test_forged_token_is_refused(
    name: str,
    client: httpx.AsyncClient,
    partner: Partner,
    factory: Factory,
    keyring: KeyRing,
) -> None:
    token = FORGERIES[name](partner, factory, keyring)
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    body = assert_unauthorized(response)
    assert token not in response.text
    assert "Traceback" not in body["detail"]


@pytest.mark.parametrize(
    "authorization", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer"]
)
async def test_malformed_authorization_header(
    client: httpx.AsyncClient, authorization: str
) -> None:
    response = await client.get(ME, headers={"Authorization": authorization})
    assert_unauthorized(response)


async def test_revoked_token_is_refused_from_the_next_request(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    assert (await client.get(ME, headers=partner.headers)).status_code == 200
    response = await client.post(
        "/oauth/revoke",
        data={"token": partner.token},
        auth=(partner.client.client_id, partner.secret),
    )
    assert response.status_code == 200
    body = assert_unauthorized(await client.get(ME, headers=partner.headers))
    assert body["detail"] == "token revoked"


async def test_disabled_client_tokens_stop_working(
    client: httpx.AsyncClient, partner: Partner, database: Any
) -> None:
    conn = await database.pool.acquire()
    try:
        await conn.execute(
            "UPDATE oauth_clients SET disabled_at = now() WHERE client_id = $1",
            partner.client.client_id,
        )
    finally:
        await database.pool.release(conn)
    assert_unauthorized(await client.get(ME, headers=partner.headers))


async def test_rotated_keys_keep_old_tokens_valid_until_retired(
    client: httpx.AsyncClient, factory: Factory, tmp_path: Any
) -> None:
    from app.domain import keys

    ring = KeyRing(tmp_path / "k", create=True, refresh_interval=0)
    factory.ctx.keyring = ring
    partner = await factory.partner()
    old_kid = ring.keyset.active.kid
    new_kid = keys.generate_key(ring.directory)
    ring.refresh(force=True)
    assert ring.keyset.active.kid == new_kid
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert {k["kid"] for k in jwks["keys"]} == {old_kid, new_kid}
    # The old token still verifies; a new one is signed by the new key.
    assert (await client.get(ME, headers=partner.headers)).status_code == 200
    fresh = factory.token(partner.client)
    assert (await client.get(ME, headers={"Authorization": f"Bearer {fresh}"})).status_code == 200
    assert keys.retire(ring.directory) == [old_kid]
    ring.refresh(force=True)
    assert_unauthorized(await client.get(ME, headers=partner.headers))
    assert (await client.get(ME, headers={"Authorization": f"Bearer {fresh}"})).status_code == 200


async def test_token_naming_another_organisation_than_its_clients_is_refused(
    client: httpx.AsyncClient, partner: Partner, factory: Factory, keyring: KeyRing
) -> None:
    # Signed with the real key, for a real client, but claiming another real organisation: the
    # client's organisation is what the token must carry.
    other = await factory.partner()
    claims = _claims(partner, factory, org_id=str(other.org.id))
    token = t.sign_rs256(_header(keyring), claims, t.private_key(keyring))
    assert_unauthorized(await client.get(ME, headers={"Authorization": f"Bearer {token}"}))
    introspected = await client.post(
        "/oauth/introspect",
        data={"token": token},
        auth=(other.client.client_id, other.secret),
    )
    assert introspected.json() == {"active": False}


async def test_org_check_costs_no_extra_statement(
    client: httpx.AsyncClient, partner: Partner, database: Any
) -> None:
    from tests.helpers import StatementCounter

    assert (await client.get(ME, headers=partner.headers)).status_code == 200
    counter = StatementCounter()
    database.statement_hook = counter
    try:
        assert (await client.get(ME, headers=partner.headers)).status_code == 200
    finally:
        database.statement_hook = None
    token_checks = [s for s in counter.statements if "revoked_tokens" in s]
    assert len(token_checks) == 1, counter.statements


async def test_retired_kid_stops_verifying_within_the_refresh_interval_even_when_memoised(
    client: httpx.AsyncClient, factory: Factory, tmp_path: Any
) -> None:
    # No forced refresh here: the running process must notice the retirement on its own.
    from app.domain import keys

    ring = KeyRing(tmp_path / "k", create=True, refresh_interval=0.05)
    factory.ctx.keyring = ring
    partner = await factory.partner()
    old_kid = ring.keyset.active.kid
    assert (await client.get(ME, headers=partner.headers)).status_code == 200  # memoised
    keys.generate_key(ring.directory)
    await asyncio.sleep(0.1)
    fresh = factory.token(partner.client)  # signed with the new key, picked up unforced
    assert ring.keyset.active.kid != old_kid
    assert (await client.get(ME, headers=partner.headers)).status_code == 200
    assert keys.retire(ring.directory, old_kid) == [old_kid]
    await asyncio.sleep(0.1)
    assert_unauthorized(await client.get(ME, headers=partner.headers))
    assert (await client.get(ME, headers={"Authorization": f"Bearer {fresh}"})).status_code == 200
