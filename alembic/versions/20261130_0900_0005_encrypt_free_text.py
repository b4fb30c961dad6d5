"""encrypt free text

Every free-text column moves to ``<column>_enc`` (AES-256-GCM under the case's data key, associated
data binding table, row id and column — app.domain.freetext); ``cases.external_ref`` also gets a
keyed blind index, ``external_ref_hash``, which takes over the (lead, external_ref) uniqueness.

The data step runs inside this migration, in Python: it needs the KEK and the blind-index secret,
which it takes from ``config.attributes["key_wrapper"]`` when the caller passes one (tests) and
otherwise from the settings (``AFTERCARE_KEK`` / ``<keys_dir>/kek``, ``AFTERCARE_BLIND_INDEX_KEY`` /
``<keys_dir>/blind_index_key``) — only when there are rows to convert, so an empty database
migrates without keys. Cases whose identity was erased earlier have no data key: they get a new
one (their free text was never covered by the erasure; erase again to shred it). The downgrade
decrypts back into plaintext columns (text whose key is gone becomes NULL, or '[erased]' where
the column is NOT NULL).

The rows it rewrites carry NULL in the plaintext columns before those are dropped, but older row
versions keep the plaintext on disk until VACUUM, and WAL and backups keep it until they age out:
run ``VACUUM FULL`` on the converted tables after upgrading a database that held cases.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from alembic import context, op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ERASED = "[erased]"
BATCH = 500

# table -> (column, NOT NULL, jsonb); cases are handled on their own.
COLUMNS: dict[str, list[tuple[str, bool, bool]]] = {
    "case_updates": [("summary", True, False), ("details", False, True)],
    "consents": [
        ("purpose", True, False),
        ("evidence_ref", False, False),
        ("revoke_reason", False, False),
    ],
    "referrals": [
        ("reason", True, False),
        ("status_reason", False, False),
        ("outcome", False, False),
    ],
    "legal_records": [("immigration_relief_type", False, False)],
    "home_reviews": [("notes", False, False)],
    "placements": [("authorization_ref", False, False)],
    "placement_visits": [("summary", True, False)],
}
ROW_ID = {"legal_records": "case_id"}


def _case_id_sql(table: str) -> str:
    if table == "placement_visits":
        return "(SELECT p.case_id FROM placements p WHERE p.id = t.placement_id)"
    return "t.case_id"


def _key_wrapper() -> Any:
    given = context.config.attributes.get("key_wrapper")
    if given is not None:
        return given
    from app.settings import Settings

    return Settings().key_wrapper()


class _Keys:
    """Each case's data key, unwrapped once (creating one for cases erased before 0005)."""

    def __init__(self, bind: sa.Connection) -> None:
        self.bind = bind
        self.wrapper = _key_wrapper()
        self.keys: dict[Any, Any] = {}

    def load(self, create_missing: bool) -> None:
        rows = self.bind.execute(
            sa.text(
                "SELECT c.id, k.wrapped_key, k.kek_id FROM cases c "
                "LEFT JOIN case_keys k ON k.case_id = c.id"
            )
        ).all()
        for case_id, wrapped, kek_id in rows:
            if wrapped is not None:
                self.keys[case_id] = self.wrapper.unwrap(case_id, bytes(wrapped), kek_id)
            elif create_missing:
                key, new_wrapped = self.wrapper.new_data_key(case_id)
                self.bind.execute(
                    sa.text(
                        "INSERT INTO case_keys (case_id, wrapped_key, kek_id) "
                        "VALUES (:case_id, :wrapped, :kek_id)"
                    ),
                    {"case_id": case_id, "wrapped": new_wrapped, "kek_id": self.wrapper.kek_id},
                )
                self.keys[case_id] = key


def _has_cases(bind: sa.Connection) -> bool:
    return bind.execute(sa.text("SELECT EXISTS (SELECT 1 FROM cases)")).scalar() is True


