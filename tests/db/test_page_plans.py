"""Pages of lists that grow for as long as a case or a webhook lives read a page, not the list.

The timeline's page statements (app.db.repositories.updates.page_query) keep a plan that bounds
the index scan by the cursor, also as the generic plan PostgreSQL caches after a few executions:
syncing the end of a long timeline reads the end, not the whole timeline. GraphQL's timelines,
goals, consents and placements under a page of cases stop at each case's limit. A busy
webhook's delivery log (app.db.repositories.webhooks.log_query) reads a page of its attempts,
first page or deep."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from app.db.database import Database
from app.db.query import PAGE_CAP, Query
from app.db.repositories import care_plan, consents, placements, updates, webhooks
from tests.api.test_webhooks import PUBLIC, ping, subscribe
from tests.factories import Partner
from tests.helpers import open_case

ENTRIES = 3000


async def _add_entries(conn: Any, case_id: UUID, author: UUID, categories: list[str]) -> None:
    """Timeline entries of ``case_id`` in these categories, one a minute from 2026-01-01
    (their sealed text is not read here)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    await conn.executemany(
        "INSERT INTO case_updates (id, case_id, author_org_id, author_client_id, kind,"
        " category, occurred_at, summary_enc, created_at)"
        " VALUES ($1, $2, $3, 'test', 'note', $4, $5, '\\x00', $5)",
        [
            (uuid4(), case_id, author, category, start + timedelta(minutes=n))
            for n, category in enumerate(categories)
        ],
    )


async def _long_timeline(database: Database, case_id: UUID, author: UUID) -> list[Any]:
    """``ENTRIES`` entries in `general`; their (created_at, id), oldest first."""
    async with database.pool.acquire() as conn:
        await _add_entries(conn, case_id, author, ["general"] * ENTRIES)
        await conn.execute("ANALYZE case_updates")
        return list(
            await conn.fetch(
                "SELECT created_at, id FROM case_updates WHERE case_id = $1"
                " ORDER BY created_at, id",
                case_id,
            )
        )


async def _generic_plan(conn: Any, sql: str, values: tuple[str, ...]) -> str:
    """EXPLAIN ANALYZE of ``sql`` as its generic plan, with ``values`` (SQL literals)."""
    async with conn.transaction():
        await conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await conn.execute(f"PREPARE page_plan AS {sql}")
        try:
            rows = await conn.fetch(
                f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE page_plan ({', '.join(values)})"
            )
        finally:
            await conn.execute("DEALLOCATE page_plan")
    return "\n".join(r[0] for r in rows)


async def _pages_by_case(
    conn: Any, query: Query, values: tuple[str, ...]
) -> tuple[str, dict[UUID, list[UUID]]]:
    """A several-cases page statement's generic plan, and its rows' ids by case (in order),
    with ``values`` (SQL literals) for its parameters."""
    assert len(query.names) == len(values)
    plan = await _generic_plan(conn, query.sql, values)
    sql = query.sql
    for i in range(len(values), 0, -1):
        sql = re.sub(rf"\${i}(?!\d)", values[i - 1], sql)
    by_case: dict[UUID, list[UUID]] = {}
    for r in await conn.fetch(sql):
        by_case.setdefault(r["case_id"], []).append(r["id"])
    return plan, by_case


def _most_rows(plan: str) -> float:
    """The most rows any step of ``plan`` handled (a loop's average)."""
    return max(float(n) for n in re.findall(r"rows=([\d.]+)", plan))


async def test_the_cursor_bounds_the_index_scan_in_the_generic_plan(
    client: httpx.AsyncClient, database: Database, lead: Partner
) -> None:
    case = await open_case(client, lead)
    case_id = UUID(case["id"])
    entries = await _long_timeline(database, case_id, lead.org.id)
    cursor = entries[-11]  # the page after it: the last ten entries
    query = updates.page_query(False, True)
    # Parameters in statement order: case, categories, author, own categories, cursor, limit.
    values = (
        f"'{case_id}'",
        "ARRAY['general']",
        f"'{lead.org.id}'",
        "ARRAY[]::text[]",
        f"'{cursor['created_at'].isoformat()}'",
        f"'{cursor['id']}'",
        "51",
    )
    assert query.names == (
        "case_id", "categories", "author_org_id", "own_categories", "after_ts", "after_id",
        "limit",
    )  # fmt: skip
    async with database.pool.acquire() as conn:
        plan = await _generic_plan(conn, query.sql, values)
    # The generic plan (parameters, not values, in its conditions), the cursor an index bound.
    index_conditions = [line for line in plan.splitlines() if "Index Cond" in line]
    assert any("created_at" in line and "$5" in line for line in index_conditions), plan
    assert re.search(r"rows=10(\.00)? loops=1", plan.splitlines()[0]), plan
    read = sum(int(n) for n in re.findall(r"(?:hit|read)=(\d+)", plan.split("Planning")[0]))
    assert read < 100, plan  # not the timeline's 3,000 entries


