"""The executor's short way through plain fields answers exactly what graphql-core's own path
answers: the same data, the same errors at the same paths, nulls propagated to the same parent,
for sync and async resolvers under plain objects and lists of them."""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any

import pytest
import strawberry
from graphql.pyutils import Undefined
from strawberry.types import ExecutionResult

from app.api.graphql.executor import bounded_executor


@strawberry.enum
class Kind(Enum):
    SHELTER = "shelter"
    MEDICAL = "medical"


@strawberry.type
class Leaf:
    name: str
    note: str | None
    tags: list[str]
    kinds: list[Kind] = strawberry.field(default_factory=lambda: [Kind.SHELTER, Kind.MEDICAL])
    maybe_kinds: list[Kind | None] = strawberry.field(default_factory=lambda: [None, Kind.MEDICAL])
    bad_kinds: list[Kind] = strawberry.field(default_factory=lambda: ["nope"])
    kind: Kind = Kind.SHELTER
    raw_kind: Kind = "medical"  # type: ignore[assignment] # the value, as a row holds it
    bad_kind: Kind = "nope"  # type: ignore[assignment]
    raw_kinds: list[Kind] = strawberry.field(default_factory=lambda: ["shelter", "medical"])

    @strawberry.field
    def broken(self) -> str | None:
        raise ValueError("no")

    @strawberry.field
    async def later(self) -> str:
        await asyncio.sleep(0)
        return self.name.upper()

    @strawberry.field
    def strict(self) -> str:
        return None  # type: ignore[return-value] # a null where the type allows none


READY_CALLS: list[int] = []


def _when_ready(branch: Branch, context: Any, arguments: dict[str, Any]) -> Any:
    """What the executor may use instead of calling `pick`: the answer for first=1 only."""
    first = arguments["first"]
    if first == 3:
        raise ValueError("left to the resolver")
    READY_CALLS.append(first)
    return branch.many[0] if first == 1 and branch.many else Undefined


def _pick(self: Branch, first: int = 1) -> Leaf | None:
    if first == 3:
        raise ValueError("three")
    return self.many[first - 1] if len(self.many) >= first else None


_pick.__graphql_ready__ = _when_ready  # type: ignore[attr-defined]


@strawberry.type
class Branch:
    label: str
    one: Leaf | None
    must: Leaf
    many: list[Leaf]
    maybe_many: list[Leaf | None] | None
    pick: Leaf | None = strawberry.field(resolver=_pick)


@strawberry.type
class Query:
    @strawberry.field
    def branches(self) -> list[Branch]:
        return BRANCHES

    @strawberry.field
    def lenient(self) -> list[Branch | None]:
        return list(BRANCHES)


def leaf(name: str, note: str | None = None) -> Leaf:
    return Leaf(name=name, note=note, tags=[name, "x"])


BRANCHES: list[Branch] = []


def reset(*branches: Branch) -> None:
    BRANCHES[:] = branches


def both(query: str) -> tuple[ExecutionResult, ExecutionResult]:
    ordinary = strawberry.Schema(query=Query)
    short = strawberry.Schema(
        query=Query, execution_context_class=bounded_executor(1 << 20, hide_suggestions=False)
    )

    async def run() -> tuple[ExecutionResult, ExecutionResult]:
        return await ordinary.execute(query), await short.execute(query)

    return asyncio.run(run())


def _errors(result: ExecutionResult) -> list[tuple[str, tuple[str | int, ...]]]:
    return sorted((e.message, tuple(e.path or ())) for e in result.errors or [])


def same(query: str) -> Any:
    expected, got = both(query)
    assert got.data == expected.data
    assert _errors(got) == _errors(expected)
    return got


GOOD = Branch(
    label="a",
    one=leaf("one", "n"),
    must=leaf("must"),
    many=[leaf("m1"), leaf("m2")],
    maybe_many=[leaf("mm"), None],
)


