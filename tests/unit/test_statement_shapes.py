"""List statements on hot partner paths: one compiled statement per shape of request.

A catch-all statement (``$n IS NULL OR …``) gets one generic plan after a few executions that has
to serve every shape and cannot use the index suited to the one at hand. Each shape has its own
statement, built once per process from constant fragments, every value bound.
"""

from __future__ import annotations

import itertools
import re

import pytest

from app.db.query import PAGE_CAP, Query
from app.db.repositories import cases, events, followups, legal, referrals, updates, webhooks
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
    out.append(("follow-ups", (False,), followups._DUE))
    out.append(("follow-ups", (True,), followups._DUE_AFTER))
    return out


SHAPES = _shapes()


@pytest.mark.parametrize(("family", "shape", "query"), SHAPES, ids=lambda v: str(v))
def test_no_catch_all_and_every_placeholder_named(
    family: str, shape: tuple[object, ...], query: Query
) -> None:
    assert "IS NULL OR" not in query.sql.upper()
    assert "IS DISTINCT FROM" not in query.sql.upper()
    placeholders = {int(n) for n in re.findall(r"\$(\d+)", query.sql)}
    assert placeholders == set(range(1, len(query.names) + 1))
    assert query.names[0] in ("org_id", "case_id", "webhook_id") and query.names[-1] == "limit"


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
