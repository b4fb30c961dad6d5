"""Migration 0005: plaintext free text written before it is encrypted, readable, and dumps clean.

The test database here starts at revision 0004 (not the migrated template): rows are inserted the
way the old code stored them, then the upgrade's data step has to convert them.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from app.db.database import Database
from app.db.migrations import downgrade, upgrade
from app.domain.crypto import KeyWrapper
from app.settings import Settings
from tests.api.test_at_rest import pg_dump
from tests.conftest import with_database
from tests.factories import Factory, case_body

PLAIN = {
    "external_ref": "Old-Plain-Extref-1",
    "close_reason": "Old plain close reason",
    "summary": "Old plain summary naming Somchai",
    "details": "Old plain details at 12 Soi Road",
    "purpose": "Old plain purpose",
    "evidence_ref": "Old plain evidence",
    "revoke_reason": "Old plain revoke reason",
    "reason": "Old plain referral reason",
    "status_reason": "Old plain decline reason",
    "relief_type": "Old plain relief type",
    "notes": "Old plain review notes",
    "authorization_ref": "Old plain court order",
    "visit": "Old plain visit summary",
    "erased_ref": "Old-Plain-Erased-Ref",
    "erased_summary": "Old plain text on an erased case",
}


@pytest.fixture
async def database_url(server_url: str, admin: asyncpg.Connection) -> AsyncIterator[str]:
    name = f"act_{os.getpid()}_m0005_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    await asyncio.to_thread(upgrade, url, "0004")
    yield url
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _insert_plaintext(
    conn: asyncpg.Connection, lead: uuid.UUID, clinic: uuid.UUID, key_wrapper: KeyWrapper
) -> tuple[uuid.UUID, uuid.UUID]:
    case_id, erased_id = uuid.uuid4(), uuid.uuid4()
    _, wrapped = key_wrapper.new_data_key(case_id)
    now = datetime.now(UTC)
    for cid, ref, status, reason, erased_at in (
        (case_id, PLAIN["external_ref"], "closed", PLAIN["close_reason"], None),
        (erased_id, PLAIN["erased_ref"], "open", None, now),
    ):
        await conn.execute(
            """
            INSERT INTO cases (id, reference, lead_org_id, external_ref, status, close_reason,
                               gender, is_minor, age_band, identity_erased_at)
            VALUES ($1, $2, $3, $4, $5, $6, 'female', false, '25-34', $7)
            """,
            cid,
            f"AC-{cid.hex[:4].upper()}-{cid.hex[4:8].upper()}",
            lead,
            ref,
            status,
            reason,
            erased_at,
        )
    # An erased case had its key destroyed: only the first case has one.
    await conn.execute(
        "INSERT INTO case_keys (case_id, wrapped_key, kek_id) VALUES ($1, $2, $3)",
        case_id,
        wrapped,
        key_wrapper.kek_id,
    )
    insert_update = """
        INSERT INTO case_updates (id, case_id, author_org_id, author_client_id, kind, category,
                                  occurred_at, summary, details)
        VALUES ($1, $2, $3, 'c', 'note', 'general', now(), $4, $5)
    """
    details = {"note": PLAIN["details"]}  # the pool's jsonb codec encodes it
    await conn.execute(insert_update, uuid.uuid4(), case_id, lead, PLAIN["summary"], details)
    await conn.execute(insert_update, uuid.uuid4(), erased_id, lead, PLAIN["erased_summary"], None)
    await conn.execute(
        """
        INSERT INTO consents (id, case_id, granted_by, recipient_org_id, categories, purpose,
                              obtained_at, evidence_ref, revoked_at, revoke_reason,
                              recorded_by_org_id)
        VALUES ($1, $2, '{survivor}', $3, '{medical}', $4, $5, $6, now(), $7, $8)
        """,
        uuid.uuid4(),
        case_id,
        clinic,
        PLAIN["purpose"],
        now - timedelta(days=1),
        PLAIN["evidence_ref"],
        PLAIN["revoke_reason"],
        lead,
    )
    await conn.execute(
        """
        INSERT INTO referrals (id, case_id, from_org_id, to_org_id, service, urgency, reason,
                               shared_categories, status, status_reason, created_by_client_id,
                               responded_at, ended_at)
        VALUES ($1, $2, $3, $4, 'medical', 'high', $5, '{demographics}', 'declined', $6, 'c',
                now(), now())
        """,
        uuid.uuid4(),
        case_id,
        lead,
        clinic,
        PLAIN["reason"],
        PLAIN["status_reason"],
    )
    await conn.execute(
        """
        INSERT INTO legal_records (case_id, immigration_relief_type, updated_by_org_id)
        VALUES ($1, $2, $3)
        """,
        case_id,
        PLAIN["relief_type"],
        lead,
    )
    review_id, placement_id = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        """
        INSERT INTO home_reviews (id, case_id, reviewer_org_id, reviewed_at, result, notes)
        VALUES ($1, $2, $3, now(), 'approved', $4)
        """,
        review_id,
        case_id,
        lead,
        PLAIN["notes"],
    )
    await conn.execute(
        """
        INSERT INTO placements (id, case_id, org_id, placed_by_org_id, setting, home_review_id,
                                started_at, ended_at, exit_reason, authorization_ref)
        VALUES ($1, $2, $3, $3, 'foster_family', $4, $5, now(), 'reunified_with_family', $6)
        """,
        placement_id,
        case_id,
        lead,
        review_id,
        now - timedelta(days=5),
        PLAIN["authorization_ref"],
    )
    await conn.execute(
        """
        INSERT INTO placement_visits (id, placement_id, visitor_org_id, visited_at, summary)
        VALUES ($1, $2, $3, $4, $5)
        """,
        uuid.uuid4(),
        placement_id,
        lead,
        now - timedelta(days=2),
        PLAIN["visit"],
    )
    return case_id, erased_id


async def test_migration_0005_encrypts_existing_plaintext_rows(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    database_url: str,
    settings: Settings,
) -> None:
    lead = await factory.partner(name="Harbor Shelter")
    clinic = await factory.partner(name="River Clinic", kind="medical_provider")
    key_wrapper = settings.key_wrapper()  # the keys the app under test uses
    async with database.pool.acquire() as conn:
        case_id, erased_id = await _insert_plaintext(conn, lead.org.id, clinic.org.id, key_wrapper)

    await asyncio.to_thread(upgrade, database_url, "head", key_wrapper)

    dump = await asyncio.to_thread(pg_dump, database.dsn)
    assert "INSERT INTO public.case_updates" in dump
    assert [k for k, v in PLAIN.items() if v in dump or v.encode().hex() in dump] == []

    url = f"/v1/cases/{case_id}"
    case = (await client.get(url, headers=lead.headers)).json()
    assert case["external_ref"] == PLAIN["external_ref"]
    assert case["close_reason"] == PLAIN["close_reason"]
    got = await client.get(f"{url}/updates", headers=lead.headers)
    assert got.status_code == 200, got.text
    updates = got.json()["items"]
    assert [(u["summary"], u["details"]) for u in updates] == [
        (PLAIN["summary"], {"note": PLAIN["details"]})
    ]
    consents = (await client.get(f"{url}/consents", headers=lead.headers)).json()["items"]
    assert [(c["purpose"], c["evidence_ref"], c["revoke_reason"]) for c in consents] == [
        (PLAIN["purpose"], PLAIN["evidence_ref"], PLAIN["revoke_reason"])
    ]
    referrals = (await client.get("/v1/referrals", headers=clinic.headers)).json()["items"]
    assert [(r["reason"], r["status_reason"]) for r in referrals] == [
        (PLAIN["reason"], PLAIN["status_reason"])
    ]
    legal = (await client.get(f"{url}/legal", headers=lead.headers)).json()
    assert legal["immigration_relief"]["type"] == PLAIN["relief_type"]
    placements = (await client.get(f"{url}/placements", headers=lead.headers)).json()["items"]
    assert [p["authorization_ref"] for p in placements] == [PLAIN["authorization_ref"]]
    # The case erased before 0005 got a key; its old free text was never covered by the erasure.
    erased = (await client.get(f"/v1/cases/{erased_id}/updates", headers=lead.headers)).json()
    assert [u["summary"] for u in erased["items"]] == [PLAIN["erased_summary"]]
    # Uniqueness now rides on the blind index.
    duplicate = await client.post(
        "/v1/cases", json=case_body(external_ref=PLAIN["external_ref"]), headers=lead.headers
    )
    assert duplicate.status_code == 409 and duplicate.json()["existing_id"] == str(case_id)

    # The downgrade decrypts back into the plaintext columns.
    await asyncio.to_thread(downgrade, database_url, "0004", key_wrapper)
    async with database.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT external_ref, close_reason FROM cases WHERE id = $1", case_id
        )
        assert (row["external_ref"], row["close_reason"]) == (
            PLAIN["external_ref"],
            PLAIN["close_reason"],
        )
        assert (
            await conn.fetchval("SELECT summary FROM case_updates WHERE case_id = $1", case_id)
            == PLAIN["summary"]
        )
        assert await conn.fetchval("SELECT summary FROM placement_visits") == PLAIN["visit"]
