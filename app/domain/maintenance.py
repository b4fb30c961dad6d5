"""Housekeeping: forget records whose purpose has expired."""

from __future__ import annotations

from app.db.database import Session
from app.db.repositories import clients as client_repo
from app.db.repositories import idempotency as idempotency_repo
from app.db.repositories import referrals as referral_repo


async def prune_expired(session: Session) -> dict[str, int]:
    """Revoked tokens past their expiry (they fail verification anyway), idempotency records
    past their retention window; and pending referrals past `respond_by` are stored as expired."""
    return {
        "revoked_tokens": await client_repo.prune_revoked(session),
        "idempotency_keys": await idempotency_repo.prune(session),
        "referrals_expired": await referral_repo.expire_due(session),
    }
