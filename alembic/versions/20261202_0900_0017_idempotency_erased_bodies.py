"""idempotency_keys: a stored response can be erased and its key kept

Erasing a survivor's identity used to delete the stored responses of creates in the case, so a
retry with the same key afterwards created the resource again (bringing back the erased text). The
key now stays, its body NULL: a retry is answered 409 `idempotency_response_erased`.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "idempotency_keys", "response_body", existing_type=sa.LargeBinary, nullable=True
    )


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_keys WHERE response_body IS NULL")
    op.alter_column(
        "idempotency_keys", "response_body", existing_type=sa.LargeBinary, nullable=False
    )
