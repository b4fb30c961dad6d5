"""The only module that touches python-jose: signing and verifying RFC 9068 access tokens.

Verification follows RFC 8725: the algorithm comes from the key (never from the token), the
header must carry ``typ: at+jwt`` and a known ``kid``, and ``iss``, ``aud``, ``exp``, ``iat``,
``sub`` and ``jti`` are required. Every failure, including python-jose's ``JWKError`` (which sits
outside ``JWTError``), becomes :class:`TokenRejected` with a reason safe to show the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from jose import JOSEError, jwk, jwt
from jose.backends.base import Key

ALGORITHM = "RS256"
TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
REQUIRED_CLAIMS = ("iss", "aud", "sub", "exp", "iat", "jti")


class TokenRejected(Exception):
    """The token is not acceptable; ``str(exc)`` is a short reason without token contents."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str
    algorithm: str
    key: Key
    public_jwk: dict[str, str]


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    algorithm: str
    key: Key


def signing_key(kid: str, private_key: RSAPrivateKey) -> SigningKey:
    # python-jose accepts cryptography key objects (and then skips re-parsing PEM on every call);
    # its type stubs only list str/bytes/dict.
    key = jwk.construct(private_key, ALGORITHM)  # type: ignore[arg-type]
    return SigningKey(kid=kid, algorithm=ALGORITHM, key=key)


def verification_key(kid: str, public_key: RSAPublicKey) -> VerificationKey:
    key = jwk.construct(public_key, ALGORITHM)  # type: ignore[arg-type]
    public = {k: str(v) for k, v in key.to_dict().items()}
    public.update({"kid": kid, "use": "sig", "alg": ALGORITHM})
    return VerificationKey(kid=kid, algorithm=ALGORITHM, key=key, public_jwk=public)


def encode(claims: Mapping[str, Any], key: SigningKey) -> str:
    token: str = jwt.encode(
        dict(claims), key.key, algorithm=key.algorithm, headers={"kid": key.kid, "typ": "at+jwt"}
    )
    return token


def decode(
    token: str,
    *,
    find_key: Callable[[str], VerificationKey | None],
    issuer: str,
    audience: str,
    leeway: int = 30,
) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError as exc:
        raise TokenRejected("malformed token") from exc
    except Exception as exc:  # malformed input can surface as TypeError/ValueError
        raise TokenRejected("malformed token") from exc
    if str(header.get("typ", "")).lower() not in TOKEN_TYPES:
        raise TokenRejected("wrong token type")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenRejected("missing key id")
    key = find_key(kid)
    if key is None:
        raise TokenRejected("unknown key id")
    if header.get("alg") != key.algorithm:
        raise TokenRejected("algorithm not allowed")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm],
            audience=audience,
            issuer=issuer,
            options={"require_" + name: True for name in REQUIRED_CLAIMS}
            | {"leeway": leeway, "verify_at_hash": False},
        )
    except JOSEError as exc:
        raise TokenRejected(_reason(exc)) from exc
    except Exception as exc:
        raise TokenRejected("malformed token") from exc
    return claims


def _reason(exc: Exception) -> str:
    name = type(exc).__name__
    if name == "ExpiredSignatureError":
        return "token expired"
    if name == "JWTClaimsError":
        return "token claims rejected"
    return "signature or format invalid"


def encode_document(claims: Mapping[str, Any], key: SigningKey, typ: str) -> str:
    """A signed statement that is not an access token (``typ`` says what it is), e.g. the audit
    anchor: the same keys, a different type, so neither can pass for the other."""
    token: str = jwt.encode(
        dict(claims), key.key, algorithm=key.algorithm, headers={"kid": key.kid, "typ": typ}
    )
    return token


def decode_document(
    token: str, *, find_key: Callable[[str], VerificationKey | None], typ: str
) -> dict[str, Any]:
    """The claims of a document signed by :func:`encode_document`; TokenRejected otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except Exception as exc:  # malformed input surfaces as JOSEError, TypeError, ValueError
        raise TokenRejected("malformed document") from exc
    if header.get("typ") != typ:
        raise TokenRejected("wrong document type")
    kid = header.get("kid")
    key = find_key(kid) if isinstance(kid, str) and kid else None
    if key is None:
        raise TokenRejected("unknown key id")
    if header.get("alg") != key.algorithm:
        raise TokenRejected("algorithm not allowed")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm],
            options={"verify_aud": False, "verify_iss": False, "verify_exp": False},
        )
    except Exception as exc:
        raise TokenRejected("signature does not verify") from exc
    return claims
