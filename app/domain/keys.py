"""Signing keys: generated, rotated and retired on disk; published as a JWKS.

The key directory holds one PEM file per key (``<kid>.pem``, mode 0600) and ``keyset.json``, which
names the active signing key and the keys still published for verification. ``kid`` is the RFC 7638
thumbprint of the public key. ``rotate`` makes a new key active and keeps the previous ones
published until ``retire`` removes them, so tokens signed just before a rotation stay valid.

Every running process checks ``keyset.json`` at most once per ``refresh_interval`` (setting
``AFTERCARE_KEYSET_REFRESH_SECONDS``, default 1 s) and re-reads the key set when the file
changed, so a rotation or retirement made by the CLI reaches every process within that bound,
without a restart and without a JWKS request. Between checks the hot path costs one
monotonic-clock comparison.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.domain import jwt
from app.logging import log

KEYSET_FILE = "keyset.json"


class KeyStoreError(Exception):
    """The key directory is missing, unreadable or inconsistent."""


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def thumbprint(public_key: rsa.RSAPublicKey) -> str:
    numbers = public_key.public_numbers()
    canonical = json.dumps(
        {"e": _b64(numbers.e), "kty": "RSA", "n": _b64(numbers.n)}, separators=(",", ":")
    )
    return (
        base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    )


@dataclass
class KeySet:
    active: jwt.SigningKey
    verification: dict[str, jwt.VerificationKey] = field(default_factory=dict)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [k.public_jwk for k in self.verification.values()]}


def _read_state(directory: Path) -> dict[str, object]:
    path = directory / KEYSET_FILE
    if not path.exists():
        return {"active": None, "published": []}
    state: dict[str, object] = orjson.loads(path.read_bytes())
    return state


def _write_state(directory: Path, state: dict[str, object]) -> None:
    tmp = directory / (KEYSET_FILE + ".tmp")
    tmp.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2))
    os.replace(tmp, directory / KEYSET_FILE)


def generate_key(directory: Path) -> str:
    """Create a new RSA-2048 key, make it active, keep the previous keys published."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = thumbprint(private.public_key())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = directory / f"{kid}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    state = _read_state(directory)
    published = [k for k in _as_list(state.get("published")) if k != kid]
    published.insert(0, kid)
    _write_state(
        directory,
        {"active": kid, "published": published, "rotated_at": datetime.now(UTC).isoformat()},
    )
    return kid


def retire(directory: Path, kid: str | None = None) -> list[str]:
    """Stop publishing ``kid`` (or every non-active key); returns the retired kids."""
    state = _read_state(directory)
    active = state.get("active")
    published = _as_list(state.get("published"))
    if kid is not None and kid == active:
        raise KeyStoreError("the active signing key cannot be retired; rotate first")
    if kid is not None and kid not in published:
        raise KeyStoreError(f"no published key {kid}")
    retired = [k for k in published if k != active and (kid is None or k == kid)]
    state["published"] = [k for k in published if k not in retired]
    _write_state(directory, state)
    for k in retired:
        (directory / f"{k}.pem").unlink(missing_ok=True)
    return retired


def _as_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def load_keyset(directory: Path) -> KeySet:
    state = _read_state(directory)
    active = state.get("active")
    if not isinstance(active, str):
        raise KeyStoreError(f"no active signing key in {directory}")
    verification: dict[str, jwt.VerificationKey] = {}
    signing: jwt.SigningKey | None = None
    for kid in _as_list(state.get("published")):
        try:
            private = serialization.load_pem_private_key(
                (directory / f"{kid}.pem").read_bytes(), password=None
            )
        except (OSError, ValueError) as exc:
            raise KeyStoreError(f"cannot read key {kid}") from exc
        if not isinstance(private, rsa.RSAPrivateKey):
            raise KeyStoreError(f"key {kid} is not an RSA key")
        verification[kid] = jwt.verification_key(kid, private.public_key())
        if kid == active:
            signing = jwt.signing_key(kid, private)
    if signing is None:
        raise KeyStoreError(f"active key {active} is not published")
    return KeySet(active=signing, verification=verification)


_FileSignature = tuple[int, int, int, int] | None


class KeyRing:
    """The process's view of the key directory, refreshed when the key set changes on disk.

    :meth:`refresh` is cheap to call on every request: it stats ``keyset.json`` only when
    ``refresh_interval`` seconds (monotonic clock) have passed since the last look, and reloads
    the keys only when the file's identity (inode, size, mtime, ctime) changed. ``_write_state``
    replaces the file atomically, so every change is a new inode.
    """

    def __init__(self, directory: Path, *, create: bool, refresh_interval: float = 1.0) -> None:
        self.directory = directory
        if create and _read_state(directory).get("active") is None:
            generate_key(directory)
        self._refresh_interval = refresh_interval
        self._checked_at = time.monotonic()
        self._signature = self._stat()
        self.keyset = load_keyset(directory)

    def _stat(self) -> _FileSignature:
        try:
            st = (self.directory / KEYSET_FILE).stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    def refresh(self, *, force: bool = False) -> None:
        """Re-read the key set if it changed on disk (checked at most once per interval)."""
        now = time.monotonic()
        if not force and now - self._checked_at < self._refresh_interval:
            return
        self._checked_at = now
        signature = self._stat()
        if not force and signature == self._signature:
            return
        try:
            keyset = load_keyset(self.directory)
        except (KeyStoreError, OSError, orjson.JSONDecodeError):
            if force:
                raise
            # Keep the last good key set and look again at the next interval (the signature is
            # not recorded, so the reload is retried).
            log.warning("keyset_reload_failed", directory=str(self.directory))
            return
        self.keyset = keyset
        self._signature = signature

    def find(self, kid: str) -> jwt.VerificationKey | None:
        self.refresh()
        return self.keyset.verification.get(kid)

    def signing_key(self) -> jwt.SigningKey:
        self.refresh()
        return self.keyset.active
