"""The GraphQL cost, depth and alias measures on their own: what they count, and that no document
makes them slow."""

from __future__ import annotations

import time
from typing import Any

import pytest
from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    OperationDefinitionNode,
    get_named_type,
    parse,
    validate,
)
from graphql import build_schema as build_graphql_schema
from graphql import execute as graphql_execute

from app.api.graphql.connections import DEFAULT_FIRST, MAX_FIRST
from app.api.graphql.executor import bounded_executor
from app.api.graphql.limits import (
    Limits,
    Measure,
    _longest_name,
    document_limits_rule,
    operation_cost,
    too_costly,
)
from app.api.graphql.schema import build_schema
from app.api.graphql.sizes import CHAR_BYTES, ERROR_BYTES, field_sizes
from app.api.schemas.cases import UpdateCreate
from app.domain.updates import MAX_DETAILS_BYTES
from app.domain.vocabulary import ServiceKind
from app.settings import Settings
from bench.graphql_vs_rest import QUERY as BENCH_QUERY
from tests.graphql.test_batching import PAGE as BATCH_PAGE

SCHEMA = build_schema(production=False)._schema
DEFAULTS = Limits()


def measure(
    query: str, variables: dict[str, Any] | None = None, limits: Limits | None = None
) -> Measure:
    document = parse(query)
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    limits = limits or Limits(max_cost=10**12, max_response_bytes=10**15)
    return operation_cost(SCHEMA, document, operation, variables, limits)


def cost(query: str, variables: dict[str, Any] | None = None, ceiling: int = 10**12) -> int:
    return measure(query, variables, Limits(max_cost=ceiling, max_response_bytes=10**15)).fields


def size(query: str, variables: dict[str, Any] | None = None, **limits: int) -> int:
    return measure(
        query, variables, Limits(max_cost=10**12, max_response_bytes=10**15, **limits)
    ).bytes


ONE = "case(id: $id) { updates(first: 100) { edges { node { details } } } }"
ATTACK = "query ($id: UUID!) { " + " ".join(f"a{i}: {ONE}" for i in range(15)) + " }"


def limit_errors(query: str) -> list[str]:
    return [e.message for e in validate(SCHEMA, parse(query), [document_limits_rule(DEFAULTS)])]