async def test_several_cases_first_pages_stop_at_their_limit(
    client: httpx.AsyncClient, database: Database, lead: Partner
) -> None:
    """GraphQL's ``updates`` under a page of cases (``updates.pages_for_cases``): each case's
    first page stops at its limit, however long the timeline, and holds what the caller may see
    of that case (its own visible categories)."""
    long_case = UUID((await open_case(client, lead, external_ref="LONG"))["id"])
    short_case = UUID((await open_case(client, lead, external_ref="SHORT"))["id"])
    entries = await _long_timeline(database, long_case, lead.org.id)
    async with database.pool.acquire() as conn:
        categories = ["medical", "general", "medical", "legal"]
        await _add_entries(conn, short_case, lead.org.id, categories)
        short_medical = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM case_updates WHERE case_id = $1 AND category = 'medical'"
                " ORDER BY created_at, id",
                short_case,
            )
        ]
    # The caller sees `general` of the long case and `medical` of the short one; it wrote
    # them all, but reads nothing back as its own here (no own categories).
    # Parameters in statement order: cases, the visible (case, category) pairs, author, own
    # categories, limit (the first page: no category filter, no cursor).
    values = (
        f"ARRAY['{long_case}', '{short_case}']::uuid[]",
        f"ARRAY['{long_case}', '{short_case}']::uuid[]",
        "ARRAY['general', 'medical']",
        f"'{lead.org.id}'",
        "ARRAY[]::text[]",
        "11",
    )
    query = updates.pages_query(False, False)
    assert len(query.names) == len(values)
    sql = query.sql
    for i in range(len(values), 0, -1):
        sql = re.sub(rf"\${i}(?!\d)", values[i - 1], sql)
    async with database.pool.acquire() as conn:
        rows = await conn.fetch(sql)
        plan = "\n".join(
            r[0] for r in await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}")
        )
    by_case: dict[UUID, list[UUID]] = {}
    for r in rows:
        by_case.setdefault(r["case_id"], []).append(r["id"])
    assert by_case == {
        long_case: [e["id"] for e in entries[:11]],
        short_case: short_medical,
    }
    # No step of the plan handles more than the two cases' pages, not the long timeline's 3,000
    # entries (a window function over each case's entries read them all).
    assert _most_rows(plan) <= 2 * 11, plan


