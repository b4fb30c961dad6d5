"""The inbox/outbox statement: one per shape of request, none a catch-all."""

from __future__ import annotations

import itertools

from app.db.repositories.referrals import page_query


def test_one_statement_per_shape_without_catch_all_conditions() -> None:
    shapes = list(itertools.product(("incoming", "outgoing", None), (False, True), (False, True)))
    queries = {shape: page_query(*shape) for shape in shapes}
    assert len({q.sql for q in queries.values()}) == len(shapes)
    for (direction, status, after), query in queries.items():
        assert "IS NULL" not in query.sql
        assert query is page_query(direction, status, after)  # compiled once
        expected = ["org_id", *(["status"] if status else [])]
        expected += ["after_ts", "after_id"] if after else []
        assert list(query.names) == [*expected, "limit"]
    assert "r.to_org_id = $1" in page_query("incoming", False, False).sql
    assert "r.from_org_id = " not in page_query("incoming", False, False).sql
