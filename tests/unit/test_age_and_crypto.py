"""Pure rules of intake, consent, field encryption and the audit chain — no database."""

from __future__ import annotations

import base64
import hashlib
import re
import stat
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from app.domain.age import age_band, age_on, is_minor
from app.domain.audit import canonical_entry, chain_hash
from app.domain.cases import Identity, check_minor_rules, derive_age, new_reference
from app.domain.consents import ConsentInput, check_consent
from app.domain.crypto import DataKey, DecryptionFailed, KekError, KeyWrapper, load_kek
from app.domain.errors import ValidationFailed
from app.domain.vocabulary import AgeBand, Category, Granter

TODAY = date(2026, 3, 15)
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def error_locs(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[list[Any]]:
    """The locations as REST reports them: the field path under its root (``where``)."""
    return [[exc.value.where, *e["loc"]] for e in exc.value.extra["errors"]]


# --- age ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "dob", "age"),
    [
        pytest.param(date(2026, 3, 15), date(2008, 3, 15), 18, id="18th_birthday_today"),
        pytest.param(date(2026, 3, 14), date(2008, 3, 15), 17, id="18th_birthday_tomorrow"),
        pytest.param(date(2026, 3, 16), date(2008, 3, 15), 18, id="18th_birthday_yesterday"),
        pytest.param(date(2026, 2, 15), date(2008, 3, 15), 17, id="month_before"),
        pytest.param(date(2026, 4, 14), date(2008, 3, 15), 18, id="month_after_day_before"),
        pytest.param(date(2026, 3, 15), date(2026, 3, 15), 0, id="born_today"),
        pytest.param(date(2026, 12, 31), date(2026, 1, 1), 0, id="end_of_first_year"),
        pytest.param(date(2027, 1, 1), date(2026, 1, 1), 1, id="first_birthday"),
        pytest.param(date(2026, 1, 1), date(2025, 12, 31), 0, id="one_day_old_new_year"),
        # Leap-day birthdays: in a common year the birthday is reached on 1 March.
        pytest.param(date(2026, 2, 28), date(2008, 2, 29), 17, id="leap_born_feb28_common"),
        pytest.param(date(2026, 3, 1), date(2008, 2, 29), 18, id="leap_born_mar1_common"),
        pytest.param(date(2028, 2, 28), date(2008, 2, 29), 19, id="leap_born_feb28_leap"),
        pytest.param(date(2028, 2, 29), date(2008, 2, 29), 20, id="leap_born_feb29_leap"),
    ],
)
def test_age_on_date_of_birth(day: date, dob: date, age: int) -> None:
    assert age_on(day, date_of_birth=dob, birth_year=None) == age


@pytest.mark.parametrize(
    ("day", "year", "age"),
    [
        # Someone born in 2008 is 17 or 18 on 2026-03-15: the younger age is assumed.
        pytest.param(date(2026, 3, 15), 2008, 17, id="mid_year"),
        pytest.param(date(2026, 1, 1), 2008, 17, id="new_year"),
        pytest.param(date(2026, 6, 30), 2007, 18, id="older"),
        pytest.param(date(2026, 3, 15), 2026, 0, id="born_this_year_not_negative"),
        pytest.param(date(2026, 3, 15), 2025, 0, id="born_last_year"),
        pytest.param(date(2026, 3, 15), 1950, 75, id="old"),
    ],
)
def test_age_on_estimated_year_assumes_the_younger_age(day: date, year: int, age: int) -> None:
    assert age_on(day, date_of_birth=None, birth_year=year) == age


def test_estimated_year_is_never_older_than_any_real_birthday_in_that_year() -> None:
    day = date(2026, 3, 15)
    youngest_possible = min(
        age_on(day, date_of_birth=date(2008, 1, 1) + timedelta(days=n), birth_year=None)
        for n in range(366)
        if (date(2008, 1, 1) + timedelta(days=n)).year == 2008
    )
    assert age_on(day, date_of_birth=None, birth_year=2008) == youngest_possible == 17
    assert is_minor(age_on(day, date_of_birth=None, birth_year=2008))


def test_age_on_needs_something() -> None:
    with pytest.raises(ValueError, match="date of birth"):
        age_on(TODAY, date_of_birth=None, birth_year=None)


@pytest.mark.parametrize(("age", "minor"), [(0, True), (17, True), (18, False), (19, False)])
def test_is_minor_boundary(age: int, minor: bool) -> None:
    assert is_minor(age) is minor


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (0, AgeBand.UNDER_12),
        (11, AgeBand.UNDER_12),
        (12, AgeBand.FROM_12),
        (14, AgeBand.FROM_12),
        (15, AgeBand.FROM_15),
        (17, AgeBand.FROM_15),
        (18, AgeBand.FROM_18),
        (24, AgeBand.FROM_18),
        (25, AgeBand.FROM_25),
        (34, AgeBand.FROM_25),
        (35, AgeBand.FROM_35),
        (49, AgeBand.FROM_35),
        (50, AgeBand.FROM_50),
        (120, AgeBand.FROM_50),
    ],
)
def test_age_band_boundaries(age: int, band: AgeBand) -> None:
    assert age_band(age) is band


