"""What one operation may cost: limits checked before it runs, and a cap while it runs.

Before anything runs (all linear in the document, with each fragment measured once, so no
document can make the checks themselves slow):

- **Depth** (validation): at most ``max_depth`` fields with a selection nested on any path (a
  connection costs two: ``edges { node }``). Introspection fields are not counted.
- **Aliases** (validation): at most ``max_aliases`` in the whole document, fragments counted
  wherever they are spread.
- **Cost and size** (just before execution, with the request's variables), in one walk:
  every field the response could hold counts one (the work), and the most bytes it could weigh
  (its name, and its value at the most :mod:`sizes` allows: a string's ``max_length``, a
  ``details`` of ``max_details_bytes``, …). Everything selected under a connection counts once
  per item of its page — ``first`` as given (literal, variable, the variable's default), else
  the field's default (25), and at most 100 (the resolvers refuse more) — and under a short
  list of objects once per item it may hold. Aliases add up; a fragment spread twice in one
  selection counts once, as execution merges it. Above ``max_cost`` fields, or when the
  response could outgrow ``max_response_bytes``, the operation is refused with
  ``query_too_costly`` and nothing runs.
- **One operation**: a document with several operations must name the one to run
  (``operationName``), as the GraphQL spec requires; the router answers 400 otherwise.

While it runs, :func:`bounded_executor` counts the bytes the response is growing to (each
field's name, every leaf value as JSON, every field error). Once they pass
``max_response_bytes`` no further field resolves and the whole answer becomes one
``query_too_costly`` error: a response is never built past the cap, whatever the stored data
weighs. This is the backstop for what the static bound cannot know: rows written before their
fields were bounded, or under larger settings, and error messages longer than estimated.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
)
from graphql.language import NameNode, Node, Token, TokenKind
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError

from app.api.graphql.connections import MAX_FIRST
from app.api.graphql.sizes import ERROR_BYTES, FIELD_BYTES, UNKNOWN, FieldSize, field_sizes

QUERY_TOO_COSTLY = "query_too_costly"
PAGE_ARGUMENT = "first"


@dataclass(frozen=True, slots=True)
class Limits:
    max_depth: int = 12
    max_aliases: int = 15
    max_tokens: int = 2_000
    max_name_length: int = 128
    max_cost: int = 100_000
    max_response_bytes: int = 8 * 1024 * 1024
    max_details_bytes: int = 16_384


class QueryTooCostly(GraphQLError):
    """The operation would cost more than the limits allow (``extensions.code``
    ``query_too_costly``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": QUERY_TOO_COSTLY})


class AmbiguousOperation(CannotGetOperationTypeError):
    """Several operations and no ``operationName``: which one to run is not known."""

    def __init__(self) -> None:
        super().__init__(None)

    def as_http_error_reason(self) -> str:
        return "The document has several operations: name the one to run in `operationName`"


def too_costly(error: GraphQLError) -> bool:
    return isinstance(error, QueryTooCostly) or isinstance(error.original_error, QueryTooCostly)


def response_too_large(max_bytes: int) -> QueryTooCostly:
    return QueryTooCostly(
        f"The response would exceed {max_bytes:,} bytes: ask for smaller pages (`first`) "
        "or fewer fields"
    )


# --- depth and aliases (validation; cached with the document) -------------------------------


class _Shape:
    """Depth and alias count of selection sets, each fragment measured once."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._depths: dict[str, int] = {}
        self._aliases: dict[str, int] = {}
        self._open: set[str] = set()  # fragments being measured (a cycle, reported elsewhere)

    def depth(self, selection_set: SelectionSetNode) -> int:
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.selection_set and not selection.name.value.startswith("__"):
                    deepest = max(deepest, 1 + self.depth(selection.selection_set))
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, self.depth(selection.selection_set))
            elif isinstance(selection, FragmentSpreadNode):
                deepest = max(deepest, self._fragment(selection.name.value, self._depths))
        return deepest

    def aliases(self, selection_set: SelectionSetNode) -> int:
        count = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                count += selection.alias is not None
                if selection.selection_set:
                    count += self.aliases(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                count += self.aliases(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                count += self._fragment(selection.name.value, self._aliases)
        return count

    def _fragment(self, name: str, memo: dict[str, int]) -> int:
        if name in memo:
            return memo[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self._open:
            return 0
        self._open.add(name)
        try:
            measure = self.depth if memo is self._depths else self.aliases
            memo[name] = measure(fragment.selection_set)
        finally:
            self._open.discard(name)
        return memo[name]


def document_limits_rule(limits: Limits) -> type[ValidationRule]:
    class DocumentLimits(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            shape = _Shape(context.document)
            operations = [
                d for d in context.document.definitions if isinstance(d, OperationDefinitionNode)
            ]
            for operation in operations:
                if shape.depth(operation.selection_set) > limits.max_depth:
                    name = operation.name.value if operation.name else "anonymous"
                    context.report_error(
                        GraphQLError(
                            f"'{name}' exceeds maximum operation depth of {limits.max_depth}",
                            operation,
                        )
                    )
            aliases = sum(shape.aliases(o.selection_set) for o in operations)
            if aliases > limits.max_aliases:
                context.report_error(
                    GraphQLError(f"{aliases} aliases found. Allowed: {limits.max_aliases}")
                )

    return DocumentLimits


# --- cost (before execution, with the variables) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Measure:
    fields: int  # the most fields the response could hold
    bytes: int  # the most bytes of JSON it could weigh


class _Cost:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: Mapping[str, Any],
        limits: Limits,
    ) -> None:
        self.schema = schema
        self.sizes = field_sizes(schema, limits.max_details_bytes)
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = dict(variables)
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and isinstance(definition.default_value, IntValueNode):
                self.variables[name] = int(definition.default_value.value)
        self.max_fields = limits.max_cost
        self.max_bytes = limits.max_response_bytes
        self.fields = 0
        self.bytes = 0

    def page(self, parent: GraphQLNamedType | None, node: FieldNode) -> int:
        fields = getattr(parent, "fields", None)
        definition = fields.get(node.name.value) if fields else None
        argument = definition.args.get(PAGE_ARGUMENT) if definition else None
        if argument is None:
            return 1
        value: Any = argument.default_value
        for given in node.arguments or ():
            if given.name.value != PAGE_ARGUMENT:
                continue
            if isinstance(given.value, IntValueNode):
                value = int(given.value.value)
            elif isinstance(given.value, VariableNode):
                value = self.variables.get(given.value.name.value, value)
            else:
                value = None
        if not isinstance(value, int) or isinstance(value, bool):
            return MAX_FIRST  # not a number: it will be refused, count the worst
        return min(max(value, 1), MAX_FIRST)

    def child_type(self, parent: GraphQLNamedType | None, node: FieldNode) -> GraphQLNamedType:
        fields = getattr(parent, "fields", None)
        definition = fields.get(node.name.value) if fields else None
        return get_named_type(definition.type) if definition else None  # type: ignore[return-value]

    def size(self, parent: GraphQLNamedType | None, node: FieldNode) -> FieldSize:
        if parent is None:
            return UNKNOWN
        return self.sizes.get((parent.name, node.name.value), UNKNOWN)

    def over(self) -> bool:
        return self.fields > self.max_fields or self.bytes > self.max_bytes

    def walk(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType | None,
        multiplier: int,
        seen: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if self.over():
                return  # already refused: stop counting (the counts only grow)
            if isinstance(selection, FieldNode):
                size = self.size(parent, selection)
                key = selection.alias or selection.name
                weight = len(key.value) + FIELD_BYTES + size.value
                self.fields += multiplier
                self.bytes += multiplier * (weight + (ERROR_BYTES if size.fails else 0))
                if selection.selection_set:
                    self.walk(
                        selection.selection_set,
                        self.child_type(parent, selection),
                        multiplier * self.page(parent, selection) * size.items,
                        set(),
                    )
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on = self.schema.get_type(condition.name.value) if condition else parent
                self.walk(selection.selection_set, on, multiplier, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if name in seen or fragment is None:
                    continue  # execution merges a repeated spread into the first
                seen.add(name)
                on = self.schema.get_type(fragment.type_condition.name.value)
                self.walk(fragment.selection_set, on, multiplier, seen)


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Mapping[str, Any] | None,
    limits: Limits,
) -> Measure:
    """The most fields the operation's response could hold and the most bytes it could weigh;
    counting stops once either is past its limit (the result is then only known to be above)."""
    cost = _Cost(schema, document, operation, variables or {}, limits)
    root: GraphQLObjectType | None = schema.get_root_type(operation.operation)
    cost.walk(operation.selection_set, root, 1, set())
    return Measure(cost.fields, cost.bytes)


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name is not None and definition.name.value == name)
        ):
            return definition
    return None


def _longest_name(document: DocumentNode) -> int:
    """The longest name in the document: a walk of its tokens (at most ``max_tokens``; a
    visitor object would leave a reference cycle behind each request)."""
    if document.loc is None:  # (parsed without locations: no tokens, walk the nodes)
        return max(_name_lengths(document), default=0)
    longest = 0
    token: Token | None = document.loc.start_token
    while token is not None:
        if token.kind is TokenKind.NAME and token.value is not None:
            longest = max(longest, len(token.value))
        token = token.next
    return longest


def _name_lengths(node: Node) -> Iterator[int]:
    for key in node.keys:
        value = getattr(node, key, None)
        for child in value if isinstance(value, tuple | list) else (value,):
            if isinstance(child, NameNode):
                yield len(child.value)
            elif isinstance(child, Node):
                yield from _name_lengths(child)


class OperationLimits(SchemaExtension):
    """One operation to run, and within the cost limit, before anything executes."""

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self.limits = limits
        self.named: str | None = None

    def on_operation(self) -> Iterator[None]:
        # before parsing, this is the operationName the request gave (or None)
        self.named = self.execution_context.operation_name
        yield

    def on_parse(self) -> Iterator[None]:
        yield
        document = self.execution_context.graphql_document
        if document is not None and _longest_name(document) > self.limits.max_name_length:
            # Validation and execution errors repeat names (an operation's in each unused
            # variable's message, every alias of a field's path in each of its errors): a long
            # one would make a small request's errors weigh megabytes before the cap stops them.
            raise GraphQLError(
                "A name (of an operation, fragment, variable, alias or argument) is longer than "
                f"{self.limits.max_name_length} characters"
            )
        if self.named is None and document is not None:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                raise AmbiguousOperation

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operation = _operation(document, self.named) if document else None
        if document is not None and operation is not None:
            limits = self.limits
            cost = _cached_cost(
                context.schema._schema,
                context.query,
                document,
                operation,
                self.named,
                context.variables,
                limits,
            )
            if cost.fields > limits.max_cost:
                raise QueryTooCostly(
                    f"The operation could return more than {limits.max_cost:,} fields (each "
                    "connection's fields count once per item of its page, `first`): ask for "
                    "smaller pages or fewer fields"
                )
            if cost.bytes > limits.max_response_bytes:
                raise QueryTooCostly(
                    f"The response could exceed {limits.max_response_bytes:,} bytes (each field "
                    "counts the most it may hold, once per item of its page, `first`): ask for "
                    "smaller pages or fewer fields"
                )
        yield


# Partners send the same few operations all day: their costs, by query text, operation name
# and what the variables mean to the cost (each one's page size; anything else counts the
# most), for these limits and this schema. Bounded; the oldest entry goes first.
_COSTS: dict[tuple[Any, ...], Measure] = {}
COST_CACHE_SIZE = 256


def _page_value(value: Any) -> int | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None  # counted as the largest page
    return min(max(value, 1), MAX_FIRST)


def _cached_cost(
    schema: GraphQLSchema,
    query: str | None,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    named: str | None,
    variables: Mapping[str, Any] | None,
    limits: Limits,
) -> Measure:
    if query is None:
        return operation_cost(schema, document, operation, variables, limits)
    pages = tuple(sorted((k, _page_value(v)) for k, v in (variables or {}).items()))
    key = (id(schema), limits, query, named, pages)
    cost = _COSTS.get(key)
    if cost is None:
        cost = operation_cost(schema, document, operation, variables, limits)
        if len(_COSTS) >= COST_CACHE_SIZE:
            del _COSTS[next(iter(_COSTS))]
        _COSTS[key] = cost
    return cost
