"""Pure rules of app.domain.crypto: field encryption and loading the KEK — no database."""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from uuid import UUID

import pytest

from app.domain.crypto import DataKey, DecryptionFailed, KekError, KeyWrapper, load_kek
from tests.helpers import flip

KEK = bytes(range(32))
OTHER_KEK = bytes(range(1, 33))
CASE_A = UUID(int=0xA)
CASE_B = UUID(int=0xB)
SECRET = b"Amina Okafor"


def data_key(case_id: UUID = CASE_A) -> tuple[DataKey, bytes]:
    return KeyWrapper(KEK).new_data_key(case_id)


def test_round_trip() -> None:
    key, wrapped = data_key()
    blob = key.encrypt("given_name", SECRET)
    assert key.decrypt("given_name", blob) == SECRET
    # The unwrapped key decrypts what the original encrypted.
    again = KeyWrapper(KEK).unwrap(CASE_A, wrapped)
    assert again.case_id == CASE_A
    assert again.decrypt("given_name", blob) == SECRET


def test_round_trip_empty_and_large() -> None:
    key, _ = data_key()
    for plaintext in (b"", b"\x00" * 100_000):
        assert key.decrypt("contact", key.encrypt("contact", plaintext)) == plaintext


def test_json_round_trip() -> None:
    key, _ = data_key()
    value = {"phone": "+234 800 000 0000", "aliases": ["A", "Ä"], "n": 3}
    blob = key.encrypt_json("contact", value)
    assert blob is not None
    assert key.decrypt_json("contact", blob) == value
    assert key.encrypt_json("contact", None) is None
    assert key.decrypt_json("contact", None) is None


def test_blob_layout() -> None:
    key, wrapped = data_key()
    blob = key.encrypt("given_name", SECRET)
    assert blob[:1] == b"\x01"
    assert len(blob) == 1 + 12 + len(SECRET) + 16
    assert wrapped[:1] == b"\x01"
    assert len(wrapped) == 1 + 12 + 32 + 16


def test_ciphertext_differs_each_time() -> None:
    key, _ = data_key()
    blobs = {key.encrypt("given_name", SECRET) for _ in range(20)}
    assert len(blobs) == 20
    assert len({b[1:13] for b in blobs}) == 20  # a fresh nonce every time


def test_wrapping_differs_each_time() -> None:
    wrapper = KeyWrapper(KEK)
    wrapped = {wrapper.new_data_key(CASE_A)[1] for _ in range(10)}
    assert len(wrapped) == 10


def test_plaintext_not_in_ciphertext() -> None:
    key, _ = data_key()
    blob = key.encrypt("given_name", SECRET)
    assert SECRET not in blob
    assert b"Amina" not in blob
    json_blob = key.encrypt_json("aliases", ["Amina"])
    assert json_blob is not None
    assert b"Amina" not in json_blob


def test_ciphertext_moved_to_another_column_fails() -> None:
    key, _ = data_key()
    blob = key.encrypt("given_name", SECRET)
    with pytest.raises(DecryptionFailed):
        key.decrypt("family_name", blob)


def test_ciphertext_moved_to_another_case_fails_even_with_the_same_key() -> None:
    raw = bytes(32)
    blob = DataKey(CASE_A, raw).encrypt("given_name", SECRET)
    assert DataKey(CASE_A, raw).decrypt("given_name", blob) == SECRET
    with pytest.raises(DecryptionFailed):
        DataKey(CASE_B, raw).decrypt("given_name", blob)


def test_ciphertext_moved_to_another_case_fails() -> None:
    key_a, _ = data_key(CASE_A)
    key_b, _ = data_key(CASE_B)
    blob = key_a.encrypt("given_name", SECRET)
    with pytest.raises(DecryptionFailed):
        key_b.decrypt("given_name", blob)


def test_wrapped_key_is_bound_to_its_case() -> None:
    _, wrapped = data_key(CASE_A)
    with pytest.raises(DecryptionFailed):
        KeyWrapper(KEK).unwrap(CASE_B, wrapped)


def test_wrong_kek_fails() -> None:
    _, wrapped = data_key(CASE_A)
    with pytest.raises(DecryptionFailed):
        KeyWrapper(OTHER_KEK).unwrap(CASE_A, wrapped)


def test_kek_id_identifies_the_kek_without_revealing_it() -> None:
    assert KeyWrapper(KEK).kek_id == KeyWrapper(KEK).kek_id
    assert KeyWrapper(KEK).kek_id != KeyWrapper(OTHER_KEK).kek_id
    assert KEK.hex()[:16] != KeyWrapper(KEK).kek_id


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_key_wrapper_needs_32_bytes(length: int) -> None:
    with pytest.raises(KekError):
        KeyWrapper(b"k" * length)


@pytest.mark.parametrize(
    "index", [0, 1, 12, 13, 13 + len(SECRET) - 1, -16, -1], ids=lambda i: f"byte{i}"
)
def test_tampered_ciphertext_fails(index: int) -> None:
    key, _ = data_key()
    blob = key.encrypt("given_name", SECRET)
    with pytest.raises(DecryptionFailed):
        key.decrypt("given_name", flip(blob, index))