def fragment_bomb(levels: int) -> str:
    """Each fragment spreads the next twice: 2**levels spreads, in a few hundred tokens."""
    fragments = " ".join(
        f"fragment F{i} on Organization {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    return f"{{ me {{ ...F0 }} }} {fragments} fragment F{levels} on Organization {{ id name }}"


class TestCost:
    def test_fields_count_once_each_and_pages_multiply(self) -> None:
        assert cost("{ me { id name } }") == 3
        # cases(1) + 10 x (edges + node + id)
        assert cost("{ cases(first: 10) { edges { node { id } } } }") == 1 + 10 * 3
        nested = (
            "{ cases(first: 10) { edges { node { updates(first: 4) { edges { cursor } } } } } }"
        )
        assert cost(nested) == 1 + 10 * (2 + 1 + 4 * 2)

    def test_absent_first_is_the_default_page_and_first_is_capped(self) -> None:
        assert cost("{ cases { edges { cursor } } }") == 1 + DEFAULT_FIRST * 2
        # out of range is refused by the resolver: it costs the most it could
        assert cost("{ cases(first: 1000000) { edges { cursor } } }") == 1 + MAX_FIRST * 2
        assert cost("{ cases(first: 0) { edges { cursor } } }") == 1 + 1 * 2

    def test_variables_and_their_defaults_give_the_page(self) -> None:
        query = "query ($n: Int! = 3) { cases(first: $n) { edges { cursor } } }"
        assert cost(query) == 1 + 3 * 2
        assert cost(query, {"n": 40}) == 1 + 40 * 2
        assert cost(query, {"n": "lots"}) == 1 + MAX_FIRST * 2  # refused later; worst case

    def test_aliases_add_up_and_fragments_are_resolved(self) -> None:
        assert cost(ATTACK) == 15 * (1 + 1 + 100 * 3)
        with_fragment = (
            "query ($id: UUID!) { case(id: $id) { ...U } } "
            "fragment U on Case { updates(first: 100) { edges { node { details } } } }"
        )
        assert cost(with_fragment) == 1 + 1 + 100 * 3
        inline = "{ me { ... on Organization { id name } } }"
        assert cost(inline) == 3

    def test_counting_stops_past_the_ceiling(self) -> None:
        huge = "{ cases(first: 100) { edges { node { referrals(first: 100) { edges { node { " + (
            "case { updates(first: 100) { edges { node { id summary details } } } } } } } } } } }"
        )
        started = time.perf_counter()
        assert cost(huge, ceiling=1_000) > 1_000
        assert time.perf_counter() - started < 5  # exponential would never finish

    def test_a_fragment_bomb_costs_what_execution_does_and_is_quick(self) -> None:
        started = time.perf_counter()
        # a spread repeated in one selection is merged by execution: me + id + name
        assert cost("query " + fragment_bomb(150)) == 3
        assert time.perf_counter() - started < 5  # exponential would never finish

    def test_the_normal_pages_fit_the_default_limit(self) -> None:
        """The benchmark's 50 cases with their referrals, and the batching test's page (50
        cases, each with 10 updates' summaries) in fields and in bytes."""
        for query, variables in ((BENCH_QUERY, None), (BATCH_PAGE, {"first": 50})):
            found = measure(query, variables)
            assert found.fields < DEFAULTS.max_cost
            assert found.bytes < DEFAULTS.max_response_bytes
        assert cost(BATCH_PAGE, {"first": 100}) < DEFAULTS.max_cost

    def test_settings_defaults_are_the_limits_defaults(self, tmp_path: Any) -> None:
        settings = Settings(data_dir=tmp_path)
        assert settings.graphql_max_cost == DEFAULTS.max_cost
        assert settings.graphql_max_response_bytes == DEFAULTS.max_response_bytes
        assert settings.max_details_bytes == DEFAULTS.max_details_bytes == MAX_DETAILS_BYTES

    def test_details_larger_than_a_body_are_refused(self, tmp_path: Any) -> None:
        with pytest.raises(ValueError, match="MAX_DETAILS_BYTES"):
            Settings(data_dir=tmp_path, max_body_bytes=8192, max_details_bytes=16384)

    def test_a_response_cap_below_the_body_limit_is_refused(self, tmp_path: Any) -> None:
        with pytest.raises(ValueError, match="GRAPHQL_MAX_RESPONSE_BYTES"):
            Settings(
                data_dir=tmp_path, max_body_bytes=4 * 1024 * 1024, graphql_max_response_bytes=65536
            )


class TestSize:
    def test_attack_could_outgrow_the_cap_and_one_page_of_it_fits(self) -> None:
        """The reported attack weighs 15 x 100 x details at the most: refused before it runs."""
        attack = size(ATTACK)
        assert attack > 15 * 100 * DEFAULTS.max_details_bytes > DEFAULTS.max_response_bytes
        one = size("query ($id: UUID!) { " + ONE + " }")
        assert 100 * DEFAULTS.max_details_bytes < one < DEFAULTS.max_response_bytes
        # the bound follows the setting
        assert size(ATTACK, max_details_bytes=1024) < DEFAULTS.max_response_bytes

    def test_fields_weigh_their_bounds(self) -> None:
        sizes = field_sizes(SCHEMA, DEFAULTS.max_details_bytes)
        summary = UpdateCreate.model_fields["summary"].metadata[0].max_length
        assert sizes["CaseUpdate", "summary"].value == summary * CHAR_BYTES + 2
        assert sizes["CaseUpdate", "details"].value == DEFAULTS.max_details_bytes
        assert sizes["Case", "id"].value == len('"00000000-0000-0000-0000-000000000000"')
        # a string costs its most, and pages multiply it
        query = "{ cases(first: 10) { edges { node { FIELD } } } }"
        grown = size(query.replace("FIELD", "closeReason")) - size(
            query.replace("FIELD", "isMinor")
        )
        # (closeReason has a resolver, opening the sealed text: it could fail, an error's bytes)
        weight = len("closeReason") - len("isMinor") + 500 * CHAR_BYTES + 2 - 5 + ERROR_BYTES
        assert grown == 10 * weight

    def test_short_lists_of_objects_count_per_item(self) -> None:
        # capacity holds at most one entry per service kind
        assert cost("{ me { capacity { service } } }") == 1 + 1 + len(ServiceKind) * 1

    def test_long_aliases_weigh_what_they_add(self) -> None:
        alias = "a" * 1_000
        plain = "{ cases(first: 100) { edges { node { id } } } }"
        aliased = plain.replace("{ id }", "{ " + alias + ": id }")
        assert size(aliased) - size(plain) == 100 * (len(alias) - len("id"))

    def test_a_field_without_a_bound_is_refused_when_the_schema_is_built(self) -> None:
        unbounded = build_graphql_schema("type Query { note: String }")
        with pytest.raises(ValueError, match=r"Query\.note"):
            field_sizes(unbounded, 1024)


class TestDepthAndAliases:
    def test_depth_counts_fields_with_selections_through_fragments(self) -> None:
        ok = (
            "{ cases { edges { node { referrals { edges { node { case { updates { edges "
            "{ node { id } } } } } } } } } } }"
        )
        assert limit_errors(ok) == []
        via_fragment = (
            "{ cases { edges { node { referrals { edges { node { case { ...C } } } } } } } } "
            "fragment C on Case { referrals { edges { node { case { referrals { edges "
            "{ node { id } } } } } } } }"
        )
        assert limit_errors(via_fragment) == [
            f"'anonymous' exceeds maximum operation depth of {DEFAULTS.max_depth}"
        ]

    def test_aliases_in_fragments_count_where_spread(self) -> None:
        fragment = "fragment A on Organization { " + " ".join(f"a{i}: id" for i in range(8)) + " }"
        assert limit_errors("{ me { ...A } } " + fragment) == []
        errors = limit_errors("{ x: me { ...A } y: me { ...A } } " + fragment)
        assert errors == [f"18 aliases found. Allowed: {DEFAULTS.max_aliases}"]

    def test_a_fragment_bomb_is_measured_in_linear_time(self) -> None:
        """Strawberry's depth and alias limiters walk every spread: 2**levels steps."""
        started = time.perf_counter()
        assert limit_errors(fragment_bomb(150)) == []
        assert time.perf_counter() - started < 5  # exponential would never finish

    def test_fragment_cycles_do_not_loop(self) -> None:
        cycle = (
            "{ me { ...F } } fragment F on Organization { id ...G } "
            "fragment G on Organization { name ...F }"
        )
        assert limit_errors(cycle) == []  # NoFragmentCyclesRule reports it


def test_every_connection_has_a_bounded_first() -> None:
    """Every list of records is a connection with `first` (default 25, at most 100), so the
    cost measure sees every page; other lists are small value lists of one record."""
    for type_ in SCHEMA.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            named = get_named_type(field.type)
            if named.name.endswith("Connection"):
                first = field.args.get("first")
                assert first is not None, f"{type_.name}.{name}"
                assert first.default_value == DEFAULT_FIRST, f"{type_.name}.{name}"
            inner = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            if isinstance(inner, GraphQLList) and isinstance(named, GraphQLObjectType):
                assert type_.name.endswith("Connection") or name in BOUNDED_OBJECT_LISTS, (
                    f"{type_.name}.{name} is an unbounded list"
                )


# lists of objects that are not connections: small, bounded by the write models
BOUNDED_OBJECT_LISTS = {
    "capacity",
    "documents",
    "protectiveMeasures",
    "grantedBy",
    "progress",  # a goal's history: at most MAX_PROGRESS_ENTRIES
    "codes",  # a service record's codes: at most ServiceIn's max_length
    # a report's breakdowns: a cell for each value of a vocabulary (app.domain.reports)
    "byAgeBand",
    "byGender",
    "byExploitationType",
    "byStatus",
    "byService",
    "bySetting",
    "byExitReason",
    "byOutcome",
}


def test_schemas_built_with_other_limits_describe_the_same_api() -> None:
    """Each schema applies the field extensions again: a scope note must not repeat."""
    other = build_schema(production=True, limits=Limits(max_cost=500)).as_str()
    assert other == build_schema(production=False).as_str()
    assert "Needs scope `cases:read`. Needs scope" not in other


class TestResponseCap:
    SDL = "type Query { items: [Item] } type Item { text: String bad: String }"

    def run(self, query: str, items: list[Any], cap: int = 64 * 1024) -> Any:
        schema = build_graphql_schema(self.SDL)
        return graphql_execute(
            schema,
            parse(query),
            root_value={"items": items},
            executor_class=bounded_executor(cap, hide_suggestions=False),
        )

    def test_leaf_values_count(self) -> None:
        items = [Item("é" * 1_000) for _ in range(40)]  # 2 bytes each in UTF-8: 80 kB
        result = self.run("{ items { text } }", items)
        # graphql-core nulls the field; the ErrorMasker then drops the data (HTTP tests)
        # 33 of 2 kB: the 33rd passes the cap; nothing after it is resolved
        assert result.errors[0].path == ["items", 32, "text"]
        assert all(too_costly(e) for e in result.errors)
        assert self.run("{ items { text } }", items[:30]).errors is None  # 60 kB

    def test_field_errors_count(self) -> None:
        """A thousand small errors are a large response too."""
        result = self.run("{ items { bad } }", [Item("") for _ in range(1_000)])
        assert any(too_costly(e) for e in result.errors)
        small = self.run("{ items { bad } }", [Item("") for _ in range(100)])
        assert len(small.errors) == 100 and not any(too_costly(e) for e in small.errors)


class Item:
    def __init__(self, text: str) -> None:
        self.text = text

    @property
    def bad(self) -> str:
        raise ValueError("no")


def test_argument_values_are_coerced_once_per_field_node_and_variables() -> None:
    """(Different variables for one cached document: tests/graphql/test_queries.py pages
    through one query text with a changing ``$after``.)"""
    from graphql import build_schema, parse

    from app.api.graphql import executor

    def field_node(query: str) -> Any:
        return parse(query).definitions[0].selection_set.selections[0]  # type: ignore[attr-defined]

    schema = build_schema("type Query { page(first: Int = 20, after: String): Int }")
    field = schema.query_type.fields["page"]  # type: ignore[union-attr]
    three, default = field_node("{ page(first: 3) }"), field_node("{ page }")
    first = executor._argument_values(field, three)
    assert first == {"first": 3}
    assert executor._argument_values(field, three) is first  # remembered for these objects
    assert executor._argument_values(field, default) == {"first": 20}
    assert executor._argument_values(field, three, None, None) is first


@pytest.mark.parametrize("no_location", [False, True])
def test_the_longest_name_of_a_document(no_location: bool) -> None:
    """Every kind of name counts (operation, variable, alias, field, argument, fragment), with
    or without the tokens a parse keeps."""
    names = {
        "operation": "query {n}($v: Int) {{ me {{ id }} }}",
        "variable": "query Q(${n}: Int) {{ me {{ id }} }}",
        "alias": "{{ {n}: me {{ id }} }}",
        "field": "{{ me {{ {n} }} }}",
        "argument": "{{ cases({n}: 1) {{ edges {{ cursor }} }} }}",
        "fragment": "{{ me {{ ...{n} }} }} fragment {n} on Organization {{ id }}",
        "directive": "{{ me @{n} {{ id }} }}",
    }
    for kind, text in names.items():
        document = parse(text.format(n="x" * 300), no_location=no_location)
        assert _longest_name(document) == 300, kind