def test_age_bands_are_the_published_strings() -> None:
    assert [str(b) for b in AgeBand] == [
        "0-11",
        "12-14",
        "15-17",
        "18-24",
        "25-34",
        "35-49",
        "50+",
    ]


def test_every_minor_band_is_below_18_and_every_adult_band_at_or_above() -> None:
    minor_bands = {AgeBand.UNDER_12, AgeBand.FROM_12, AgeBand.FROM_15}
    for years in range(0, 100):
        assert (age_band(years) in minor_bands) is is_minor(years)


# --- derive_age and minors' rules ----------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "minor", "band"),
    [
        (Identity(date_of_birth=date(2008, 3, 15)), False, "18-24"),
        (Identity(date_of_birth=date(2008, 3, 16)), True, "15-17"),
        (Identity(date_of_birth=TODAY), True, "0-11"),
        (Identity(estimated_birth_year=2008), True, "15-17"),
        (Identity(estimated_birth_year=2007), False, "18-24"),
        (Identity(estimated_birth_year=TODAY.year), True, "0-11"),
        (Identity(estimated_birth_year=1900), False, "50+"),
        (Identity(date_of_birth=date(1976, 3, 15)), False, "50+"),
        (Identity(date_of_birth=date(1976, 3, 16)), False, "35-49"),
    ],
)
def test_derive_age(identity: Identity, minor: bool, band: str) -> None:
    assert derive_age(identity, TODAY) == (minor, band)


@pytest.mark.parametrize(
    ("identity", "loc"),
    [
        pytest.param(
            Identity(date_of_birth=date(2000, 1, 1), estimated_birth_year=2000),
            ["body", "survivor", "date_of_birth"],
            id="both",
        ),
        pytest.param(Identity(), ["body", "survivor", "date_of_birth"], id="neither"),
        pytest.param(
            Identity(date_of_birth=TODAY + timedelta(days=1)),
            ["body", "survivor", "date_of_birth"],
            id="future_dob",
        ),
        pytest.param(
            Identity(estimated_birth_year=TODAY.year + 1),
            ["body", "survivor", "estimated_birth_year"],
            id="future_year",
        ),
        pytest.param(
            Identity(date_of_birth=date(1850, 6, 1)),
            ["body", "survivor", "date_of_birth"],
            id="dob_too_early",
        ),
        pytest.param(
            Identity(estimated_birth_year=1899),
            ["body", "survivor", "estimated_birth_year"],
            id="year_too_early",
        ),
        pytest.param(
            Identity(estimated_birth_year=0),
            ["body", "survivor", "estimated_birth_year"],
            id="year_zero",
        ),
        pytest.param(
            Identity(estimated_birth_year=-5),
            ["body", "survivor", "estimated_birth_year"],
            id="year_negative",
        ),
    ],
)
def test_derive_age_errors(identity: Identity, loc: list[str]) -> None:
    with pytest.raises(ValidationFailed) as exc:
        derive_age(identity, TODAY)
    assert error_locs(exc) == [loc]
    assert exc.value.status == 422
    assert exc.value.code == "validation_error"


def test_derive_age_errors_carry_no_survivor_data() -> None:
    with pytest.raises(ValidationFailed) as exc:
        derive_age(Identity(given_name="Amina", date_of_birth=date(2099, 5, 6)), TODAY)
    text = repr(exc.value.extra) + exc.value.detail
    assert "Amina" not in text
    assert "2099" not in text


@pytest.mark.parametrize(
    ("minor", "guardian", "ok"),
    [
        (True, None, False),
        (True, {}, False),
        (True, {"name": "Guardian", "relationship": "aunt"}, True),
        (False, None, True),
        (False, {}, True),
        (False, {"name": "Guardian"}, True),
    ],
)
def test_check_minor_rules(minor: bool, guardian: dict[str, Any] | None, ok: bool) -> None:
    if ok:
        check_minor_rules(minor, guardian)
    else:
        with pytest.raises(ValidationFailed) as exc:
            check_minor_rules(minor, guardian)
        assert error_locs(exc) == [["body", "guardian"]]


