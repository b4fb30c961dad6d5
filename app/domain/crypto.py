"""Field-level encryption of survivor identity and free text (AES-256-GCM, envelope encryption).

Each case has its own 256-bit data key, stored only wrapped (AES-GCM) by the key-encryption key
(KEK) from the settings. Every identity field and every free-text field a partner (or the hub)
writes about a case is encrypted on its own with the case's data key and associated data naming
the table, the row id and the column (``aftercare:v1:<table>:<row id>:<column>``), so a ciphertext
copied into another row, table or column fails to decrypt. Destroying a case's wrapped data key
makes its identity and free text unrecoverable (crypto-shredding) while the rest of the case —
statuses, categories, timestamps — stays readable.

Several KEKs may be configured at once (the current one plus previous ones during a rotation);
each wrapped key names the KEK that wrapped it (``case_keys.kek_id``).

``external_ref`` also needs equality lookups: :meth:`KeyWrapper.blind_index` is a keyed HMAC over
(lead organisation, reference) with a key derived by HKDF from a separate, stable blind-index
secret — not from the KEK, so rotating the KEK never has to recompute the index (which would need
plaintext that erasure has destroyed).

Blob layout: ``version (1 byte) || nonce (12 bytes) || ciphertext+tag``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
KEK_FILE = "kek"
BLIND_INDEX_FILE = "blind_index_key"
_MIN_BLOB = 1 + 12 + 16  # version, nonce, GCM tag


class DecryptionFailed(Exception):
    """A ciphertext or wrapped key does not authenticate (wrong key, row or column)."""


class KekError(Exception):
    """The key-encryption key is missing or malformed."""


def _aad(*parts: object) -> bytes:
    """``aftercare:v1:<part>:<part>…``: what a ciphertext is bound to (its row and column)."""
    return ("aftercare:v1:" + ":".join(map(str, parts))).encode()


class DataKey:
    """One case's data key, unwrapped, for the duration of a request."""

    __slots__ = ("_aead", "case_id")

    def __init__(self, case_id: UUID, key: bytes) -> None:
        self.case_id = case_id
        self._aead = AESGCM(key)

    def _seal(self, aad: bytes, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, aad)

    def _open(self, aad: bytes, blob: bytes) -> bytes:
        if len(blob) < _MIN_BLOB or blob[:1] != VERSION:
            raise DecryptionFailed("unknown ciphertext version")
        try:
            return self._aead.decrypt(blob[1:13], blob[13:], aad)
        except InvalidTag as exc:
            raise DecryptionFailed("ciphertext does not authenticate") from exc

    # A column of the case row itself (AAD ``cases:<case id>:<column>``).
    def encrypt(self, column: str, plaintext: bytes) -> bytes:
        return self._seal(_aad("cases", self.case_id, column), plaintext)

    def decrypt(self, column: str, blob: bytes) -> bytes:
        return self._open(_aad("cases", self.case_id, column), blob)

    def encrypt_json(self, column: str, value: Any) -> bytes | None:
        return None if value is None else self.encrypt(column, orjson.dumps(value))

    def decrypt_json(self, column: str, blob: bytes | None) -> Any:
        return None if blob is None else orjson.loads(self.decrypt(column, blob))

    # A column of any row that belongs to the case (AAD ``<table>:<row id>:<column>``).
    def encrypt_field(self, table: str, row_id: object, column: str, value: Any) -> bytes | None:
        if value is None:
            return None
        return self._seal(_aad(table, row_id, column), orjson.dumps(value))

    def decrypt_field(self, table: str, row_id: object, column: str, blob: bytes | None) -> Any:
        if blob is None:
            return None
        aad = f"aftercare:v1:{table}:{row_id}:{column}".encode()  # _aad's, inline (hot)
        return orjson.loads(self._open(aad, bytes(blob)))


def kek_id_of(kek: bytes) -> str:
    return hashlib.sha256(b"aftercare-kek-id:" + kek).hexdigest()[:16]


