"""List statements on hot partner paths: one compiled statement per shape of request.

A catch-all statement (``$n IS NULL OR …``) gets one generic plan after a few executions that has
to serve every shape and cannot use the index suited to the one at hand. Each shape has its own
statement, built once per process from constant fragments, every value bound.
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Callable

import pytest

from app.db.query import PAGE_CAP, Placeholders, Query
from app.db.repositories import (
    audit,
    care_plan,
    cases,
    consents,
    events,
    followups,
    legal,
    placements,
    referrals,
    updates,
    webhooks,
)
from app.domain.pagination import MAX_LIMIT


def _shapes() -> list[tuple[str, tuple[object, ...], Query]]:
    out: list[tuple[str, tuple[object, ...], Query]] = []
    for role, status, since, after in itertools.product(
        (None, "lead", "care_team"), (False, True), (False, True), (False, True)
    ):
        out.append(
            ("cases", (role, status, since, after), cases.list_query(role, status, since, after))
        )
    for status, after in itertools.product((False, True), (False, True)):
        out.append(("testimony", (status, after), legal.testimony_query(status, after)))
    for direction, status, after in itertools.product(
        ("incoming", "outgoing", None), (False, True), (False, True)
    ):
        out.append(
            (
                "referrals",
                (direction, status, after),
                referrals.page_query(direction, status, after),
            )
        )
    for category, after in itertools.product((False, True), (False, True)):
        out.append(("timeline", (category, after), updates.page_query(category, after)))
    for log_status, before in itertools.product((None, "pending", "failed"), (False, True)):
        out.append(("delivery-log", (log_status, before), webhooks.log_query(log_status, before)))
    for family, build in _MORE.items():
        arity = len(inspect.signature(build).parameters)
        for shape in itertools.product((False, True), repeat=arity):
            out.append((family, shape, build(*shape)))
    out.append(("follow-ups", (False,), followups._DUE))
    out.append(("follow-ups", (True,), followups._DUE_AFTER))
    return out


# The other lists: a case's goals, service records, consents and placements (and their first pages
# for several cases at once, under GraphQL's page of cases), a partner's webhooks, a provider's
# scheduled services, overdue home visits, several cases' referrals and timelines, a case's
# access log. Each takes one flag per optional filter, the cursor's last.
_MORE: dict[str, Callable[..., Query]] = {
    "goals": care_plan.goal_page_query,
    "goals-for-cases": care_plan.goal_pages_query,
    "services": care_plan.service_page_query,
    "services-for-cases": care_plan.service_pages_query,
    "scheduled-services": care_plan.scheduled_query,
    "consents": consents.list_query,
    "consents-audited": consents.list_audited_query,
    "consents-for-cases": consents.pages_query,
    "placements-audited": placements.list_query,
    "placements-for-cases": placements.pages_query,
    "overdue-visits": placements.overdue_query,
    "webhooks": webhooks.list_query,
    "referrals-for-cases": referrals.pages_query,
    "timelines-for-cases": updates.pages_query,
    "access-log": audit.access_log_query,
}


SHAPES = _shapes()


@pytest.mark.parametrize(("family", "shape", "query"), SHAPES, ids=lambda v: str(v))
def test_no_catch_all_and_every_placeholder_named(
    family: str, shape: tuple[object, ...], query: Query
) -> None:
    assert "IS NULL OR" not in query.sql.upper()
    assert "IS DISTINCT FROM" not in query.sql.upper()
    placeholders = {int(n) for n in re.findall(r"\$(\d+)", query.sql)}
    assert placeholders == set(range(1, len(query.names) + 1))
    # (an audited read's own parameters follow the audit row's)
    own = [n for n in query.names if not n.startswith("audit_")]
    assert own[0] in ("org_id", "case_id", "webhook_id", "case_ids") and own[-1] == "limit"
    assert len(set(query.names)) == len(query.names)


def test_more_shapes_are_compiled_once_and_bind_only_what_they_filter_on() -> None:
    for build in _MORE.values():
        arity = len(inspect.signature(build).parameters)
        for shape in itertools.product((False, True), repeat=arity):
            query = build(*shape)
            assert build(*shape) is query
            # The last flag is the cursor's: its parameters are bound only when it is given.
            cursor = [n for n in query.names if n.startswith(("after_", "before_"))]
            assert bool(cursor) is shape[-1]
    assert care_plan.goal_page_query(True, False, True).names == (
        "case_id", "categories", "category", "after_ts", "after_id", "limit",
    )  # fmt: skip
    assert consents.list_query(False, False).names == ("case_id", "limit")
    assert consents.list_query(True, False).names == (
        "case_id", "only_for_org", "only_for_kind", "limit",
    )  # fmt: skip
    assert webhooks.list_query(True, False).names == ("org_id", "status", "limit")
    assert referrals.pages_query(False, True).names == (
        "case_ids", "org_id", "after_ts", "after_id", "limit",
    )  # fmt: skip


def test_each_shape_is_compiled_once_and_cached() -> None:
    for role, status, since, after in itertools.product(
        (None, "lead", "care_team"), (False, True), (False, True), (False, True)
    ):
        assert cases.list_query(role, status, since, after) is cases.list_query(
            role, status, since, after
        )
    for status, after in itertools.product((False, True), (False, True)):
        assert legal.testimony_query(status, after) is legal.testimony_query(status, after)
    for direction, status, after in itertools.product(
        ("incoming", "outgoing", None), (False, True), (False, True)
    ):
        assert referrals.page_query(direction, status, after) is referrals.page_query(
            direction, status, after
        )
    for category, after in itertools.product((False, True), (False, True)):
        assert updates.page_query(category, after) is updates.page_query(category, after)
    # An attempt's statuses share a statement (the status is bound).
    assert webhooks.log_query("failed", True) is webhooks.log_query("succeeded", True)
    assert webhooks.log_query("failed", True).names == (
        "webhook_id", "status", "before_ts", "before_id", "limit",
    )  # fmt: skip
    assert webhooks.log_query("pending", False).names == ("webhook_id", "limit")


def test_shapes_differ_and_bind_only_what_they_filter_on() -> None:
    by_family: dict[str, list[Query]] = {}
    for family, _, query in SHAPES:
        by_family.setdefault(family, []).append(query)
    for family, queries in by_family.items():
        assert len({q.sql for q in queries}) == len(queries), family
    assert cases.list_query("lead", False, False, False).names == ("org_id", "limit")
    assert cases.list_query(None, True, True, True).names == (
        "org_id", "status", "updated_since", "after_ts", "after_id", "limit",
    )  # fmt: skip
    assert legal.testimony_query(True, True).names == (
        "org_id", "status", "after_ts", "after_id", "limit",
    )  # fmt: skip
    assert updates.page_query(False, False).names == (
        "case_id", "categories", "author_org_id", "own_categories", "limit",
    )  # fmt: skip
    assert updates.page_query(True, True).names[4:] == (
        "category", "after_ts", "after_id", "limit",
    )  # fmt: skip


def test_pages_are_read_under_the_constant_cap() -> None:
    """Every first-page statement walks under `LIMIT PAGE_CAP` (so the cached generic plan is
    costed for a page, whatever the size of the table) and applies the request's limit outside."""
    assert PAGE_CAP == MAX_LIMIT + 1
    statements = [
        cases.list_query(None, False, False, False),
        cases.list_query("care_team", True, True, True),
        legal.testimony_query(False, False),
        legal.testimony_query(True, True),
        referrals.page_query("incoming", False, False),
        referrals.page_query(None, True, True),
        updates.page_query(False, False),
        updates.page_query(True, True),
        webhooks.log_query(None, False),
        webhooks.log_query("failed", True),
        events._PAGE,
        events._PAGE_OF_TYPES,
    ]
    for query in statements:
        assert f"LIMIT {PAGE_CAP}" in query.sql
        assert re.search(r"LIMIT \$\d+", query.sql)


def test_placeholders_number_parameters_in_the_order_they_are_bound() -> None:
    params = Placeholders("org_id")
    assert params.bind("status", "text") == "$2::text"
    assert params.cursor("after") == "($3::timestamptz, $4::uuid)"
    assert params.bind("limit") == "$5"
    query = params.query("SELECT 1 WHERE $1 AND $2 AND ($3, $4) AND $5")
    assert query.names == ("org_id", "status", "after_ts", "after_id", "limit")
    assert query.args(org_id=1, status="s", after_ts=2, after_id=3, limit=4, unused=5) == (
        1, "s", 2, 3, 4,
    )  # fmt: skip