@pytest.mark.parametrize("index", [0, 1, 12, 13, 44, -1], ids=lambda i: f"byte{i}")
def test_tampered_wrapped_key_fails(index: int) -> None:
    _, wrapped = data_key()
    with pytest.raises(DecryptionFailed):
        KeyWrapper(KEK).unwrap(CASE_A, flip(wrapped, index))


@pytest.mark.parametrize("length", [0, 9, 12, 13, 28])
def test_truncated_ciphertext_fails(length: int) -> None:
    key, _ = data_key()
    blob = key.encrypt("given_name", SECRET)
    with pytest.raises(DecryptionFailed):
        key.decrypt("given_name", blob[:length])


@pytest.mark.parametrize("length", [1, 5, 8])
def test_very_short_ciphertext_fails_with_decryption_failed(length: int) -> None:
    key, _ = data_key()
    blob = key.encrypt("given_name", SECRET)
    with pytest.raises(DecryptionFailed):
        key.decrypt("given_name", blob[:length])


@pytest.mark.parametrize("length", [1, 5, 8])
def test_very_short_wrapped_key_fails_with_decryption_failed(length: int) -> None:
    _, wrapped = data_key()
    with pytest.raises(DecryptionFailed):
        KeyWrapper(KEK).unwrap(CASE_A, wrapped[:length])


@pytest.mark.parametrize("length", [0, 9, 12, 13, 44, 60])
def test_truncated_wrapped_key_fails(length: int) -> None:
    _, wrapped = data_key()
    with pytest.raises(DecryptionFailed):
        KeyWrapper(KEK).unwrap(CASE_A, wrapped[:length])


def test_unknown_version_fails() -> None:
    key, wrapped = data_key()
    blob = key.encrypt("given_name", SECRET)
    with pytest.raises(DecryptionFailed, match="version"):
        key.decrypt("given_name", b"\x02" + blob[1:])
    with pytest.raises(DecryptionFailed, match="version"):
        KeyWrapper(KEK).unwrap(CASE_A, b"\x02" + wrapped[1:])


# --- load_kek --------------------------------------------------------------------------------


def test_load_kek_creates_a_private_file(tmp_path: Path) -> None:
    directory = tmp_path / "keys" / "nested"
    kek = load_kek(None, directory, create=True)
    path = directory / "kek"
    assert len(kek) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert base64.b64decode(path.read_text().strip()) == kek
    # Loading again (with or without create) returns the same key; nothing is regenerated.
    assert load_kek(None, directory, create=True) == kek
    assert load_kek(None, directory, create=False) == kek
    KeyWrapper(kek)  # usable as a KEK


def test_load_kek_creates_different_keys_in_different_places(tmp_path: Path) -> None:
    first = load_kek(None, tmp_path / "a", create=True)
    assert load_kek(None, tmp_path / "b", create=True) != first


def test_load_kek_missing_without_create(tmp_path: Path) -> None:
    with pytest.raises(KekError, match="AFTERCARE_KEK"):
        load_kek(None, tmp_path, create=False)
    assert not (tmp_path / "kek").exists()


def test_load_kek_empty_explicit_falls_back_to_the_file(tmp_path: Path) -> None:
    with pytest.raises(KekError):
        load_kek("", tmp_path, create=False)


def test_load_kek_explicit(tmp_path: Path) -> None:
    encoded = base64.b64encode(KEK).decode()
    assert load_kek(encoded, tmp_path, create=False) == KEK
    # Explicit wins over an existing file, and creates nothing.
    assert load_kek(encoded, tmp_path / "none", create=True) == KEK
    assert not (tmp_path / "none").exists()
    load_kek(None, tmp_path, create=True)
    assert load_kek(encoded, tmp_path, create=True) == KEK


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(base64.b64encode(bytes(16)).decode(), id="16_bytes"),
        pytest.param(base64.b64encode(bytes(31)).decode(), id="31_bytes"),
        pytest.param(base64.b64encode(bytes(33)).decode(), id="33_bytes"),
        pytest.param(base64.b64encode(bytes(64)).decode(), id="64_bytes"),
        pytest.param("not base64 at all!", id="not_base64"),
        pytest.param(base64.b64encode(bytes(32)).decode()[:-1], id="bad_padding"),
        pytest.param("é" * 44, id="non_ascii"),
        pytest.param(bytes(32).hex(), id="hex_64_chars"),
    ],
)
def test_load_kek_rejects_malformed_explicit(value: str, tmp_path: Path) -> None:
    with pytest.raises(KekError):
        load_kek(value, tmp_path, create=True)


def test_load_kek_rejects_malformed_file(tmp_path: Path) -> None:
    (tmp_path / "kek").write_text(base64.b64encode(bytes(16)).decode() + "\n")
    with pytest.raises(KekError):
        load_kek(None, tmp_path, create=True)
    (tmp_path / "kek").write_text("garbage!\n")
    with pytest.raises(KekError):
        load_kek(None, tmp_path, create=False)