class KeyWrapper:
    """Wraps and unwraps data keys with the KEK.

    ``kek`` is the current KEK (everything new is wrapped or sealed with it); ``previous`` are
    older KEKs still accepted for unwrapping and opening while ``aftercare kek rotate`` re-wraps
    what they protect. ``index_secret`` keys the ``external_ref`` blind index.
    """

    def __init__(
        self,
        kek: bytes,
        previous: Iterable[bytes] = (),
        *,
        index_secret: bytes | None = None,
    ) -> None:
        if len(kek) != 32:
            raise KekError("the key-encryption key must be 32 bytes")
        self._aead = AESGCM(kek)
        self._kek = kek
        self.kek_id = kek_id_of(kek)
        self._by_id: dict[str, AESGCM] = {self.kek_id: self._aead}
        for old in previous:
            if len(old) != 32:
                raise KekError("a previous key-encryption key must be 32 bytes")
            self._by_id.setdefault(kek_id_of(old), AESGCM(old))
        self._index_key: bytes | None = None
        if index_secret is not None:
            if len(index_secret) != 32:
                raise KekError("the blind-index secret must be 32 bytes")
            self._index_key = HKDF(
                algorithm=hashes.SHA256(), length=32, salt=None, info=b"aftercare blind index v1"
            ).derive(index_secret)

    def current_only(self) -> KeyWrapper:
        """The same current KEK, without the previous ones (to verify a rotation)."""
        return KeyWrapper(self._kek)

    @property
    def kek_ids(self) -> tuple[str, ...]:
        """The current KEK's id first, then the previous ones."""
        return tuple(self._by_id)

    def seal(self, purpose: str, context: str, plaintext: bytes) -> bytes:
        """Encrypt a blob that is not a case field (e.g. a stored response) under the KEK."""
        nonce = os.urandom(12)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, _aad(purpose, context))

    def open(self, purpose: str, context: str, blob: bytes) -> bytes:
        """Open a sealed blob with the current KEK, else with a previous one."""
        if len(blob) < _MIN_BLOB or blob[:1] != VERSION:
            raise DecryptionFailed("unknown sealed-blob version")
        for aead in self._by_id.values():
            try:
                return aead.decrypt(blob[1:13], blob[13:], _aad(purpose, context))
            except InvalidTag:
                continue
        raise DecryptionFailed("sealed blob does not authenticate")

    def sealed_with_current(self, purpose: str, context: str, blob: bytes) -> bool:
        if len(blob) < _MIN_BLOB or blob[:1] != VERSION:
            return False
        try:
            self._aead.decrypt(blob[1:13], blob[13:], _aad(purpose, context))
        except InvalidTag:
            return False
        return True

    def new_data_key(self, case_id: UUID) -> tuple[DataKey, bytes]:
        key = AESGCM.generate_key(bit_length=256)
        return DataKey(case_id, key), self._wrap(case_id, key)

    def _wrap(self, case_id: UUID, key: bytes) -> bytes:
        nonce = os.urandom(12)
        return VERSION + nonce + self._aead.encrypt(nonce, key, _aad("dek", case_id))

    def _unwrap_raw(self, case_id: UUID, wrapped: bytes, kek_id: str | None) -> bytes:
        if len(wrapped) < _MIN_BLOB or wrapped[:1] != VERSION:
            raise DecryptionFailed("unknown wrapped-key version")
        if kek_id is None:
            candidates = list(self._by_id.values())
        elif kek_id in self._by_id:
            candidates = [self._by_id[kek_id]]
        else:
            raise DecryptionFailed(f"wrapped under KEK {kek_id}, which is not configured")
        for aead in candidates:
            try:
                return aead.decrypt(wrapped[1:13], wrapped[13:], _aad("dek", case_id))
            except InvalidTag:
                continue
        raise DecryptionFailed("wrapped key does not authenticate")

    def unwrap(self, case_id: UUID, wrapped: bytes, kek_id: str | None = None) -> DataKey:
        """The case's data key; ``kek_id`` (from ``case_keys``) picks the KEK, else each
        configured KEK is tried."""
        return DataKey(case_id, self._unwrap_raw(case_id, bytes(wrapped), kek_id))

    def rewrap(self, case_id: UUID, wrapped: bytes, kek_id: str | None) -> bytes:
        """The same data key, wrapped with the current KEK."""
        return self._wrap(case_id, self._unwrap_raw(case_id, bytes(wrapped), kek_id))

    def blind_index(self, lead_org_id: UUID, external_ref: str) -> bytes:
        """HMAC-SHA256 over (lead organisation, reference): equal inputs give equal digests, so
        the database can look a reference up and keep it unique per lead without holding it."""
        if self._index_key is None:
            raise KekError("no blind-index secret configured")
        message = lead_org_id.bytes + external_ref.encode()
        return hmac.new(self._index_key, message, hashlib.sha256).digest()


def load_kek(explicit: str | None, directory: Path, *, create: bool) -> bytes:
    """The KEK from ``AFTERCARE_KEK`` (base64), else ``<keys_dir>/kek``; created in development."""
    return load_secret(
        explicit, directory, KEK_FILE, "AFTERCARE_KEK", "key-encryption key", create=create
    )


def load_index_secret(explicit: str | None, directory: Path, *, create: bool) -> bytes:
    """The blind-index secret from ``AFTERCARE_BLIND_INDEX_KEY`` (base64), else
    ``<keys_dir>/blind_index_key``; created in development. It never rotates."""
    return load_secret(
        explicit,
        directory,
        BLIND_INDEX_FILE,
        "AFTERCARE_BLIND_INDEX_KEY",
        "blind-index secret",
        create=create,
    )


def load_previous_keks(explicit: str | None) -> list[bytes]:
    """``AFTERCARE_KEK_PREVIOUS``: comma-separated base64 KEKs still accepted during rotation."""
    if not explicit:
        return []
    return [_decode(part.strip(), "AFTERCARE_KEK_PREVIOUS") for part in explicit.split(",") if part]


def load_secret(
    explicit: str | None,
    directory: Path,
    filename: str,
    env_name: str,
    label: str,
    *,
    create: bool,
) -> bytes:
    if explicit:
        return _decode(explicit.strip(), env_name)
    path = directory / filename
    if not path.exists():
        if not create:
            raise KekError(f"no {label}: set {env_name} or provide {path}")
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
