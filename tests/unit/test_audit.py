"""Pure rules of app.domain.audit: the canonical audit entry and the hash chain — no database."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from app.db.query import Query
from app.db.repositories import audit as audit_repo
from app.db.repositories.audit import appending
from app.domain.audit import canonical_entry, chain_hash
from tests.helpers import flip

ENTRY: dict[str, Any] = {
    "org_id": UUID(int=1),
    "occurred_at": datetime(2026, 3, 15, 12, 0, 0, 123456, tzinfo=UTC),
    "client_id": "client-1",
    "jti": UUID(int=2),
    "request_id": "req-1",
    "action": "case.read",
    "case_ids": [UUID(int=3), UUID(int=4)],
    "categories": ["demographics", "identity"],
}

CHANGES: dict[str, list[Any]] = {
    "org_id": [UUID(int=9)],
    "occurred_at": [
        ENTRY["occurred_at"] + timedelta(microseconds=1),
        ENTRY["occurred_at"] + timedelta(hours=1),
    ],
    "client_id": ["client-2", ""],
    "jti": [None, UUID(int=5)],
    "request_id": [None, "req-2", ""],
    "action": ["case.update"],
    "case_ids": [[UUID(int=3)], [UUID(int=4), UUID(int=3)], []],
    "categories": [["demographics"], ["identity", "demographics"], []],
}


def test_canonical_entry_is_deterministic() -> None:
    first = canonical_entry(**ENTRY)
    assert canonical_entry(**dict(ENTRY)) == first
    assert canonical_entry(**{**ENTRY, "case_ids": tuple(ENTRY["case_ids"])}) == first
    assert isinstance(first, bytes)


def test_canonical_entry_normalises_the_time_zone() -> None:
    plus_two = ENTRY["occurred_at"].astimezone(timezone(timedelta(hours=2)))
    assert canonical_entry(**{**ENTRY, "occurred_at": plus_two}) == canonical_entry(**ENTRY)


@pytest.mark.parametrize(
    ("field", "value"),
    [(field, value) for field, values in CHANGES.items() for value in values],
    ids=[f"{field}{i}" for field, values in CHANGES.items() for i in range(len(values))],
)
def test_canonical_entry_changes_with_every_field(field: str, value: Any) -> None:
    assert canonical_entry(**{**ENTRY, field: value}) != canonical_entry(**ENTRY)


def test_canonical_entry_keeps_fields_apart() -> None:
    # Moving text from one field to the next must not give the same entry.
    a = canonical_entry(**{**ENTRY, "client_id": "ab", "request_id": "c"})
    b = canonical_entry(**{**ENTRY, "client_id": "a", "request_id": "bc"})
    assert a != b


def test_every_canonical_entry_in_the_table_is_distinct() -> None:
    entries = {canonical_entry(**ENTRY)}
    for field, values in CHANGES.items():
        for value in values:
            entries.add(canonical_entry(**{**ENTRY, field: value}))
    assert len(entries) == 1 + sum(len(v) for v in CHANGES.values())


def test_chain_hash_follows_the_documented_formula() -> None:
    entry = canonical_entry(**ENTRY)
    previous = bytes(32)
    expected = hashlib.sha256(previous + (7).to_bytes(8, "big") + entry).digest()
    assert chain_hash(previous, 7, entry) == expected
    assert len(expected) == 32


def test_chain_hash_is_deterministic_and_sensitive() -> None:
    entry = canonical_entry(**ENTRY)
    previous = hashlib.sha256(b"previous").digest()
    base = chain_hash(previous, 1, entry)
    assert chain_hash(previous, 1, entry) == base
    assert chain_hash(previous, 2, entry) != base
    assert chain_hash(previous, 0, entry) != base
    assert chain_hash(bytes(32), 1, entry) != base
    assert chain_hash(flip(previous, 31), 1, entry) != base
    assert chain_hash(previous, 1, canonical_entry(**{**ENTRY, "action": "x"})) != base
    assert chain_hash(previous, 1, entry + b" ") != base


def test_chain_links_depend_on_everything_before() -> None:
    entries = [canonical_entry(**{**ENTRY, "request_id": f"r{i}"}) for i in range(5)]

    def chain(items: list[bytes]) -> list[bytes]:
        out, previous = [], b""
        for seq, entry in enumerate(items, start=1):
            previous = chain_hash(previous, seq, entry)
            out.append(previous)
        return out

    honest = chain(entries)
    tampered = chain([entries[0], canonical_entry(**ENTRY), *entries[2:]])
    assert honest[0] == tampered[0]
    assert all(h != t for h, t in zip(honest[1:], tampered[1:], strict=True))
    assert chain(entries[::-1])[-1] != honest[-1]


def test_random_ids_do_not_break_canonical_entry() -> None:
    ids = [uuid4() for _ in range(3)]
    entry = canonical_entry(**{**ENTRY, "case_ids": ids, "jti": ids[0]})
    for case_id in ids:
        assert str(case_id).encode() in entry


def test_an_appending_read_numbers_its_own_parameters_after_the_audit_rows() -> None:
    read = Query("SELECT $2::int + $1::int AS n, '$1' AS text", ("a", "b"))
    combined = appending(read)
    shift = len(combined.names) - len(read.names)
    assert combined.names[shift:] == ("a", "b")
    assert all(n.startswith("audit_") for n in combined.names[:shift])
    assert combined.sql.startswith("WITH") and "INSERT INTO audit_log" in combined.sql
    assert combined.sql.endswith(f"SELECT ${2 + shift}::int + ${1 + shift}::int AS n, '$1' AS text")
    params = {"a": 1, "b": 2, **{n: n for n in combined.names[:shift]}}
    assert combined.args(params)[shift:] == (1, 2)


def test_only_a_select_can_carry_an_audit_row() -> None:
    with pytest.raises(ValueError, match="takes a SELECT"):
        appending(Query("UPDATE cases SET version = version + 1"))
    # A statement with CTEs of its own, only unconditionally (`when` reads the statement as `r`).
    with pytest.raises(ValueError, match="takes a SELECT"):
        appending(Query("WITH x AS (SELECT 1) SELECT * FROM x"), when=Query("TRUE"))


def test_a_statement_with_its_own_ctes_continues_the_appends_list() -> None:
    own = Query(
        "WITH x AS (INSERT INTO t (v) VALUES ($1) RETURNING v) SELECT count(*) FROM x", ("v",)
    )
    combined = appending(own)
    shift = len(combined.names) - 1
    assert combined.names[shift:] == ("v",)
    assert combined.sql.startswith("WITH") and combined.sql.count("WITH") == 1
    assert combined.sql.endswith(
        f"appended AS ({audit_repo._APPEND_ROW}), "
        f"x AS (INSERT INTO t (v) VALUES (${1 + shift}) RETURNING v) SELECT count(*) FROM x"
    )


@pytest.mark.parametrize("cte", ["head", "free", "appended", "c"])
def test_a_statement_defining_a_cte_of_the_append_is_refused(cte: str) -> None:
    with pytest.raises(ValueError, match="relation the append defines"):
        appending(Query(f"WITH {cte} AS MATERIALIZED (SELECT 1) SELECT 2", ()))


@pytest.mark.parametrize(
    ("sql", "names"),
    [
        ("SELECT 1 -- a comment with ' in it\n, $1", ("a",)),
        ("SELECT /* $1 */ $1", ("a",)),
        ('SELECT "odd$1" FROM t WHERE x = $1', ("a",)),
        ("SELECT E'\\'' , $1", ("a",)),
        ("SELECT $$ $1 $$, $1", ("a",)),
        ("SELECT $1, $3", ("a", "b")),  # a gap: $2 would bind nothing
        ("SELECT $1", ("audit_org_id",)),  # would be bound twice
        ("SELECT * FROM head WHERE x = $1", ("a",)),  # the append's own CTE
    ],
)
def test_a_read_the_renumbering_cannot_read_safely_is_refused(
    sql: str, names: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match=r"appending|placeholders|audit_|relation"):
        appending(Query(sql, names))


def test_a_placeholder_inside_a_name_is_not_renumbered() -> None:
    combined = appending(Query("SELECT col$1, $1 FROM t", ("a",)))
    assert combined.sql.endswith(f"SELECT col$1, ${len(combined.names)} FROM t")


def test_a_conditional_append_reads_first_and_says_whether_it_appended() -> None:
    read = Query("SELECT $2::int + $1::int AS n", ("a", "b"))
    combined = appending(read, when=Query("r.n = $3::int", ("expected",)))
    shift = len(combined.names) - 3
    assert combined.names[shift:] == ("a", "b", "expected")
    assert combined.sql.startswith(f"WITH r AS MATERIALIZED (SELECT ${2 + shift}::int")
    assert f"WHERE EXISTS (SELECT FROM r WHERE r.n = ${3 + shift}::int)" in combined.sql
    assert combined.sql.endswith("SELECT r.*, EXISTS (SELECT FROM head) AS audited FROM r")


@pytest.mark.parametrize(
    ("when", "names"),
    [
        ("r.n = $4", ("x",)),  # a gap after the read's two
        ("r.n = $3 -- a comment", ("x",)),
        ("r.n IN (SELECT n FROM head)", ()),  # the append's own relation
        ("r.n = $3", ("audit_x",)),
    ],
)
def test_a_condition_it_cannot_renumber_safely_is_refused(
    when: str, names: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match=r"appending|placeholders|audit_|relation"):
        appending(Query("SELECT $1::int AS n, $2::int AS m", ("a", "b")), when=Query(when, names))