async def test_several_cases_first_pages_of_goals_stop_at_their_limit(
    client: httpx.AsyncClient, database: Database, lead: Partner
) -> None:
    """GraphQL's goals under a page of cases: each case's first page is read through
    ix_goals_case_id_created_at_id and stops at the limit (a window function numbering every goal
    of each case read them all)."""
    long_case = UUID((await open_case(client, lead, external_ref="LONG"))["id"])
    short_case = UUID((await open_case(client, lead, external_ref="SHORT"))["id"])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with database.pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO goals (id, case_id, category, owner_org_id, created_by_org_id,"
            " title_enc, created_at) VALUES ($1, $2, $3, $4, $4, '\\x00', $5)",
            [
                (uuid4(), case_id, category, lead.org.id, start + timedelta(minutes=n))
                for case_id, count in ((long_case, ENTRIES), (short_case, 3))
                for n, category in enumerate(["general", "medical"] * (count // 2) + ["medical"])
            ],
        )
        await conn.execute("ANALYZE goals")
        expected = {
            case_id: [
                r["id"]
                for r in await conn.fetch(
                    "SELECT id FROM goals WHERE case_id = $1 AND category = 'general'"
                    " ORDER BY created_at, id LIMIT 11",
                    case_id,
                )
            ]
            for case_id in (long_case, short_case)
        }
        # The caller sees `general` of both cases (and `medical` of neither).
        query = care_plan.goal_pages_query(False, False, False)
        values = (
            f"ARRAY['{long_case}', '{short_case}']::uuid[]",
            f"ARRAY['{long_case}', '{short_case}']::uuid[]",
            "ARRAY['general', 'general']",
            "11",
        )
        plan, by_case = await _pages_by_case(conn, query, values)
    assert by_case == {case_id: ids for case_id, ids in expected.items() if ids}
    assert len(by_case[long_case]) == 11 and len(by_case[short_case]) == 1
    # No step handles more than the two cases' pages and the medical goals skipped on the way,
    # not the long case's 3,000 goals.
    assert _most_rows(plan) <= 2 * 11 + 11, plan


# A case's consents and placements (migration 0020): ``ENTRIES`` rows of one case, a few of
# another, one a minute from 2026-01-01, in order of their page key.
_MANY = {
    "consents": (
        "INSERT INTO consents (id, case_id, granted_by, recipient_org_id, categories,"
        " purpose_enc, obtained_at, recorded_by_org_id, created_at)"
        " VALUES ($1, $2, ARRAY['survivor'], $3, ARRAY['general'], '\\x00', $4, $3, $4)",
        "created_at",
    ),
    "placements": (
        "INSERT INTO placements (id, case_id, org_id, placed_by_org_id, setting, started_at,"
        " ended_at, exit_reason) VALUES ($1, $2, $3, $3, 'ngo_shelter', $4, $4, 'other')",
        "started_at",
    ),
}


@pytest.mark.parametrize("table", sorted(_MANY))
async def test_several_cases_first_pages_of_consents_and_placements_stop_at_their_limit(
    client: httpx.AsyncClient, database: Database, lead: Partner, table: str
) -> None:
    """GraphQL's consents and placements under a page of cases: each case's first page is read
    through its (case_id, page key, id) index and stops at the limit (with the index on the case
    alone, every row of the case was read and sorted first)."""
    long_case = UUID((await open_case(client, lead, external_ref="LONG"))["id"])
    short_case = UUID((await open_case(client, lead, external_ref="SHORT"))["id"])
    insert, key = _MANY[table]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with database.pool.acquire() as conn:
        await conn.executemany(
            insert,
            [
                (uuid4(), case_id, lead.org.id, start + timedelta(minutes=n))
                for case_id, count in ((long_case, ENTRIES), (short_case, 3))
                for n in range(count)
            ],
        )
        await conn.execute(f"ANALYZE {table}")
        expected = {
            case_id: [
                r["id"]
                for r in await conn.fetch(
                    f"SELECT id FROM {table} WHERE case_id = $1 ORDER BY {key}, id LIMIT 11",
                    case_id,
                )
            ]
            for case_id in (long_case, short_case)
        }
        cases = f"ARRAY['{long_case}', '{short_case}']::uuid[]"
        if table == "consents":
            # The lead sees every consent of its cases.
            query = consents.pages_query(False)
            values: tuple[str, ...] = (cases, cases, f"'{lead.org.id}'", "'ngo'", "11")
        else:
            query = placements.pages_query(False)
            values = (cases, "11")
        plan, by_case = await _pages_by_case(conn, query, values)
    assert by_case == expected
    assert len(by_case[long_case]) == 11 and len(by_case[short_case]) == 3
    # No step handles more than the two cases' pages, not the long case's 3,000 rows.
    assert _most_rows(plan) <= 2 * 11, plan


async def test_a_busy_webhooks_log_reads_a_page_of_its_attempts(
    client: httpx.AsyncClient, database: Database, lead: Partner
) -> None:
    hook = await subscribe(client, lead, url=PUBLIC)  # (a public address: no lookup)
    made = await ping(client, lead, hook["id"])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with database.pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO webhook_attempts (id, delivery_id, webhook_id, event_id, attempt,"
            " status, response_status, duration_ms, created_at)"
            " VALUES ($1, $2, $3, $4, $5, 'failed', 500, 12, $6)",
            [
                (
                    uuid4(),
                    UUID(made["delivery_id"]),
                    UUID(hook["id"]),
                    UUID(made["event_id"]),
                    n + 1,
                    start + timedelta(seconds=n),
                )
                for n in range(ENTRIES)
            ],
        )
        await conn.execute("ANALYZE webhook_attempts")
        middle = await conn.fetchrow(
            "SELECT created_at, id FROM webhook_attempts WHERE webhook_id = $1"
            " ORDER BY created_at DESC, id DESC OFFSET 1500 LIMIT 1",
            UUID(hook["id"]),
        )
        assert middle is not None
        cursor = (f"'{middle['created_at'].isoformat()}'", f"'{middle['id']}'")
        plans = {
            shape: await _generic_plan(conn, webhooks.log_query(*shape).sql, values)
            for shape, values in (
                ((None, False), (f"'{hook['id']}'", "51")),
                ((None, True), (f"'{hook['id']}'", *cursor, "51")),
                (("failed", True), (f"'{hook['id']}'", "'failed'", *cursor, "51")),
            )
        }
    for shape, plan in plans.items():
        assert re.search(r"rows=51(\.00)? loops=1", plan.splitlines()[0]), (shape, plan)
        # No step handles more than a page of the webhook's 3,000 attempts.
        assert _most_rows(plan) <= PAGE_CAP, plan
