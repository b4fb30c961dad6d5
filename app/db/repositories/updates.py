"""The case timeline (immutable updates)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from app.db.database import Session
from app.db.query import PAGE_CAP, Placeholders, Query
from app.db.repositories.cases import touching
from app.db.rows import Rows

_COLUMNS = """
    id, case_id, author_org_id, kind, category, occurred_at, summary_enc, details_enc, supersedes,
    created_at
"""


@dataclass(frozen=True, slots=True)
class UpdateRow:
    id: UUID
    case_id: UUID
    author_org_id: UUID
    kind: str
    category: str
    occurred_at: datetime
    summary_enc: bytes
    details_enc: bytes | None
    supersedes: UUID | None
    created_at: datetime


UPDATE_ROWS = Rows(UpdateRow)

# The update, and its case marked updated in the same statement (`cases.touching`).
_INSERT = Query(
    f"""
    {touching("$2")}
    INSERT INTO case_updates (id, case_id, author_org_id, author_client_id, kind, category,
                              occurred_at, summary_enc, details_enc, supersedes)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
    RETURNING {_COLUMNS}
    """,  # noqa: S608 - constant text
    ("id", "case_id", "author_org_id", "author_client_id", "kind", "category", "occurred_at",
     "summary_enc", "details_enc", "supersedes"),
)  # fmt: skip

_GET = Query(
    f"SELECT {_COLUMNS} FROM case_updates WHERE id = $1 AND case_id = $2",  # noqa: S608
    ("id", "case_id"),
)

# A case's timeline page: one statement per shape of request (a category filter or not, a
# cursor or not), built from constant fragments and compiled once per process, read under the
# constant cap `PAGE_CAP`. A catch-all statement (`$n IS NULL OR …`) had one generic plan for
# every shape, in which the cursor could not bound the index scan: syncing the end of a long
# timeline then walked it from its first entry (a 20,000-entry timeline: 14.5 ms and 7,500
# buffers against 0.05 ms and 7). Visible: the caller's categories, plus whatever the caller
# itself wrote (in a category its token may read).
_VISIBLE = (
    "(u.category = ANY ($2::text[]) OR (u.author_org_id = $3 AND u.category = ANY ($4::text[])))"
)


@cache
def page_query(category: bool, after: bool) -> Query:
    """The timeline page statement for this shape: ``category`` and ``after`` say whether a
    category filter and a cursor are given. Its parameters: ``case_id``, ``categories``,
    ``author_org_id``, ``own_categories``, [``category``], [``after_ts``, ``after_id``],
    ``limit``."""
    params = Placeholders("case_id", "categories", "author_org_id", "own_categories")
    where = ["u.case_id = $1", _VISIBLE]
    if category:
        where.append(f"u.category = {params.bind('category', 'text')}")
    if after:
        where.append(f"(u.created_at, u.id) > {params.cursor('after')}")
    return params.query(
        f"SELECT {_COLUMNS} FROM (SELECT {_COLUMNS} FROM case_updates u WHERE "  # noqa: S608
        + " AND ".join(where)
        + f" ORDER BY u.created_at, u.id LIMIT {PAGE_CAP}) u"
        f" ORDER BY u.created_at, u.id LIMIT {params.bind('limit')}"
    )


async def insert(session: Session, **values: Any) -> UpdateRow:
    """The update, its case's ``updated_at`` set to now as well."""
    row = UPDATE_ROWS.one(await session.fetchrow(_INSERT, values))
    assert row is not None
    return row


async def get(session: Session, update_id: UUID, case_id: UUID) -> UpdateRow | None:
    return UPDATE_ROWS.one(await session.fetchrow(_GET, id=update_id, case_id=case_id))


async def page(
    session: Session,
    *,
    case_id: UUID,
    categories: list[str],
    author_org_id: UUID,
    own_categories: list[str],
    category: str | None,
    after_ts: datetime | None,
    after_id: UUID | None,
    limit: int,
) -> list[UpdateRow]:
    """A page of the case's timeline as the caller may see it, oldest first (``page_query``)."""
    if limit > PAGE_CAP:
        raise ValueError(f"a page holds at most {PAGE_CAP} rows")
    after = after_ts is not None
    query = page_query(category is not None, after)
    params: dict[str, Any] = {
        "case_id": case_id,
        "categories": categories,
        "author_org_id": author_org_id,
        "own_categories": own_categories,
        "limit": limit,
    }
    if category is not None:
        params["category"] = category
    if after:
        params["after_ts"], params["after_id"] = after_ts, after_id
    return UPDATE_ROWS.many(await session.fetch(query, params))


# The first page of the timeline of several cases at once (GraphQL's `updates` under a page of
# cases): the same visibility as `page_query`, given per case as (case, category) pairs, and at
# most `limit` rows per case. Each case's page is read on its own through
# ix_case_updates_case_id_created_at_id and stops at `limit` (a lateral join), so a long
# timeline costs what its first page does; a window function numbering every entry of each case
# read all of them.
# One statement per shape (a category filter, a cursor: given or not), compiled once per process.
@cache
def pages_query(category: bool, after: bool) -> Query:
    """Parameters: ``case_ids``, ``visible_case_ids`` and ``visible_categories`` (the (case,
    category) pairs the caller may see), ``author_org_id``, ``own_categories``, [``category``],
    [``after_ts``, ``after_id``], ``limit``."""
    params = Placeholders(
        "case_ids", "visible_case_ids", "visible_categories", "author_org_id", "own_categories"
    )
    where = (
        "u.case_id = wanted.case_id AND (u.category = ANY (wanted.categories)"
        " OR (u.author_org_id = $4 AND u.category = ANY ($5::text[])))"
    )
    if category:
        where += f" AND u.category = {params.bind('category', 'text')}"
    if after:
        where += f" AND (u.created_at, u.id) > {params.cursor('after')}"
    return params.query(
        "SELECT u.* FROM (SELECT w.case_id, COALESCE(v.categories, '{}') AS categories"  # noqa: S608
        " FROM (SELECT DISTINCT unnest($1::uuid[]) AS case_id) AS w"
        " LEFT JOIN (SELECT p.case_id, array_agg(p.category) AS categories"
        " FROM unnest($2::uuid[], $3::text[]) AS p(case_id, category)"
        " GROUP BY p.case_id) AS v ON v.case_id = w.case_id) AS wanted"
        f" CROSS JOIN LATERAL (SELECT {_COLUMNS} FROM case_updates u"
        f" WHERE {where} ORDER BY u.created_at, u.id LIMIT {params.bind('limit')}) u"
        " ORDER BY u.case_id, u.created_at, u.id"
    )


async def pages_for_cases(session: Session, **params: Any) -> list[UpdateRow]:
    """Rows ordered by case, then as `page` orders them; ``limit`` applies per case."""
    return UPDATE_ROWS.many(
        await session.fetch(
            pages_query(params.get("category") is not None, params.get("after_ts") is not None),
            params,
        )
    )