REFERENCE = re.compile(r"^AC-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def test_new_reference_format() -> None:
    refs = [new_reference() for _ in range(500)]
    for ref in refs:
        assert REFERENCE.fullmatch(ref), ref
        assert not set(ref[3:]) & set("ILOU")
    # 40 bits of randomness: 500 draws do not collide, and they use more than a handful of symbols.
    assert len(set(refs)) == len(refs)
    assert len({ch for ref in refs for ch in ref[3:] if ch != "-"}) > 25


# --- consent rules ---------------------------------------------------------------------------


def consent_input(**overrides: Any) -> ConsentInput:
    values: dict[str, Any] = {
        "granted_by": [Granter.SURVIVOR],
        "categories": [Category.MEDICAL],
        "purpose": "treatment",
        "obtained_at": NOW - timedelta(hours=1),
        "recipient_org_id": UUID(int=7),
        "recipient_kinds": None,
        "expires_at": None,
    }
    values.update(overrides)
    return ConsentInput(**values)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="org"),
        pytest.param(
            {"recipient_org_id": None, "recipient_kinds": ["medical_provider"]}, id="kinds"
        ),
        pytest.param({"recipient_kinds": []}, id="org_with_empty_kinds"),
        pytest.param({"obtained_at": NOW}, id="obtained_now"),
        pytest.param({"obtained_at": NOW + timedelta(minutes=5)}, id="obtained_at_skew_limit"),
        pytest.param({"obtained_at": NOW - timedelta(days=400)}, id="obtained_long_ago"),
        pytest.param(
            {"expires_at": NOW - timedelta(hours=1) + timedelta(microseconds=1)},
            id="expires_just_after_obtained",
        ),
        pytest.param({"expires_at": NOW + timedelta(days=365)}, id="expires_next_year"),
    ],
)
def test_check_consent_accepts(overrides: dict[str, Any]) -> None:
    check_consent(consent_input(**overrides), is_minor=False, now=NOW)


@pytest.mark.parametrize(
    ("overrides", "is_minor", "loc"),
    [
        pytest.param(
            {"recipient_kinds": ["medical_provider"]},
            False,
            ["body", "recipient_org_id"],
            id="both_recipient_forms",
        ),
        pytest.param(
            {"recipient_org_id": None}, False, ["body", "recipient_org_id"], id="no_recipient"
        ),
        pytest.param(
            {"recipient_org_id": None, "recipient_kinds": []},
            False,
            ["body", "recipient_org_id"],
            id="empty_kinds_only",
        ),
        pytest.param({}, True, ["body", "granted_by"], id="minor_survivor_only"),
        pytest.param({"granted_by": []}, True, ["body", "granted_by"], id="minor_nobody_granted"),
        pytest.param(
            {"obtained_at": NOW + timedelta(minutes=5, microseconds=1)},
            False,
            ["body", "obtained_at"],
            id="obtained_beyond_skew",
        ),
        pytest.param(
            {"obtained_at": NOW + timedelta(days=1)},
            False,
            ["body", "obtained_at"],
            id="obtained_tomorrow",
        ),
        pytest.param(
            {"expires_at": NOW - timedelta(hours=1)},
            False,
            ["body", "expires_at"],
            id="expires_at_obtained",
        ),
        pytest.param(
            {"expires_at": NOW - timedelta(days=2)},
            False,
            ["body", "expires_at"],
            id="expires_before_obtained",
        ),
    ],
)
def test_check_consent_rejects(overrides: dict[str, Any], is_minor: bool, loc: list[str]) -> None:
    with pytest.raises(ValidationFailed) as exc:
        check_consent(consent_input(**overrides), is_minor=is_minor, now=NOW)
    assert error_locs(exc) == [loc]


@pytest.mark.parametrize(
    "granted_by",
    [
        [Granter.GUARDIAN],
        [Granter.SURVIVOR, Granter.GUARDIAN],
        [Granter.GUARDIAN, Granter.SURVIVOR],
    ],
)
def test_check_consent_minor_with_guardian(granted_by: list[Granter]) -> None:
    check_consent(consent_input(granted_by=granted_by), is_minor=True, now=NOW)


def test_check_consent_adult_without_guardian() -> None:
    check_consent(consent_input(granted_by=[Granter.SURVIVOR]), is_minor=False, now=NOW)


# --- field encryption --------------------------------------------------------------------------

KEK = bytes(range(32))
OTHER_KEK = bytes(range(1, 33))
CASE_A = UUID(int=0xA)
CASE_B = UUID(int=0xB)
SECRET = b"Amina Okafor"


def data_key(case_id: UUID = CASE_A) -> tuple[DataKey, bytes]:
    return KeyWrapper(KEK).new_data_key(case_id)


def flip(blob: bytes, index: int) -> bytes:
    out = bytearray(blob)
    out[index] ^= 0x01
    return bytes(out)


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


