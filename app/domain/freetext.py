"""Free text about a case, encrypted at rest with the case's data key.

Partners write free text in many places (referral reasons, timeline summaries, consent purposes,
visit notes...), and nothing stops them from writing a name or an address there. So every such
column is stored only as ``<column>_enc``: AES-256-GCM under the case's data key, with associated
data naming the table, the row id and the column (see :mod:`app.domain.crypto`). Text the hub
writes itself (timeline events) is encrypted the same way.

Erasing a survivor's identity destroys the case's data key, and with it every free text written
before the erasure (crypto-shredding); a fresh key protects what is written afterwards. Text whose
key is gone reads as ``None`` — or :data:`ERASED` where the API promises a string — while the
de-identified history (statuses, categories, timestamps) stays.

Rows are the repositories' typed rows: frozen dataclasses whose ``<column>_enc`` fields hold the
ciphertext.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from app.db.database import Session
from app.domain.crypto import DataKey, DecryptionFailed, KeyWrapper

ERASED = "[erased]"

# Every free-text column, per table; True marks columns the API always returns as a string.
FREE_TEXT: dict[str, dict[str, bool]] = {
    "cases": {"external_ref": False, "close_reason": False},
    "case_updates": {"summary": True, "details": False},
    "consents": {"purpose": True, "evidence_ref": False, "revoke_reason": False},
    "referrals": {"reason": True, "status_reason": False, "outcome": False},
    "legal_records": {"immigration_relief_type": False},
    "home_reviews": {"notes": False},
    "placements": {"authorization_ref": False},
    "placement_visits": {"summary": True},
    "goals": {"title": True, "description": False},
    "goal_progress": {"note": False},
    "service_records": {"notes": False},
}
# The row id bound into the associated data (the primary key).
ROW_ID = {"legal_records": "case_id"}


class CaseText:
    """Seals and opens the free text of one case (one per case per unit of work)."""

    __slots__ = ("_key", "case_id", "erased")

    def __init__(self, case_id: UUID, key: DataKey | None, *, erased: bool) -> None:
        self.case_id = case_id
        self._key = key
        self.erased = erased

    @property
    def key(self) -> DataKey | None:
        return self._key

    def seal(self, table: str, row_id: object, column: str, value: Any) -> bytes | None:
        if value is None:
            return None
        if self._key is None:  # every case has a key since migration 0005
            raise DecryptionFailed("the case has no data key")
        return self._key.encrypt_field(table, row_id, column, value)

    def seal_all(self, table: str, row_id: object, **values: Any) -> dict[str, bytes | None]:
        """``{"<column>_enc": ciphertext}`` for the given plaintext columns."""
        return {f"{c}_enc": self.seal(table, row_id, c, v) for c, v in values.items()}

    def open(self, table: str, row_id: object, column: str, blob: bytes | None) -> Any:
        if blob is None:
            return None
        try:
            if self._key is None:
                raise DecryptionFailed("the case has no data key")
            return self._key.decrypt_field(table, row_id, column, blob)
        except DecryptionFailed:
            if not self.erased:
                raise  # tampering or a wrong key: not something to paper over
            return ERASED if FREE_TEXT[table][column] else None  # shredded with the old key

    def open_column(self, table: str, row: Any, column: str) -> Any:
        """The plaintext of the typed row's ``<column>_enc``."""
        return self.open(
            table,
            getattr(row, ROW_ID.get(table, "id")),
            column,
            getattr(row, f"{column}_enc"),
        )


def case_text(
    session: Session,
    key_wrapper: KeyWrapper,
    case_id: UUID,
    wrapped_key: bytes | None,
    kek_id: str | None,
    *,
    erased: bool,
) -> CaseText:
    """The case's :class:`CaseText`, unwrapping its data key at most once per session."""
    wrapped = bytes(wrapped_key) if wrapped_key is not None else None
    memo_key = ("case_text", case_id, wrapped)
    found = session.memo.get(memo_key)
    if isinstance(found, CaseText):
        return found
    key = key_wrapper.unwrap(case_id, wrapped, kek_id) if wrapped is not None else None
    text = CaseText(case_id, key, erased=erased)
    session.memo[memo_key] = text
    return text
