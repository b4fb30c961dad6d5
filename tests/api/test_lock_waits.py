"""A case write that waits for the case row lock decides on what the holder left.

Every case write locks the case row first (`cases.load_for(lock=True)`). In READ COMMITTED a
`SELECT … FOR UPDATE` that waited rechecks only the row it locked: the data key it joins and the
policy's facts would still come from the snapshot taken before the wait. These tests hold the
case in another transaction (an identity erasure, a consent revocation), start a write that
queues behind it, commit, and check that the write used the new key and the new facts.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from app.db.database import Database
from app.db.repositories import cases as case_repo
from app.db.repositories import consents as consent_repo
from tests.factories import Partner, add_member
from tests.helpers import assert_problem, consent

CASES = "/v1/cases"


def update(**kw: Any) -> dict[str, Any]:
    return {
        "kind": "service_delivered",
        "category": "medical",
        "occurred_at": "2026-11-20T10:00:00Z",
        "summary": "Wound dressing changed; follow-up in a week.",
        **kw,
    }


async def waiting(request: asyncio.Task[httpx.Response]) -> None:
    await asyncio.sleep(0.5)
    assert not request.done(), "the write should be waiting for the case row"


class TestAWriteQueuedBehindTheCase:
    async def test_behind_an_erasure_it_seals_with_the_new_key(
        self,
        client: httpx.AsyncClient,
        database: Database,
        app: FastAPI,
        case: dict[str, Any],
        lead: Partner,
    ) -> None:
        """Before: the update waited for the erasure, then sealed its summary with the data key
        the erasure destroyed, so it read back as erased; the text was lost."""
        case_id = uuid.UUID(case["id"])
        url = f"{CASES}/{case['id']}/updates"
        wrapper = app.state.ctx.key_wrapper
        erasing = database.session()
        try:
            assert await case_repo.load_for(erasing, lead.org.id, case_id, lock=True)
            await case_repo.erase_identity(
                erasing,
                case_id,
                new_wrapped_key=wrapper.new_data_key(case_id)[1],
                kek_id=wrapper.kek_id,
            )
            posting = asyncio.create_task(client.post(url, json=update(), headers=lead.headers))
            await waiting(posting)
            await erasing.commit()
        finally:
            await erasing.close()
        posted = await posting
        assert posted.status_code == 201, posted.text
        assert posted.json()["summary"] == update()["summary"]
        items = (await client.get(url, headers=lead.headers)).json()["items"]
        assert [i["summary"] for i in items] == [update()["summary"]]

    async def test_behind_a_revocation_it_is_decided_on_the_revoked_facts(
        self,
        client: httpx.AsyncClient,
        database: Database,
        case: dict[str, Any],
        lead: Partner,
        member: Partner,
    ) -> None:
        """Before: a member's medical update waited for the lead's revocation of the consent
        that let it write medical, then was stored on the facts from before the revocation."""
        case_id = uuid.UUID(case["id"])
        url = f"{CASES}/{case['id']}/updates"
        await add_member(database, case_id, member.org.id, ["medical"])
        given = await consent(client, lead, case["id"], member, ["medical"])
        revoking = database.session()
        try:
            assert await case_repo.load_for(revoking, lead.org.id, case_id, lock=True)
            assert await consent_repo.revoke(revoking, uuid.UUID(given["id"]), case_id, None)
            await case_repo.touch(revoking, case_id)  # as ConsentService.revoke does
            posting = asyncio.create_task(client.post(url, json=update(), headers=member.headers))
            await waiting(posting)
            await revoking.commit()
        finally:
            await revoking.close()
        assert_problem(await posting, 422, "validation_error")
        assert (await client.get(url, headers=lead.headers)).json()["items"] == []