# --- audit chain -----------------------------------------------------------------------------

ENTRY: dict[str, Any] = {
    "org_id": UUID(int=1),
    "occurred_at": datetime(2026, 3, 15, 12, 0, 0, 123456, tzinfo=UTC),
    "client_id": "client-1",
    "jti": UUID(int=2),
    "request_id": "req-1",
    "action": "case.read",
    "case_ids": [UUID(int=3), UUID(int=4)],
    "categories": ["demographics", "identity"],
}

CHANGES: dict[str, list[Any]] = {
    "org_id": [UUID(int=9)],
    "occurred_at": [
        ENTRY["occurred_at"] + timedelta(microseconds=1),
        ENTRY["occurred_at"] + timedelta(hours=1),
    ],
    "client_id": ["client-2", ""],
    "jti": [None, UUID(int=5)],
    "request_id": [None, "req-2", ""],
    "action": ["case.update"],
    "case_ids": [[UUID(int=3)], [UUID(int=4), UUID(int=3)], []],
    "categories": [["demographics"], ["identity", "demographics"], []],
}


def test_canonical_entry_is_deterministic() -> None:
    first = canonical_entry(**ENTRY)
    assert canonical_entry(**dict(ENTRY)) == first
    assert canonical_entry(**{**ENTRY, "case_ids": tuple(ENTRY["case_ids"])}) == first
    assert isinstance(first, bytes)


def test_canonical_entry_normalises_the_time_zone() -> None:
    plus_two = ENTRY["occurred_at"].astimezone(timezone(timedelta(hours=2)))
    assert canonical_entry(**{**ENTRY, "occurred_at": plus_two}) == canonical_entry(**ENTRY)


@pytest.mark.parametrize(
    ("field", "value"),
    [(field, value) for field, values in CHANGES.items() for value in values],
    ids=[f"{field}{i}" for field, values in CHANGES.items() for i in range(len(values))],
)
def test_canonical_entry_changes_with_every_field(field: str, value: Any) -> None:
    assert canonical_entry(**{**ENTRY, field: value}) != canonical_entry(**ENTRY)


def test_canonical_entry_keeps_fields_apart() -> None:
    # Moving text from one field to the next must not give the same entry.
    a = canonical_entry(**{**ENTRY, "client_id": "ab", "request_id": "c"})
    b = canonical_entry(**{**ENTRY, "client_id": "a", "request_id": "bc"})
    assert a != b


def test_every_canonical_entry_in_the_table_is_distinct() -> None:
    entries = {canonical_entry(**ENTRY)}
    for field, values in CHANGES.items():
        for value in values:
            entries.add(canonical_entry(**{**ENTRY, field: value}))
    assert len(entries) == 1 + sum(len(v) for v in CHANGES.values())


def test_chain_hash_follows_the_documented_formula() -> None:
    entry = canonical_entry(**ENTRY)
    previous = bytes(32)
    expected = hashlib.sha256(previous + (7).to_bytes(8, "big") + entry).digest()
    assert chain_hash(previous, 7, entry) == expected
    assert len(expected) == 32


def test_chain_hash_is_deterministic_and_sensitive() -> None:
    entry = canonical_entry(**ENTRY)
    previous = hashlib.sha256(b"previous").digest()
    base = chain_hash(previous, 1, entry)
    assert chain_hash(previous, 1, entry) == base
    assert chain_hash(previous, 2, entry) != base
    assert chain_hash(previous, 0, entry) != base
    assert chain_hash(bytes(32), 1, entry) != base
    assert chain_hash(flip(previous, 31), 1, entry) != base
    assert chain_hash(previous, 1, canonical_entry(**{**ENTRY, "action": "x"})) != base
    assert chain_hash(previous, 1, entry + b" ") != base


def test_chain_links_depend_on_everything_before() -> None:
    entries = [canonical_entry(**{**ENTRY, "request_id": f"r{i}"}) for i in range(5)]

    def chain(items: list[bytes]) -> list[bytes]:
        out, previous = [], b""
        for seq, entry in enumerate(items, start=1):
            previous = chain_hash(previous, seq, entry)
            out.append(previous)
        return out

    honest = chain(entries)
    tampered = chain([entries[0], canonical_entry(**ENTRY), *entries[2:]])
    assert honest[0] == tampered[0]
    assert all(h != t for h, t in zip(honest[1:], tampered[1:], strict=True))
    assert chain(entries[::-1])[-1] != honest[-1]


def test_random_ids_do_not_break_canonical_entry() -> None:
    ids = [uuid4() for _ in range(3)]
    entry = canonical_entry(**{**ENTRY, "case_ids": ids, "jti": ids[0]})
    for case_id in ids:
        assert str(case_id).encode() in entry