@pytest.mark.parametrize(
    "query",
    [
        "{ branches { label one { name note tags } must { name } many { name tags } } }",
        "{ branches { maybeMany { name } } }",
        "{ branches { many { name later } one { later } } }",  # async under plain objects
        "{ branches { many { broken name } } }",  # errors at the leaf's own path
        "{ lenient { many { strict } } }",  # non-null error: nulls the nearest nullable
        "{ lenient { must { strict } one { strict } } }",
        "{ branches { a: many { name } b: many { n: name later } } }",
        "{ branches { many { kinds maybeKinds } one { kinds } } }",  # lists of enums
        "{ lenient { many { badKinds } } }",  # a value the enum refuses: reported as the core does
        # selections of single leaves only, completed in one pass (objects and lists of them)
        "{ branches { one { name note } must { name note } many { name note } } }",
        "{ branches { one { kind rawKind rawKinds } many { kind rawKind name } } }",
        "{ lenient { one { name badKind } many { badKind } } }",  # refused: the ordinary path
        "{ lenient { many { name strict } must { note strict } } }",  # a null where none may be
        "{ branches { pick { name } two: pick(first: 2) { name } x: pick(first: 3) { name } } }",
    ],
)
def test_plain_fields_answer_as_graphql_core_does(query: str) -> None:
    reset(GOOD, Branch(label="b", one=None, must=leaf("m"), many=[], maybe_many=None))
    same(query)


def test_nulls_where_none_are_allowed_are_reported_as_graphql_core_reports_them() -> None:
    bad_must = Branch(label="c", one=None, must=None, many=[], maybe_many=None)  # type: ignore[arg-type]
    bad_item = Branch(label="d", one=None, must=leaf("m"), many=[None], maybe_many=None)  # type: ignore[list-item]
    reset(GOOD, bad_must, bad_item)
    result = same("{ lenient { label must { name } many { name } } }")
    assert result.data["lenient"][0]["label"] == "a"
    assert result.data["lenient"][1:] == [None, None]
    reset(GOOD, bad_must)
    result = same("{ branches { must { name } } }")
    assert result.data is None  # up to the root: branches is [Branch!]!


def test_a_page_of_plain_objects_is_completed_without_graphql_cores_field_path() -> None:
    """The point of it: plain objects and leaves don't go through execute_field."""
    calls = 0
    executor = bounded_executor(1 << 20, hide_suggestions=False)

    class Counting(executor):  # type: ignore[misc,valid-type]
        def execute_field(self, *args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            return super().execute_field(*args, **kwargs)

    reset(*[GOOD] * 20)
    schema = strawberry.Schema(query=Query, execution_context_class=Counting)
    result = schema.execute_sync("{ branches { label one { name tags } many { name } } }")
    assert result.errors is None
    assert calls == 1  # `branches` has a resolver; everything under it is plain


def test_the_response_cap_holds_on_the_short_way() -> None:
    from app.api.graphql.limits import too_costly

    reset(*[Branch(label="l" * 500, one=None, must=leaf("m"), many=[], maybe_many=None)] * 100)
    schema = strawberry.Schema(
        query=Query, execution_context_class=bounded_executor(20_000, hide_suggestions=False)
    )
    result = schema.execute_sync("{ lenient { label must { name } } }")
    assert result.errors and all(too_costly(e) for e in result.errors)
    # about 520 bytes a branch: the cap is passed near the 38th, and nothing after it resolves
    first = result.errors[0].path
    assert first is not None and first[0] == "lenient" and 30 < int(first[1]) < 40
    small = schema.execute_sync("{ lenient { must { name } } }")
    assert small.errors is None


def test_converted_arguments_are_remembered_only_when_immutable_and_handed_out_as_copies() -> None:
    from strawberry.schema import schema_converter

    from app.api.graphql import executor

    calls = 0

    @strawberry.type
    class Q:
        @strawberry.field
        def page(self, first: int = 3, label: str | None = None) -> str:
            nonlocal calls
            calls += 1
            return f"{first}:{label}"

    schema = strawberry.Schema(query=Q)
    assert getattr(schema_converter, "convert_arguments") is executor._convert_arguments  # noqa: B009
    executor._CONVERTED.clear()
    for _ in range(3):
        result = schema.execute_sync('{ a: page(first: 5, label: "x") b: page }')
        assert result.data == {"a": "5:x", "b": "3:None"}
    assert calls == 6
    assert len(executor._CONVERTED) == 2  # one per distinct set of values
    remembered = next(iter(executor._CONVERTED.values()))[1]
    copy = executor._convert_arguments({"first": 5, "label": "x"}, *_page_arguments(schema))
    assert copy == remembered and copy is not remembered


def _page_arguments(schema: strawberry.Schema) -> tuple[Any, Any, Any]:
    field = schema.get_type_by_name("Q").fields[0]  # type: ignore[union-attr]
    return field.arguments, schema.schema_converter.scalar_registry, schema.config


def test_a_resolver_answered_when_ready_is_answered_without_a_call() -> None:
    reset(GOOD, GOOD)
    READY_CALLS.clear()
    same("{ branches { pick { name } } }")
    assert READY_CALLS == [1, 1]  # the short way (and the ordinary schema never asks)
