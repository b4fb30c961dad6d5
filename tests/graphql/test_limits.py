"""Amplification: an operation over the cost limit, or whose response could outgrow the cap, is
refused before it runs; a response never grows past the cap (rows written before their fields
were bounded included); memory stays flat under the attack that used to take 257 MiB."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import psutil
import pytest
from fastapi import FastAPI

from app.db.database import Database
from app.db.query import Query
from app.domain.context import RequestContext
from app.domain.keys import KeyRing
from app.domain.updates import UpdateInput, UpdateService
from app.domain.vocabulary import Category, UpdateKind
from app.main import create_app
from app.settings import Settings
from tests.factories import Factory, Partner
from tests.graphql.helpers import GRAPHQL, data_of, gql, only_error
from tests.graphql.test_batching import principal_of
from tests.helpers import StatementCounter, open_case

MiB = 1024 * 1024
ONE = "case(id: $id) { updates(first: 100) { edges { node { details } } } }"
ATTACK = "query ($id: UUID!) { " + " ".join(f"a{i}: {ONE}" for i in range(15)) + " }"
# 15 x (1 + 100 x (2 + 1 + 100 x 3)) fields: far over the limit before anything is loaded
TOO_COSTLY = (
    "{ "
    + " ".join(
        f"a{i}: cases(first: 100) {{ edges {{ node {{ updates(first: 100) "
        "{ edges { node { id } } } } } }"
        for i in range(15)
    )
    + " }"
)


LEGACY_DETAILS = 60_000  # stored before details were bounded (or under a larger setting)


async def heavy_case(factory: Factory, lead: Partner, client: httpx.AsyncClient) -> str:
    """A case with 100 updates whose details are each far over today's bound (written through
    the domain service with a larger bound, as rows from before the bound were)."""
    case = await open_case(client, lead)
    session = factory.database.session(transactional=True)
    try:
        service = UpdateService(
            RequestContext(
                session,
                principal_of(lead),
                factory.ctx.key_wrapper,
                max_details_bytes=2 * LEGACY_DETAILS,
            )
        )
        for n in range(100):
            await service.post(
                case["id"],
                UpdateInput(
                    kind=UpdateKind.NOTE,
                    category=Category.GENERAL,
                    occurred_at=datetime.now(UTC),
                    summary=f"note {n}",
                    details={"notes": "x" * LEGACY_DETAILS, "n": n},
                ),
            )
        await session.commit()
    finally:
        await session.close()
    return str(case["id"])


@pytest.fixture
async def capped(
    settings: Settings, database: Database, keyring: KeyRing, app: FastAPI
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with the smallest response cap the settings allow (the test body limit, 64 KiB;
    details are bounded at 16 KiB)."""
    small = create_app(
        settings.model_copy(update={"graphql_max_response_bytes": settings.max_body_bytes}),
        database=database,
        keyring=keyring,
        key_wrapper=app.state.ctx.key_wrapper,
        configure_logs=False,
    )
    transport = httpx.ASGITransport(app=small)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def count_referrals(database: Database, case_id: str) -> int:
    session = database.session(transactional=False)
    try:
        count: int = await session.fetchval(
            Query("SELECT count(*) FROM referrals WHERE case_id = $1", ("case",)),
            case=case_id,
        )
    finally:
        await session.close()
    return count


