"""tokens: a notification whenever a client or a revocation changes

Each app process remembers, for a short while, that a token's client is enabled and the token not
revoked, instead of asking the database on every request. So that a revocation or a disabled
client still takes effect at once in every process, any change to `oauth_clients` or a new row in
`revoked_tokens` notifies channel `aftercare_tokens` (payload: the client id; `*` for a TRUNCATE of
either table) at commit, whatever made the change (the API, the CLI or an operator's SQL); each
process's listener then forgets what it remembered. A process uses its memo only where it finds
these triggers enabled (app.db.notify.REVOCATION_TRIGGERS_FIRE, asked each second).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION aftercare_tokens_changed() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_LEVEL = 'STATEMENT' THEN  -- TRUNCATE: no rows, every client may have changed
                PERFORM pg_notify('aftercare_tokens', '*');
            ELSIF TG_OP = 'DELETE' THEN
                PERFORM pg_notify('aftercare_tokens', OLD.client_id);
            ELSE
                PERFORM pg_notify('aftercare_tokens', NEW.client_id);
            END IF;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER oauth_clients_tokens_changed
        AFTER UPDATE OR DELETE ON oauth_clients
        FOR EACH ROW EXECUTE FUNCTION aftercare_tokens_changed()
        """
    )
    for table in ("oauth_clients", "revoked_tokens"):
        op.execute(
            f"""
            CREATE TRIGGER {table}_truncated AFTER TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION aftercare_tokens_changed()
            """
        )
    op.execute(
        """
        CREATE TRIGGER revoked_tokens_tokens_changed
        AFTER INSERT ON revoked_tokens
        FOR EACH ROW EXECUTE FUNCTION aftercare_tokens_changed()
        """
    )


def downgrade() -> None:
    for table in ("oauth_clients", "revoked_tokens"):
        op.execute(f"DROP TRIGGER {table}_truncated ON {table}")
    op.execute("DROP TRIGGER revoked_tokens_tokens_changed ON revoked_tokens")
    op.execute("DROP TRIGGER oauth_clients_tokens_changed ON oauth_clients")
    op.execute("DROP FUNCTION aftercare_tokens_changed()")
