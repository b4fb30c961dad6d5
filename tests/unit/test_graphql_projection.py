"""GraphQL types projected from REST's response models read each field from their source when
it is first read, once, and otherwise behave as the dataclasses Strawberry makes of them."""

from __future__ import annotations

from typing import Any

import strawberry
from pydantic import BaseModel

from app.api.graphql.types.projection import Projected, from_model


class InnerOut(BaseModel):
    code: str


class OuterOut(BaseModel):
    name: str
    note: str | None
    inner: InnerOut | None
    inners: list[InnerOut]


@from_model(InnerOut, description="inner")
class Inner(Projected):
    pass


@from_model(OuterOut, description="outer")
class Outer(Projected):
    extra: int  # a field of GraphQL's own
    hidden: strawberry.Private[str | None] = None


# The model's fields are added to the types at run time: mypy knows none of them.
OUTER: Any = Outer
INNER: Any = Inner


class Source:
    """Counts the reads of each attribute."""

    def __init__(self, **values: Any) -> None:
        self.values = values
        self.reads: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        if name not in self.__dict__.get("values", {}):
            raise AttributeError(name)
        self.reads[name] = self.reads.get(name, 0) + 1
        return self.values[name]


def test_fields_are_read_when_first_asked_for_and_once() -> None:
    source = Source(name="a", note=None, inner={"code": "x"}, inners=[], extra=3)
    outer = OUTER.of(source)
    assert source.reads == {}
    assert outer.name == "a" and outer.name == "a"
    assert source.reads == {"name": 1}
    inner = outer.inner
    assert isinstance(inner, INNER) and inner.code == "x"  # built as its own type, from a dict
    assert outer.inner is inner
    assert outer.hidden is None  # a private field keeps its default
    assert source.reads == {"name": 1, "inner": 1}


def test_a_projected_object_equals_one_made_with_the_constructor() -> None:
    made = OUTER(name="a", note="n", inner=None, inners=[INNER(code="y")], extra=1)
    projected = OUTER.of(
        Source(name="a", note="n", inner=None, inners=[InnerOut(code="y")], extra=1)
    )
    assert projected == made
    assert repr(projected) == repr(made)
    assert made.name == "a"  # the constructor's object holds its own fields


def test_a_dict_source_is_read_by_key() -> None:
    projected = OUTER.of({"name": "d", "note": None, "inner": None, "inners": [], "extra": 0})
    assert (projected.name, projected.note, projected.inner, projected.inners) == (
        "d",
        None,
        None,
        [],
    )


def test_a_missing_attribute_is_an_attribute_error() -> None:
    projected = OUTER.of(Source(name="a"))
    try:
        projected.note  # noqa: B018
    except AttributeError:
        pass
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")
    assert not hasattr(projected, "no_such_field")
