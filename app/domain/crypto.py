"""Field-level encryption of survivor identity (AES-256-GCM, envelope encryption).

Each case has its own 256-bit data key, stored only wrapped (AES-GCM) by the key-encryption key
(KEK) from the settings. Every identity field is encrypted on its own with the case's data key and
associated data naming the row and column, so a ciphertext copied into another row or column fails
to decrypt. Destroying a case's wrapped data key makes its identity unrecoverable
(crypto-shredding) while the rest of the case stays readable.

Blob layout: ``version (1 byte) || nonce (12 bytes) || ciphertext+tag``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = b"\x01"
KEK_FILE = "kek"
_MIN_BLOB = 1 + 12 + 16  # version, nonce, GCM tag


class DecryptionFailed(Exception):
    """A ciphertext or wrapped key does not authenticate (wrong key, row or column)."""


class KekError(Exception):
    """The key-encryption key is missing or malformed."""


def _aad(*parts: object) -> bytes:
    return ":".join(["aftercare", "v1", *(str(p) for p in parts)]).encode()


class DataKey:
    """One case's data key, unwrapped, for the duration of a request."""

    __slots__ = ("_aead", "case_id")

    def __init__(self, case_id: UUID, key: bytes) -> None:
        self.case_id = case_id
        self._aead = AESGCM(key)

    def encrypt(self, column: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        return (
            VERSION
            + nonce
            + self._aead.encrypt(nonce, plaintext, _aad("cases", self.case_id, column))
        )

    def decrypt(self, column: str, blob: bytes) -> bytes:
        if len(blob) < _MIN_BLOB or blob[:1] != VERSION:
            raise DecryptionFailed("unknown ciphertext version")
        try:
            return self._aead.decrypt(blob[1:13], blob[13:], _aad("cases", self.case_id, column))
        except InvalidTag as exc:
            raise DecryptionFailed("ciphertext does not authenticate") from exc

    def encrypt_json(self, column: str, value: Any) -> bytes | None:
        return None if value is None else self.encrypt(column, orjson.dumps(value))

    def decrypt_json(self, column: str, blob: bytes | None) -> Any:
        return None if blob is None else orjson.loads(self.decrypt(column, blob))


class KeyWrapper:
    """Wraps and unwraps data keys with the KEK."""

    def __init__(self, kek: bytes) -> None:
        if len(kek) != 32:
            raise KekError("the key-encryption key must be 32 bytes")
        self._aead = AESGCM(kek)
        self.kek_id = hashlib.sha256(b"aftercare-kek-id:" + kek).hexdigest()[:16]

    def seal(self, purpose: str, context: str, plaintext: bytes) -> bytes:
        """Encrypt a blob that is not a case field (e.g. a stored response) under the KEK."""
        nonce = os.urandom(12)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, _aad(purpose, context))

    def open(self, purpose: str, context: str, blob: bytes) -> bytes:
        if len(blob) < _MIN_BLOB or blob[:1] != VERSION:
            raise DecryptionFailed("unknown sealed-blob version")
        try:
            return self._aead.decrypt(blob[1:13], blob[13:], _aad(purpose, context))
        except InvalidTag as exc:
            raise DecryptionFailed("sealed blob does not authenticate") from exc

    def new_data_key(self, case_id: UUID) -> tuple[DataKey, bytes]:
        key = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(12)
        wrapped = VERSION + nonce + self._aead.encrypt(nonce, key, _aad("dek", case_id))
        return DataKey(case_id, key), wrapped

    def unwrap(self, case_id: UUID, wrapped: bytes) -> DataKey:
        if len(wrapped) < _MIN_BLOB or wrapped[:1] != VERSION:
            raise DecryptionFailed("unknown wrapped-key version")
        try:
            key = self._aead.decrypt(wrapped[1:13], wrapped[13:], _aad("dek", case_id))
        except InvalidTag as exc:
            raise DecryptionFailed("wrapped key does not authenticate") from exc
        return DataKey(case_id, key)


def load_kek(explicit: str | None, directory: Path, *, create: bool) -> bytes:
    """The KEK from ``AFTERCARE_KEK`` (base64), else ``<keys_dir>/kek``; created in development."""
    if explicit:
        return _decode(explicit.strip(), "AFTERCARE_KEK")
    path = directory / KEK_FILE
    if not path.exists():
        if not create:
            raise KekError(f"no key-encryption key: set AFTERCARE_KEK or provide {path}")
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(base64.b64encode(secrets.token_bytes(32)).decode() + "\n")
    return _decode(path.read_text().strip(), str(path))


def _decode(value: str, source: str) -> bytes:
    try:
        kek = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise KekError(f"{source} is not base64") from exc
    if len(kek) != 32:
        raise KekError(f"{source} must hold 32 bytes (base64)")
    return kek