class PeakRSS:
    """The most this process's resident memory grew while the block ran (sampled by a thread,
    so that a peak reached inside one step of the event loop is seen)."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.grown = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.grown = max(self.grown, self.process.memory_info().rss - self.baseline)
            time.sleep(0.002)

    def __enter__(self) -> PeakRSS:
        self.baseline = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def assert_too_costly(result: dict[str, Any]) -> str:
    assert result["data"] is None
    error = only_error(result, "query_too_costly")
    assert "path" not in error
    message: str = error["message"]
    return message


class TestStaticCost:
    async def test_an_operation_over_the_cost_limit_runs_nothing(
        self, client: httpx.AsyncClient, database: Database, lead: Partner
    ) -> None:
        counter = StatementCounter()
        database.statement_hook = counter
        await gql(client, lead, "{ nope }")
        refused_by_validation = counter.count
        counter.reset()
        message = assert_too_costly(await gql(client, lead, TOO_COSTLY))
        assert "100,000 fields" in message and "first" in message
        assert counter.count == refused_by_validation, counter.statements  # nothing ran

    async def test_attack_query_refused_before_it_runs(
        self, client: httpx.AsyncClient, database: Database, lead: Partner
    ) -> None:
        """The reported attack (15 aliases of a case's 100 updates' details): the response
        could weigh 15 x 100 x 16 KiB, over the 8 MiB cap, so nothing is loaded at all (it used
        to be stopped by the cap only after the updates were read and decrypted)."""
        case = await open_case(client, lead)
        counter = StatementCounter()
        database.statement_hook = counter
        await gql(client, lead, "{ nope }")
        refused_by_validation = counter.count  # the token check
        counter.reset()
        message = assert_too_costly(await gql(client, lead, ATTACK, {"id": case["id"]}))
        assert "could exceed 8,388,608 bytes" in message and "first" in message
        assert counter.count == refused_by_validation, counter.statements  # no data SQL ran
        # one alias of it fits: a page of 100 updates with the largest details
        one = "query ($id: UUID!) { " + ONE + " }"
        assert data_of(await gql(client, lead, one, {"id": case["id"]}))["case"]

    async def test_page_sizes_from_variables_count(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        query = (
            "query ($n: Int!) { cases(first: $n) { edges { node { id "
            "referrals(first: $n) { edges { node { id case { updates(first: $n) "
            "{ edges { node { id } } } } } } } } } } }"
        )
        assert "errors" not in await gql(client, lead, query, {"n": 10})
        assert_too_costly(await gql(client, lead, query, {"n": 100}))
        # the same text again: its cost is remembered per page size, not per text
        assert "errors" not in await gql(client, lead, query, {"n": 10})
        assert_too_costly(await gql(client, lead, query, {"n": "100"}))  # not a number: worst

    async def test_the_benchmark_page_still_runs(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        from bench.graphql_vs_rest import QUERY

        await open_case(client, lead)
        data = data_of(await gql(client, lead, QUERY))
        assert len(data["cases"]["edges"]) == 1

    async def test_a_fragment_bomb_is_answered_at_once(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        """Each fragment spreads the next twice: Strawberry's depth and alias limiters walked
        all 2**40 spreads (the request never finished); now every check is linear."""
        levels = 40
        fragments = " ".join(
            f"fragment F{i} on Organization {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
        )
        query = f"{{ me {{ ...F0 }} }} {fragments} fragment F{levels} on Organization {{ id }}"
        started = time.perf_counter()
        data = data_of(await gql(client, lead, query))
        assert data["me"]["id"] == str(lead.org.id)
        assert time.perf_counter() - started < 10  # exponential would never finish

    async def test_deeply_nested_inline_fragments_are_not_an_internal_error(
        self, client: httpx.AsyncClient, lead: Partner
    ) -> None:
        query = "{ me { " + "... on Organization { " * 400 + "id" + " }" * 400 + " } }"
        result = await gql(client, lead, query)
        codes = {e["extensions"]["code"] for e in result.get("errors", [])}
        assert codes <= {"validation_error"}, result


class TestResponseCap:
    async def test_aliased_update_details_are_refused_and_memory_stays_flat(
        self, client: httpx.AsyncClient, factory: Factory, lead: Partner
    ) -> None:
        """The reported attack: 15 aliases of a case's 100 updates' details. It answered
        15 x 100 x details (here 90 MB; 257 MiB in the report), and four at once took the
        server from 148 MiB to 1.3 GiB (here: 730 MiB more at the peak). Now refused before it
        runs, even over rows whose details are larger than today's bound."""
        case_id = await heavy_case(factory, lead, client)
        variables = {"id": case_id}
        one = "query ($id: UUID!) { " + ONE + " }"

        async def read_the_page() -> None:  # one alias fits (about 6 MB of legacy rows)
            data = data_of(await gql(client, lead, one, variables))
            assert len(data["case"]["updates"]["edges"]) == 100

        async def attack() -> None:
            started = time.perf_counter()
            response = await client.post(
                GRAPHQL, json={"query": ATTACK, "variables": variables}, headers=lead.headers
            )
            assert response.status_code == 200
            assert len(response.content) < 1024
            message = assert_too_costly(response.json())
            assert "8,388,608 bytes" in message
            assert time.perf_counter() - started < 10

        # the baseline: four clients reading the page at once (what REST would cost too)
        for _ in range(2):
            await asyncio.gather(*(read_the_page() for _ in range(4)))
        gc.collect()
        with PeakRSS() as peak:
            for _ in range(2):
                await asyncio.gather(*(attack() for _ in range(4)))
        assert peak.grown < 40 * MiB, f"RSS grew by {peak.grown / MiB:.0f} MiB"

    async def test_rows_larger_than_todays_bound_still_meet_the_cap(
        self,
        capped: httpx.AsyncClient,
        client: httpx.AsyncClient,
        factory: Factory,
        lead: Partner,
    ) -> None:
        """The static bound trusts today's write rules; a row written before them (here 60 kB
        of details, bound 16 KiB) is caught while the response is built."""
        case_id = await heavy_case(factory, lead, client)
        query = (
            "query ($id: UUID!, $n: Int!) { case(id: $id) { updates(first: $n) "
            "{ edges { node { details } } } } }"
        )
        # 3 x 16 KiB could fit 64 KiB, so it runs; 3 x 60 kB does not
        assert_too_costly(await gql(capped, lead, query, {"id": case_id, "n": 3}))
        data = data_of(await gql(capped, lead, query, {"id": case_id, "n": 1}))
        assert len(data["case"]["updates"]["edges"]) == 1
        # 4 x 16 KiB could not: refused before it runs
        message = assert_too_costly(await gql(capped, lead, query, {"id": case_id, "n": 4}))
        assert "could exceed 65,536 bytes" in message

    async def test_a_mutation_whose_answer_outgrows_the_cap_is_rolled_back(
        self,
        capped: httpx.AsyncClient,
        client: httpx.AsyncClient,
        database: Database,
        factory: Factory,
        lead: Partner,
    ) -> None:
        case_id = await heavy_case(factory, lead, client)
        clinics = [
            await factory.partner(name=f"Cap Clinic {n}", kind="medical_provider") for n in (1, 2)
        ]
        refer = (
            'createReferral(input: {{caseId: $case, toOrgId: "{org}", service: medical, '
            'urgency: high, reason: "check-up"}}) '
            "{{ id case {{ updates(first: 1) {{ edges {{ node {{ details }} }} }} }} }}"
        )
        a, b = (refer.format(org=c.org.id) for c in clinics)
        query = f"mutation ($case: UUID!) {{ a: {a} b: {b} }}"
        before = await count_referrals(database, case_id)
        response = await capped.post(
            GRAPHQL, json={"query": query, "variables": {"case": case_id}}, headers=lead.headers
        )
        assert response.status_code == 200
        assert_too_costly(response.json())
        # neither the first nor the second mutation kept its effect
        assert await count_referrals(database, case_id) == before
        # one of them fits
        single = f"mutation ($case: UUID!) {{ {a} }}"
        data = data_of(await gql(capped, lead, single, {"case": case_id}))
        details = data["createReferral"]["case"]["updates"]["edges"][0]["node"]["details"]
        assert len(details["notes"]) == LEGACY_DETAILS