def _batches(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [rows[i : i + BATCH] for i in range(0, len(rows), BATCH)]


def upgrade() -> None:
    op.add_column("cases", sa.Column("external_ref_enc", sa.LargeBinary(), nullable=True))
    op.add_column("cases", sa.Column("external_ref_hash", sa.LargeBinary(), nullable=True))
    op.add_column("cases", sa.Column("close_reason_enc", sa.LargeBinary(), nullable=True))
    for table, columns in COLUMNS.items():
        for column, _, _ in columns:
            op.add_column(table, sa.Column(f"{column}_enc", sa.LargeBinary(), nullable=True))

    bind = op.get_bind()
    if _has_cases(bind):
        # The conversion also blanks the plaintext in the row versions it writes (DROP COLUMN
        # alone leaves the bytes in every tuple until the table is rewritten).
        op.alter_column("cases", "external_ref", nullable=True)
        for table, columns in COLUMNS.items():
            for column, required, _ in columns:
                if required:
                    op.alter_column(table, column, nullable=True)
        _encrypt_existing(bind)

    op.drop_constraint(op.f("uq_cases_lead_org_id_external_ref"), "cases", type_="unique")
    op.create_unique_constraint(
        op.f("uq_cases_lead_org_id_external_ref_hash"),
        "cases",
        ["lead_org_id", "external_ref_hash"],
    )
    op.drop_column("cases", "external_ref")
    op.drop_column("cases", "close_reason")
    for table, columns in COLUMNS.items():
        for column, required, _ in columns:
            if required:
                op.alter_column(table, f"{column}_enc", nullable=False)
            op.drop_column(table, column)


def _encrypt_existing(bind: sa.Connection) -> None:
    keys = _Keys(bind)
    keys.load(create_missing=True)
    wrapper = keys.wrapper
    updates = []
    for case_id, lead, external_ref, close_reason in bind.execute(
        sa.text("SELECT id, lead_org_id, external_ref, close_reason FROM cases")
    ).all():
        key = keys.keys[case_id]
        updates.append(
            {
                "id": case_id,
                "ref": key.encrypt_field("cases", case_id, "external_ref", external_ref),
                "hash": wrapper.blind_index(lead, external_ref),
                "close": key.encrypt_field("cases", case_id, "close_reason", close_reason),
            }
        )
    for batch in _batches(updates):
        bind.execute(
            sa.text(
                "UPDATE cases SET external_ref_enc = :ref, external_ref_hash = :hash, "
                "close_reason_enc = :close, external_ref = NULL, close_reason = NULL "
                "WHERE id = :id"
            ),
            batch,
        )
    for table, columns in COLUMNS.items():
        row_id = ROW_ID.get(table, "id")
        selected = ", ".join(
            f"t.{column}::text" if jsonb else f"t.{column}" for column, _, jsonb in columns
        )
        rows = bind.execute(
            sa.text(
                f"SELECT t.{row_id}, {_case_id_sql(table)}, {selected} FROM {table} t"  # noqa: S608
            )
        ).all()
        converted = []
        for rid, case_id, *values in rows:
            key = keys.keys[case_id]
            item: dict[str, Any] = {"rid": rid}
            for (column, _, jsonb), value in zip(columns, values, strict=True):
                plain = orjson.loads(value) if jsonb and value is not None else value
                item[column] = key.encrypt_field(table, rid, column, plain)
            converted.append(item)
        assignments = ", ".join(
            f"{column}_enc = :{column}, {column} = NULL" for column, _, _ in columns
        )
        for batch in _batches(converted):
            bind.execute(
                sa.text(f"UPDATE {table} SET {assignments} WHERE {row_id} = :rid"),  # noqa: S608
                batch,
            )


def downgrade() -> None:
    op.add_column("cases", sa.Column("external_ref", sa.Text(), nullable=True))
    op.add_column("cases", sa.Column("close_reason", sa.Text(), nullable=True))
    for table, columns in COLUMNS.items():
        for column, _, jsonb in columns:
            kind: Any = postgresql.JSONB() if jsonb else sa.Text()
            op.add_column(table, sa.Column(column, kind, nullable=True))

    bind = op.get_bind()
    if _has_cases(bind):
        _decrypt_existing(bind)

    op.drop_constraint(op.f("uq_cases_lead_org_id_external_ref_hash"), "cases", type_="unique")
    op.alter_column("cases", "external_ref", nullable=False)
    op.create_unique_constraint(
        op.f("uq_cases_lead_org_id_external_ref"), "cases", ["lead_org_id", "external_ref"]
    )
    for name in ("external_ref_enc", "external_ref_hash", "close_reason_enc"):
        op.drop_column("cases", name)
    for table, columns in COLUMNS.items():
        for column, required, _ in columns:
            if required:
                op.alter_column(table, column, nullable=False)
            op.drop_column(table, f"{column}_enc")


def _open(key: Any, table: str, rid: Any, column: str, blob: Any) -> Any:
    from app.domain.crypto import DecryptionFailed

    if blob is None or key is None:
        return None
    try:
        return key.decrypt_field(table, rid, column, bytes(blob))
    except DecryptionFailed:  # written under a key that erasure destroyed
        return None


def _decrypt_existing(bind: sa.Connection) -> None:
    keys = _Keys(bind)
    keys.load(create_missing=False)
    updates = []
    for case_id, reference, ref_enc, close_enc in bind.execute(
        sa.text("SELECT id, reference, external_ref_enc, close_reason_enc FROM cases")
    ).all():
        key = keys.keys.get(case_id)
        ref = _open(key, "cases", case_id, "external_ref", ref_enc)
        updates.append(
            {
                "id": case_id,
                "ref": ref if ref is not None else reference,
                "close": _open(key, "cases", case_id, "close_reason", close_enc),
            }
        )
    for batch in _batches(updates):
        bind.execute(
            sa.text("UPDATE cases SET external_ref = :ref, close_reason = :close WHERE id = :id"),
            batch,
        )
    for table, columns in COLUMNS.items():
        row_id = ROW_ID.get(table, "id")
        selected = ", ".join(f"t.{column}_enc" for column, _, _ in columns)
        rows = bind.execute(
            sa.text(
                f"SELECT t.{row_id}, {_case_id_sql(table)}, {selected} FROM {table} t"  # noqa: S608
            )
        ).all()
        converted = []
        for rid, case_id, *blobs in rows:
            key = keys.keys.get(case_id)
            item: dict[str, Any] = {"rid": rid}
            for (column, required, jsonb), blob in zip(columns, blobs, strict=True):
                plain = _open(key, table, rid, column, blob)
                if plain is None and required:
                    plain = ERASED
                item[column] = (
                    orjson.dumps(plain).decode() if jsonb and plain is not None else plain
                )
            converted.append(item)
        assignments = ", ".join(
            f"{column} = CAST(:{column} AS jsonb)" if jsonb else f"{column} = :{column}"
            for column, _, jsonb in columns
        )
        for batch in _batches(converted):
            bind.execute(
                sa.text(f"UPDATE {table} SET {assignments} WHERE {row_id} = :rid"),  # noqa: S608
                batch,
            )
