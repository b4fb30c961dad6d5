"""Free-text encryption, several KEKs, re-wrapping and the external_ref blind index (pure)."""

from __future__ import annotations

import os
from uuid import UUID, uuid4

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.domain.crypto import DecryptionFailed, KekError, KeyWrapper
from app.domain.freetext import ERASED, CaseText

OLD_KEK = bytes(range(32))
NEW_KEK = bytes(range(1, 33))
INDEX_SECRET = bytes(range(2, 34))
CASE = UUID(int=0xC)
ROW = UUID(int=0x1)
LEAD = UUID(int=0x2)


def test_free_text_aad_binds_table_row_and_column() -> None:
    key, _ = KeyWrapper(OLD_KEK).new_data_key(CASE)
    blob = key.encrypt_field("referrals", ROW, "reason", "Nok lives at 4 Canal Rd")
    assert blob is not None and b"Canal" not in blob
    assert key.decrypt_field("referrals", ROW, "reason", blob) == "Nok lives at 4 Canal Rd"
    for table, row, column in (
        ("consents", ROW, "reason"),  # another table
        ("referrals", UUID(int=0x9), "reason"),  # another row
        ("referrals", ROW, "status_reason"),  # another column
    ):
        with pytest.raises(DecryptionFailed):
            key.decrypt_field(table, row, column, blob)
    other, _ = KeyWrapper(OLD_KEK).new_data_key(CASE)
    with pytest.raises(DecryptionFailed):
        other.decrypt_field("referrals", ROW, "reason", blob)


def test_the_aad_of_stored_ciphertexts_is_fixed() -> None:
    """Ciphertexts at rest are bound to ``aftercare:v1:<table>:<row id>:<column>`` (a wrapped
    data key to ``aftercare:v1:dek:<case id>``): blobs sealed by hand with those open, so a
    faster way of building them cannot strand stored data."""
    raw = bytes(range(5, 37))
    nonce = os.urandom(12)

    def sealed(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return b"\x01" + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)

    wrapped = sealed(OLD_KEK, raw, b"aftercare:v1:dek:00000000-0000-0000-0000-00000000000c")
    key = KeyWrapper(OLD_KEK).unwrap(CASE, wrapped)
    row = b"aftercare:v1:referrals:00000000-0000-0000-0000-000000000001:reason"
    assert key.decrypt_field("referrals", ROW, "reason", sealed(raw, b'"text"', row)) == "text"
    case = b"aftercare:v1:cases:00000000-0000-0000-0000-00000000000c:given_name"
    assert key.decrypt_json("given_name", sealed(raw, b'"Amina"', case)) == "Amina"


def test_case_columns_keep_the_identity_aad() -> None:
    """Identity fields written before free-text encryption still decrypt: a case column's AAD
    is the same whichever method wrote it."""
    key, _ = KeyWrapper(OLD_KEK).new_data_key(CASE)
    old_style = key.encrypt_json("given_name", "Amina")
    assert key.decrypt_field("cases", CASE, "given_name", old_style) == "Amina"
    assert key.decrypt_json("external_ref", key.encrypt_field("cases", CASE, "external_ref", "X"))


def test_text_under_a_destroyed_key_reads_as_erased_only_after_erasure() -> None:
    wrapper = KeyWrapper(OLD_KEK)
    old, _ = wrapper.new_data_key(CASE)
    new, _ = wrapper.new_data_key(CASE)
    summary = old.encrypt_field("case_updates", ROW, "summary", "names")
    details = old.encrypt_field("case_updates", ROW, "details", {"a": "b"})
    erased = CaseText(CASE, new, erased=True)
    assert erased.open("case_updates", ROW, "summary", summary) == ERASED
    assert erased.open("case_updates", ROW, "details", details) is None
    with pytest.raises(DecryptionFailed):  # not erased: a failure is tampering, not redaction
        CaseText(CASE, new, erased=False).open("case_updates", ROW, "summary", summary)


def test_several_keks_unwrap_by_kek_id_and_rewrap_to_the_current() -> None:
    old = KeyWrapper(OLD_KEK)
    key, wrapped = old.new_data_key(CASE)
    blob = key.encrypt_field("cases", CASE, "close_reason", "moved")
    rotating = KeyWrapper(NEW_KEK, [OLD_KEK])
    assert rotating.kek_ids == (rotating.kek_id, old.kek_id)
    assert (
        rotating.unwrap(CASE, wrapped, old.kek_id).decrypt_field(
            "cases", CASE, "close_reason", blob
        )
        == "moved"
    )
    rewrapped = rotating.rewrap(CASE, wrapped, old.kek_id)
    new_only = KeyWrapper(NEW_KEK)
    assert (
        new_only.unwrap(CASE, rewrapped, new_only.kek_id).decrypt_field(
            "cases", CASE, "close_reason", blob
        )
        == "moved"
    )
    with pytest.raises(DecryptionFailed, match="not configured"):
        new_only.unwrap(CASE, wrapped, old.kek_id)
    with pytest.raises(DecryptionFailed):
        new_only.unwrap(CASE, wrapped)
    with pytest.raises(DecryptionFailed):  # a wrapped key is bound to its case
        rotating.rewrap(UUID(int=0xD), wrapped, old.kek_id)


def test_sealed_blobs_open_with_a_previous_kek() -> None:
    sealed = KeyWrapper(OLD_KEK).seal("idempotency", "ctx", b"body")
    rotating = KeyWrapper(NEW_KEK, [OLD_KEK])
    assert rotating.open("idempotency", "ctx", sealed) == b"body"
    assert not rotating.sealed_with_current("idempotency", "ctx", sealed)
    assert rotating.sealed_with_current(
        "idempotency", "ctx", rotating.seal("idempotency", "ctx", b"x")
    )
    with pytest.raises(DecryptionFailed):
        KeyWrapper(NEW_KEK).open("idempotency", "ctx", sealed)


def test_blind_index_is_keyed_per_lead_and_independent_of_the_kek() -> None:
    a = KeyWrapper(OLD_KEK, index_secret=INDEX_SECRET)
    b = KeyWrapper(NEW_KEK, index_secret=INDEX_SECRET)
    digest = a.blind_index(LEAD, "HL-2026-0001")
    assert len(digest) == 32 and b"HL-2026" not in digest
    assert b.blind_index(LEAD, "HL-2026-0001") == digest  # survives a KEK rotation
    assert a.blind_index(uuid4(), "HL-2026-0001") != digest  # per lead organisation
    assert a.blind_index(LEAD, "HL-2026-0002") != digest
    other_secret = KeyWrapper(OLD_KEK, index_secret=bytes(32))
    assert other_secret.blind_index(LEAD, "HL-2026-0001") != digest
    with pytest.raises(KekError):
        KeyWrapper(OLD_KEK).blind_index(LEAD, "x")
    with pytest.raises(KekError):
        KeyWrapper(OLD_KEK, index_secret=bytes(16))
