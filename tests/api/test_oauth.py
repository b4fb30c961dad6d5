"""The authorization server: token endpoint (RFC 6749), revocation (RFC 7009), introspection
(RFC 7662), JWKS and metadata (RFC 8414)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from app.api.schemas.oauth import TokenOut
from app.schema_export import OPENAPI_PATH
from tests.factories import Factory, Partner
from tests.helpers import assert_unauthorized

TOKEN = "/oauth/token"
DOC: dict[str, Any] = orjson.loads(OPENAPI_PATH.read_bytes())


# Overrides the shared `partner`: a client with only these scopes.
@pytest.fixture
async def partner(factory: Factory) -> Partner:
    return await factory.partner(scopes=["cases:read", "directory:write", "legal:read"])


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def pad(segment: str) -> str:
    return segment + "=" * (-len(segment) % 4)


def _oauth_error(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    return body


class TestTokenEndpoint:
    async def test_basic_auth(self, client: httpx.AsyncClient, partner: Partner) -> None:
        response = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            auth=(partner.client.client_id, partner.secret),
        )
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 900
        assert body["scope"] == "cases:read directory:write legal:read"
        me = await client.get(
            "/v1/organizations/me", headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert me.status_code == 200
        assert me.json()["id"] == str(partner.org.id)

    async def test_the_answer_is_the_documented_token_schema(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        response = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials", "scope": "cases:read"},
            auth=(partner.client.client_id, partner.secret),
        )
        assert response.status_code == 200, response.text
        assert response.headers["pragma"] == "no-cache"
        body = response.json()
        assert set(body) == set(TokenOut.model_fields)
        assert TokenOut.model_validate(body).scope == "cases:read"
        answer = DOC["paths"][TOKEN]["post"]["responses"]["200"]
        assert answer["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/TokenOut"
        }
        schema = DOC["components"]["schemas"]["TokenOut"]
        assert set(schema["required"]) == set(body) == set(schema["properties"])
        assert {"Cache-Control", "Pragma"} <= set(answer["headers"])

    async def test_form_auth_with_narrowed_scope(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        response = await client.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": partner.client.client_id,
                "client_secret": partner.secret,
                "scope": "legal:read",
            },
        )
        assert response.status_code == 200
        assert response.json()["scope"] == "legal:read"
        token = response.json()["access_token"]
        patch = await client.patch(
            "/v1/organizations/me",
            json={"languages": ["en"]},
            headers={"Authorization": f"Bearer {token}", "If-Match": "*"},
        )
        assert patch.status_code == 403  # the narrowed token lacks directory:write

    async def test_token_claims(self, client: httpx.AsyncClient, partner: Partner) -> None:
        import orjson

        response = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            auth=(partner.client.client_id, partner.secret),
        )
        header_b64, payload_b64, _ = response.json()["access_token"].split(".")
        header = orjson.loads(base64.urlsafe_b64decode(pad(header_b64)))
        claims = orjson.loads(base64.urlsafe_b64decode(pad(payload_b64)))
        assert header["typ"] == "at+jwt" and header["alg"] == "RS256" and header["kid"]
        assert {"iss", "aud", "sub", "client_id", "org_id", "scope", "iat", "exp", "jti"} <= set(
            claims
        )
        assert claims["exp"] - claims["iat"] == 900
        assert claims["org_id"] == str(partner.org.id)

    @pytest.mark.parametrize(
        ("auth", "form", "error"),
        [
            ("wrong_secret", {}, "invalid_client"),
            ("unknown_client", {}, "invalid_client"),
            ("none", {}, "invalid_client"),
            ("malformed_basic", {}, "invalid_client"),
        ],
    )
    async def test_client_authentication_failures(
        self,
        client: httpx.AsyncClient,
        partner: Partner,
        auth: str,
        form: dict[str, str],
        error: str,
    ) -> None:
        headers = {
            "wrong_secret": _basic(partner.client.client_id, "acs_wrong"),
            "unknown_client": _basic("acx_nobody", partner.secret),
            "none": {},
            "malformed_basic": {"Authorization": "Basic !!notbase64"},
        }[auth]
        response = await client.post(
            TOKEN, data={"grant_type": "client_credentials", **form}, headers=headers
        )
        _oauth_error(response, 401, error)
        if auth in ("wrong_secret", "unknown_client", "malformed_basic"):
            assert response.headers["www-authenticate"].startswith("Basic")

    async def test_two_authentication_methods_is_invalid_request(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        response = await client.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": partner.client.client_id,
                "client_secret": partner.secret,
            },
            auth=(partner.client.client_id, partner.secret),
        )
        _oauth_error(response, 400, "invalid_request")

    async def test_unsupported_grant_type(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        response = await client.post(
            TOKEN, data={"grant_type": "password"}, auth=(partner.client.client_id, partner.secret)
        )
        _oauth_error(response, 400, "unsupported_grant_type")

    async def test_missing_grant_type(self, client: httpx.AsyncClient, partner: Partner) -> None:
        response = await client.post(
            TOKEN, data={"scope": "cases:read"}, auth=(partner.client.client_id, partner.secret)
        )
        _oauth_error(response, 400, "invalid_request")

    @pytest.mark.parametrize("scope", ["audit:read", "cases:read audit:read", "nonsense", " "])
    async def test_invalid_scope(
        self, client: httpx.AsyncClient, partner: Partner, scope: str
    ) -> None:
        response = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials", "scope": scope},
            auth=(partner.client.client_id, partner.secret),
        )
        _oauth_error(response, 400, "invalid_scope")

    async def test_json_body_is_invalid_request(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        response = await client.post(
            TOKEN,
            json={"grant_type": "client_credentials"},
            auth=(partner.client.client_id, partner.secret),
        )
        _oauth_error(response, 400, "invalid_request")

    async def test_disabled_client_cannot_get_tokens(
        self, client: httpx.AsyncClient, partner: Partner, database: Any
    ) -> None:
        async with database.pool.acquire() as conn:
            await conn.execute("UPDATE oauth_clients SET disabled_at = now()")
        response = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            auth=(partner.client.client_id, partner.secret),
        )
        _oauth_error(response, 401, "invalid_client")

    async def test_secret_is_stored_only_as_a_hash(self, partner: Partner, database: Any) -> None:
        async with database.pool.acquire() as conn:
            stored = await conn.fetchval(
                "SELECT secret_hash FROM oauth_clients WHERE client_id = $1",
                partner.client.client_id,
            )
        assert partner.secret not in stored
        assert stored.startswith("$argon2id$")


class TestRevocation:
    async def test_revoking_someone_elses_token_does_nothing(
        self, client: httpx.AsyncClient, partner: Partner, factory: Factory
    ) -> None:
        other = await factory.partner()
        response = await client.post(
            "/oauth/revoke",
            data={"token": other.token},
            auth=(partner.client.client_id, partner.secret),
        )
        assert response.status_code == 200  # RFC 7009: no information leaks either way
        assert (await client.get("/v1/organizations/me", headers=other.headers)).status_code == 200

    async def test_garbage_token_is_200(self, client: httpx.AsyncClient, partner: Partner) -> None:
        response = await client.post(
            "/oauth/revoke",
            data={"token": "garbage"},
            auth=(partner.client.client_id, partner.secret),
        )
        assert response.status_code == 200

    async def test_needs_client_authentication(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        response = await client.post("/oauth/revoke", data={"token": partner.token})
        _oauth_error(response, 401, "invalid_client")

    async def test_needs_token(self, client: httpx.AsyncClient, partner: Partner) -> None:
        response = await client.post(
            "/oauth/revoke", data={}, auth=(partner.client.client_id, partner.secret)
        )
        _oauth_error(response, 400, "invalid_request")

    async def test_revoking_twice_is_fine(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        for _ in range(2):
            response = await client.post(
                "/oauth/revoke",
                data={"token": partner.token, "token_type_hint": "access_token"},
                auth=(partner.client.client_id, partner.secret),
            )
            assert response.status_code == 200
        assert_unauthorized(await client.get("/v1/organizations/me", headers=partner.headers))


class TestIntrospection:
    async def test_active_token(self, client: httpx.AsyncClient, partner: Partner) -> None:
        response = await client.post(
            "/oauth/introspect",
            data={"token": partner.token},
            auth=(partner.client.client_id, partner.secret),
        )
        assert response.status_code == 200
        body = response.json()
        assert body["active"] is True
        assert body["client_id"] == partner.client.client_id
        assert body["org_id"] == str(partner.org.id)
        assert body["token_type"] == "Bearer"
        assert {"exp", "iat", "scope", "sub", "aud", "iss", "jti"} <= set(body)

    async def test_revoked_token_is_inactive(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        auth = (partner.client.client_id, partner.secret)
        await client.post("/oauth/revoke", data={"token": partner.token}, auth=auth)
        response = await client.post("/oauth/introspect", data={"token": partner.token}, auth=auth)
        assert response.json() == {"active": False}

    async def test_other_organisations_token_is_not_described(
        self, client: httpx.AsyncClient, partner: Partner, factory: Factory
    ) -> None:
        other = await factory.partner()
        response = await client.post(
            "/oauth/introspect",
            data={"token": other.token},
            auth=(partner.client.client_id, partner.secret),
        )
        assert response.json() == {"active": False}

    async def test_garbage_is_inactive(self, client: httpx.AsyncClient, partner: Partner) -> None:
        response = await client.post(
            "/oauth/introspect",
            data={
                "client_id": partner.client.client_id,
                "client_secret": partner.secret,
                "token": "x.y.z",
            },
        )
        assert response.json() == {"active": False}

    async def test_needs_client_authentication(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        response = await client.post(
            "/oauth/introspect",
            data={"token": partner.token},
            auth=(partner.client.client_id, "acs_nope"),
        )
        _oauth_error(response, 401, "invalid_client")


class TestDiscovery:
    async def test_jwks_publishes_public_keys_only(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        keys = response.json()["keys"]
        assert keys and all(
            k["kty"] == "RSA" and k["alg"] == "RS256" and k["use"] == "sig" for k in keys
        )
        assert all(not ({"d", "p", "q", "dp", "dq", "qi"} & set(k)) for k in keys)

    @pytest.mark.parametrize(
        "path", ["/.well-known/jwks.json", "/.well-known/oauth-authorization-server"]
    )
    async def test_cache_control_is_the_documented_one(
        self, client: httpx.AsyncClient, path: str
    ) -> None:
        response = await client.get(path)
        header = DOC["paths"][path]["get"]["responses"]["200"]["headers"]["Cache-Control"]
        assert header["schema"]["enum"] == [response.headers["cache-control"]]
        assert response.headers["cache-control"].startswith("public, max-age=")

    async def test_metadata(self, client: httpx.AsyncClient) -> None:
        body = (await client.get("/.well-known/oauth-authorization-server")).json()
        assert body["issuer"] == "http://127.0.0.1:8000"
        assert body["token_endpoint"].endswith("/oauth/token")
        assert body["grant_types_supported"] == ["client_credentials"]
        assert "cases:read" in body["scopes_supported"]
        assert set(body["token_endpoint_auth_methods_supported"]) == {
            "client_secret_basic",
            "client_secret_post",
        }


async def test_nul_in_client_id_is_invalid_client_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        TOKEN,
        data={"grant_type": "client_credentials", "client_id": "acx_\x00x", "client_secret": "s"},
    )
    _oauth_error(response, 401, "invalid_client")


class TestOAuthShapedRefusals:
    """RFC 6749 clients read ``{"error", "error_description"}`` at the token endpoints, even for
    what the hub refuses before any OAuth logic runs."""

    @pytest.mark.parametrize("endpoint", [TOKEN, "/oauth/revoke", "/oauth/introspect"])
    async def test_a_body_over_the_limit_is_413_in_oauth_form(
        self, client: httpx.AsyncClient, partner: Partner, endpoint: str
    ) -> None:
        big = {"grant_type": "client_credentials", "padding": "x" * (70 * 1024)}
        response = await client.post(endpoint, data=big, auth=(partner.client.client_id, "s"))
        _oauth_error(response, 413, "invalid_request")

    async def test_a_streamed_body_over_the_limit_is_413_in_oauth_form(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"grant_type=client_credentials&padding="
            for _ in range(80):
                yield b"x" * 1024

        response = await client.post(
            TOKEN,
            content=chunks(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=(partner.client.client_id, partner.secret),
        )
        _oauth_error(response, 413, "invalid_request")

    @pytest.mark.parametrize("endpoint", [TOKEN, "/oauth/revoke", "/oauth/introspect"])
    async def test_only_a_urlencoded_form_is_read(
        self, client: httpx.AsyncClient, partner: Partner, endpoint: str
    ) -> None:
        """RFC 7009 and 7662 take the token endpoint's form; a multipart body could name a
        charset that decodes to what no database or hash takes (a lone surrogate: was a 500)."""
        body = (
            b'--b\r\nContent-Disposition: form-data; name="client_id"\r\n\r\nacx_x\r\n'
            b'--b\r\nContent-Disposition: form-data; name="client_secret"\r\n\r\n\\ud800\r\n'
            b'--b\r\nContent-Disposition: form-data; name="token"\r\n\r\nx\r\n--b--\r\n'
        )
        for content_type in (
            "multipart/form-data; boundary=b; charset=unicode_escape",
            "application/json",
        ):
            response = await client.post(
                endpoint, content=body, headers={"Content-Type": content_type}
            )
            _oauth_error(response, 400, "invalid_request")

    @pytest.mark.parametrize("endpoint", ["/oauth/revoke", "/oauth/introspect"])
    async def test_a_file_for_a_parameter_is_invalid_request(
        self, client: httpx.AsyncClient, partner: Partner, endpoint: str
    ) -> None:
        response = await client.post(
            endpoint,
            files={"token": ("token.txt", b"not a plain value")},
            auth=(partner.client.client_id, partner.secret),
        )
        _oauth_error(response, 400, "invalid_request")

    async def test_over_a_thousand_fields_is_invalid_request(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        fields = {f"f{i}": "x" for i in range(1001)}
        response = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials", **fields},
            auth=(partner.client.client_id, partner.secret),
        )
        _oauth_error(response, 400, "invalid_request")


class TestParameterHoles:
    async def test_empty_scope_is_invalid_scope_not_every_scope(
        self, client: httpx.AsyncClient, partner: Partner
    ) -> None:
        response = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials", "scope": ""},
            auth=(partner.client.client_id, partner.secret),
        )
        _oauth_error(response, 400, "invalid_scope")

    @pytest.mark.parametrize(
        "body",
        [
            "grant_type=client_credentials&grant_type=client_credentials",
            "grant_type=client_credentials&scope=cases:read&scope=legal:read",
            "grant_type=client_credentials&scope=cases:read&scope=",
        ],
    )
    async def test_repeated_token_parameter_is_invalid_request(
        self, client: httpx.AsyncClient, partner: Partner, body: str
    ) -> None:
        response = await client.post(
            TOKEN,
            content=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                **_basic(partner.client.client_id, partner.secret),
            },
        )
        _oauth_error(response, 400, "invalid_request")

    async def test_repeated_client_id_is_invalid_request(
        self, client: httpx.AsyncClient, partner: Partner, factory: Factory
    ) -> None:
        other = await factory.partner()
        response = await client.post(
            TOKEN,
            data={
                "grant_type": "client_credentials",
                "client_id": [other.client.client_id, partner.client.client_id],
                "client_secret": partner.secret,
            },
        )
        _oauth_error(response, 400, "invalid_request")

    @pytest.mark.parametrize("endpoint", ["/oauth/revoke", "/oauth/introspect"])
    async def test_repeated_token_is_invalid_request(
        self, client: httpx.AsyncClient, partner: Partner, factory: Factory, endpoint: str
    ) -> None:
        other = await factory.partner()
        response = await client.post(
            endpoint,
            data={"token": [partner.token, other.token]},
            auth=(partner.client.client_id, partner.secret),
        )
        _oauth_error(response, 400, "invalid_request")
        # Nothing was revoked.
        assert (
            await client.get("/v1/organizations/me", headers=partner.headers)
        ).status_code == 200


async def test_unknown_client_id_spends_one_argon2_verify_and_gets_the_same_401(
    client: httpx.AsyncClient, partner: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.domain import clients

    calls: list[str] = []
    real_verify = clients._verify

    def counting_verify(secret_hash: str, secret: str) -> bool:
        calls.append(secret_hash)
        return real_verify(secret_hash, secret)

    monkeypatch.setattr(clients, "_verify", counting_verify)
    bodies = []
    for client_id in ("acx_nobody", partner.client.client_id):
        response = await client.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            headers=_basic(client_id, "acs_wrong"),
        )
        bodies.append(_oauth_error(response, 401, "invalid_client"))
    assert bodies[0] == bodies[1]
    assert len(calls) == 2
    assert calls[0] == clients._DUMMY_HASH and calls[1].startswith("$argon2id$")


async def test_a_flood_of_bad_credentials_never_hashes_on_more_than_half_the_cores(
    client: httpx.AsyncClient, partner: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each address has its own failure allowance, so a flood from many addresses gets past the
    limits; the hashes it costs still queue on a bounded pool instead of taking every core."""
    import asyncio
    import threading
    import time

    from app.domain import clients

    lock = threading.Lock()
    running = peak = 0
    real_verify = clients._verify

    def slow_verify(secret_hash: str, secret: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            time.sleep(0.02)
            return real_verify(secret_hash, secret)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(clients, "_verify", slow_verify)
    responses = await asyncio.gather(
        *(
            client.post(
                TOKEN,
                data={"grant_type": "client_credentials"},
                headers=_basic(f"acx_nobody{i}", "acs_wrong"),
            )
            for i in range(8)
        )
    )
    assert all(r.status_code in (401, 429) for r in responses)
    assert 1 <= peak <= clients.HASH_SLOTS
