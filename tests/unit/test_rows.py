"""The typed-row mapper: positional construction, checked against the statement's columns."""

from __future__ import annotations

import dataclasses
from dataclasses import FrozenInstanceError, dataclass
from typing import Any

import pytest

from app.db.rows import ColumnMismatch, Rows


class FakeRecord:
    """What the mapper needs of a driver record: ``keys()`` and iteration over the values."""

    def __init__(self, **values: Any) -> None:
        self._values = values

    def keys(self) -> list[str]:
        return list(self._values)

    def __iter__(self) -> Any:
        return iter(self._values.values())


@dataclass(frozen=True, slots=True)
class Pair:
    a: int
    b: str


ROWS = Rows(Pair)


def test_builds_frozen_rows_positionally() -> None:
    row = ROWS.one(FakeRecord(a=1, b="x"))
    assert row == Pair(1, "x")
    with pytest.raises(FrozenInstanceError):
        row.a = 2  # type: ignore[misc]
    assert ROWS.many([FakeRecord(a=1, b="x"), FakeRecord(a=2, b="y")]) == [
        Pair(1, "x"),
        Pair(2, "y"),
    ]


def test_none_and_empty_pass_through() -> None:
    assert ROWS.one(None) is None
    assert ROWS.many([]) == []


@pytest.mark.parametrize(
    "record",
    [FakeRecord(b="x", a=1), FakeRecord(a=1), FakeRecord(a=1, b="x", c=3), FakeRecord(a=1, c="x")],
    ids=["reordered", "missing", "extra", "renamed"],
)
def test_a_statement_whose_columns_are_not_the_fields_fails_loudly(record: FakeRecord) -> None:
    with pytest.raises(ColumnMismatch):
        Rows(Pair).one(record)


def test_only_dataclasses() -> None:
    with pytest.raises(TypeError):
        Rows(int)


@dataclass(frozen=True, slots=True)
class Triple:
    a: int
    b: str
    c: str


def test_rows_completed_from_values_already_loaded() -> None:
    parents = {1: ("one",), 2: ("two",)}
    rows = Rows(Triple).many_completed(
        [FakeRecord(a=1, b="x"), FakeRecord(a=2, b="y")], lambda r: parents[next(iter(r))]
    )
    assert rows == [Triple(1, "x", "one"), Triple(2, "y", "two")]
    assert Rows(Triple).many_completed([], lambda r: ()) == []


@pytest.mark.parametrize(
    "record",
    [FakeRecord(b="x", a=1), FakeRecord(a=1, c="x"), FakeRecord(a=1, b="x", c="y"), FakeRecord()],
    ids=["reordered", "not-leading", "all", "none"],
)
def test_completed_rows_need_the_leading_columns(record: FakeRecord) -> None:
    with pytest.raises(ColumnMismatch):
        Rows(Triple).many_completed([record], lambda r: ("z",))


@pytest.mark.parametrize("rest", [(), ("z", "zz")], ids=["short", "long"])
def test_completed_rows_need_the_rest_to_fill_them(rest: tuple[str, ...]) -> None:
    with pytest.raises(ColumnMismatch):
        Rows(Triple).many_completed([FakeRecord(a=1, b="x")], lambda r: rest)


@dataclass(frozen=True, slots=True)
class Child(Pair):
    c: str


@dataclass(frozen=True, slots=True)
class Odd:
    self: int
    a: int


def test_rows_built_by_the_twin_class_are_ordinary_rows() -> None:
    """The mapper builds a row type deriving from ``object`` through a twin class (same slots,
    plain ``__init__``), which hands over to the row type: nothing tells the two apart."""
    rows = Rows(Pair)
    assert rows._build is not Pair
    row = rows.build([1, "x"])
    assert type(row) is Pair and isinstance(row, Pair)
    assert row == Pair(1, "x") and hash(row) == hash(Pair(1, "x"))
    assert repr(row) == "Pair(a=1, b='x')"
    with pytest.raises(FrozenInstanceError):
        row.b = "y"  # type: ignore[misc]
    assert dataclasses.replace(row, b="y") == Pair(1, "y")
    [first] = rows.many([FakeRecord(a=2, b="z")])
    assert type(first) is Pair and first == Pair(2, "z")


@dataclass(frozen=True, slots=True)
class KeywordOnly:
    a: int
    b: int = dataclasses.field(kw_only=True)


@pytest.mark.parametrize(
    ("cls", "values"),
    [(Child, [1, "x", "y"]), (Odd, [1, 2])],
    ids=["extends-a-row-type", "field-named-self"],
)
def test_other_row_types_are_built_the_ordinary_way(cls: type[Any], values: list[Any]) -> None:
    rows = Rows(cls)
    assert rows._build is cls
    row = rows.build(values)
    assert type(row) is cls
    with pytest.raises(FrozenInstanceError):
        row.a = 3


def test_a_row_type_with_a_keyword_only_field_is_not_built_by_a_twin() -> None:
    assert Rows(KeywordOnly)._build is KeywordOnly
