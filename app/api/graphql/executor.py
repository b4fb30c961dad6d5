"""The executor: graphql-core's (as Strawberry configures it), with a cap on the response it
builds and a short way through the fields that need no resolver.

**The cap.** While an operation runs, the executor counts the bytes the response is growing to
(each field's name, every leaf value as JSON, every field error). Once they pass
``max_response_bytes`` no further field resolves and the whole answer becomes one
``query_too_costly`` error (:mod:`app.api.graphql.limits` explains the static limits this backs
up).

**Plain fields.** Most of a page's fields are *plain*: no resolver of their own (Strawberry's
attribute getter), no arguments, no directives — a case's ``id`` and ``status``, a
connection's ``edges``, an edge's ``node``. graphql-core executes each of them as it executes
any field: resolve info, path, argument check, resolver call, then ``complete_value`` through
the type's wrappers, then the sub-selection. Here a plain field is planned once per selection
(``_plan``) and completed in place: a leaf is read and serialised; an object (or a list of
objects) is read and its sub-selection executed straight away. What the ordinary path would
report as an error (a null where the type allows none, a value of the wrong type) is left to
the ordinary path, which reports it exactly as graphql-core does: nothing is done before that
check that would have to be undone (only attribute reads happen before it).

Fields with a resolver (``referrals(first: …)``, ``survivor``), arguments or directives go the
ordinary way, so scopes (``RequireScopes``), loaders and errors work as everywhere else. For
them, the arguments' coercion (graphql-core) and conversion (Strawberry) are remembered per field
and values, since a field under a page of 50 cases is resolved 50 times with the same ones.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum
from functools import partial
from itertools import repeat
from operator import attrgetter, is_
from typing import Any, TypeVar, cast, final
from uuid import UUID

import orjson
from graphql import (
    GraphQLEnumType,
    GraphQLID,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfoHelpers,
    GraphQLScalarType,
    GraphQLString,
)
from graphql.execution import Executor
from graphql.execution import executor as core_executor
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema import schema_converter as strawberry_converter
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import convert_arguments

from app.api.graphql.field_extensions import RequireScopes
from app.api.graphql.limits import QueryTooCostly, response_too_large
from app.api.graphql.sizes import ERROR_BYTES

# --- the response cap ---------------------------------------------------------------------------


def _leaf_bytes(value: Any) -> int:
    if isinstance(value, str):
        return (len(value) if value.isascii() else len(value.encode())) + 2
    if isinstance(value, bool | int | float) or value is None:
        return 8
    return len(orjson.dumps(value))  # the JSON scalar (a case update's details)


# --- plain fields -------------------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True)
class _Leaf:
    """How to complete a plain leaf field: a scalar or enum, or a list of them. ``read`` takes
    the source and gives the field's value."""

    read: Callable[[Any], Any]
    leaf: GraphQLLeafType
    coerce: Callable[[Any], Any]  # the type's coerce_output_value
    non_null: bool
    is_list: bool
    items_non_null: bool
    # What coerce would answer without calling it: a value of class `same` is its own output
    # (a str for String and ID); an enum's value (or member: the vocabularies are str enums)
    # is looked up in `names`. Anything else is coerced.
    same: type | None
    names: dict[Any, str] | None
    key: str  # the response key
    name_bytes: int  # the key in the response ("key": and punctuation)


@final
@dataclass(frozen=True, slots=True)
class _Object:
    """How to complete a plain field of an object type, or a list of objects: read it, then
    execute ``fields`` (the sub-selection, as graphql-core collected it) on the value."""

    read: Callable[[Any], Any]
    object_type: GraphQLObjectType
    field_type: GraphQLOutputType  # as declared (for errors: non-null or not)
    item_type: GraphQLOutputType  # a list's item type, as declared
    non_null: bool
    is_list: bool
    items_non_null: bool
    details: Any  # the field's FieldDetailsList (for errors)
    fields: Any  # the sub-selection's GroupedFieldSet


@final
@dataclass(frozen=True, slots=True)
class _Ready:
    """How to complete a field whose resolver can answer at once when its value is already
    loaded (``resolver.__graphql_ready__``: ``(source, context, arguments)`` → the value, or
    ``Undefined`` when it is not loaded yet): no Strawberry resolver chain, no resolve info.
    When the answer is Undefined, or the token lacks a scope the field needs, or anything
    raises, the ordinary path runs the resolver as always (and reports what there is to
    report). The value, an object, is completed as a plain object is."""

    ready: Callable[[Any, Any, dict[str, Any]], Any]
    scopes: tuple[str, ...]
    field: Any  # the GraphQLField (for its arguments)
    object: _Object  # how to complete the value (its `read` unused)


_COMPLETED = (dict, list, type(None), type(Undefined))  # what is certainly not awaitable

# One entry of a selection's plan: response key, field details, and how to complete the field
# in place (None: the ordinary way).
_Step = tuple[str, Any, _Leaf | _Object | _Ready | None]


def _reader(field: Any, field_details_list: Any) -> Callable[[Any], Any] | None:
    """The plain field's value getter, or None when the field is not plain."""
    resolve = field.resolve
    if field.args or not getattr(resolve, "_is_default", False):
        return None
    if any(details.node.directives or details.node.arguments for details in field_details_list):
        return None
    definition = (field.extensions or {}).get("strawberry-definition")
    if definition is not None and definition.base_resolver is None and not definition.extensions:
        # Strawberry's resolver for such a field is getattr(source, python_name) (its default
        # resolver, which this schema keeps) behind two Python calls: read the attribute.
        return attrgetter(definition.python_name)
    return partial(resolve, info=None)


def _no_read(source: Any) -> Any:  # pragma: no cover - a _Ready's object is never read
    raise AssertionError("read through its resolver")


def _unwrap(kind: Any) -> tuple[Any, bool, bool, bool, Any]:
    """(named type, non_null, is_list, items_non_null, item type as declared)."""
    non_null = is_list = items_non_null = False
    item = kind
    if isinstance(kind, GraphQLNonNull):
        kind, non_null = kind.of_type, True
    if isinstance(kind, GraphQLList):
        kind, is_list = kind.of_type, True
        item = kind
        if isinstance(kind, GraphQLNonNull):
            kind, items_non_null = kind.of_type, True
    return kind, non_null, is_list, items_non_null, item


def _plain_leaf(name: str, field: Any, read: Callable[[Any], Any]) -> _Leaf | None:
    kind, non_null, is_list, items_non_null, _ = _unwrap(field.type)
    if not isinstance(kind, GraphQLScalarType | GraphQLEnumType):
        return None
    # graphql-core's String and ID answer a str as it is (serialize_string, serialize_id)
    same = str if kind is GraphQLString or kind is GraphQLID else None
    names: dict[Any, str] | None = None
    if isinstance(kind, GraphQLEnumType):
        names = {}
        try:
            for enum_name, enum_value in kind.values.items():  # as GraphQLEnumType's lookup
                value = enum_value.value
                names.setdefault(enum_name if value is None else value, enum_name)
        except TypeError:  # an unhashable value: coerced each time
            names = None
    return _Leaf(
        read,
        kind,
        kind.coerce_output_value,
        non_null,
        is_list,
        items_non_null,
        same,
        names,
        name,
        len(name) + 6,
    )


# graphql-core coerces a field's arguments, defaults included, again for every object it resolves
# the field on: 50 times for `referrals` on a page of 50 cases, about a tenth of such a page's
# work. The coerced values depend only on the field, its node and the request's variables, so
# they are remembered for those objects (compared by identity, so a recycled id can't match;
# bounded, so old requests' documents are let go). The resolver gets them as keyword
# arguments, i.e. a copy: nothing can change the remembered dict.
_ARGUMENTS: dict[tuple[int, int, int, int], tuple[Any, Any, Any, Any, dict[str, Any]]] = {}
_ARGUMENTS_KEPT = 1024


def _argument_values(
    field: Any,
    node: Any,
    variable_values: Any = None,
    fragment_variable_values: Any = None,
    hide_suggestions: bool = False,
) -> dict[str, Any]:
    key = (id(field), id(node), id(variable_values), id(fragment_variable_values))
    hit = _ARGUMENTS.get(key)
    if (
        hit is not None
        and hit[0] is field
        and hit[1] is node
        and hit[2] is variable_values
        and hit[3] is fragment_variable_values
    ):
        return hit[4]
    values = get_argument_values(
        field, node, variable_values, fragment_variable_values, hide_suggestions
    )
    if len(_ARGUMENTS) >= _ARGUMENTS_KEPT:
        _ARGUMENTS.clear()
    _ARGUMENTS[key] = (field, node, variable_values, fragment_variable_values, values)
    return values


# The executor looks the function up in its module on every field with arguments.
setattr(core_executor, "get_argument_values", _argument_values)  # noqa: B010

# Strawberry then converts those values to the resolver's Python types (an enum's value to the
# enum, an input object to its class), again for each of the 50 cases a `referrals` is resolved
# on. Where every value is immutable (scalars, enums: no input object or list), the conversion
# depends only on the field's arguments and the values: it is remembered, and each call gets a
# copy of the dict (Strawberry adds `info` to it).
_CONVERTED: dict[tuple[int, tuple[tuple[str, Any], ...]], tuple[Any, dict[str, Any]]] = {}
_CONVERTED_KEPT = 1024
_IMMUTABLE = (str, int, float, bool, type(None), Enum, UUID, date, Decimal)


def _convert_arguments(
    value: dict[str, Any],
    arguments: list[Any],
    scalar_registry: Any,
    config: Any,
    info: Any = None,
) -> dict[str, Any]:
    if not arguments:
        return {}
    items = tuple(value.items())
    if not all(isinstance(v, _IMMUTABLE) for _, v in items):
        return convert_arguments(value, arguments, scalar_registry, config, info)
    key = (id(arguments), items)
    hit = _CONVERTED.get(key)
    if hit is not None and hit[0] is arguments:
        return dict(hit[1])
    converted = convert_arguments(value, arguments, scalar_registry, config, info)
    if all(isinstance(v, _IMMUTABLE) for v in converted.values()):
        if len(_CONVERTED) >= _CONVERTED_KEPT:
            _CONVERTED.clear()
        _CONVERTED[key] = (arguments, converted)
        return dict(converted)
    return converted


# Strawberry's get_arguments looks it up in its module on every resolver call.
setattr(strawberry_converter, "convert_arguments", _convert_arguments)  # noqa: B010


E = TypeVar("E")


def _alive(executor: weakref.ref[E]) -> E:
    alive = executor()
    assert alive is not None, "the executor's helpers are called while it runs"
    return alive


def bounded_executor(max_response_bytes: int, *, hide_suggestions: bool) -> type[Executor[Any]]:
    """graphql-core's executor (as Strawberry configures it) that stops resolving once the
    response passes ``max_response_bytes``, completes plain fields in place, and (in
    production) leaves suggestions out of the messages it writes itself (variable values)."""

    class BoundedExecutor(StrawberryGraphQLCoreExecutionContext):
        response_bytes = 0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # graphql-core hands resolvers helpers bound to the executor, which holds them: a
            # reference cycle through which everything the request loaded (loaders, rows,
            # views, the context) outlives the request until a full garbage collection, whose
            # cost grows with them. Bound weakly, the request's objects go when it ends (the
            # executor is alive for as long as anything can call them).
            executor = weakref.ref(self)
            self.async_helpers = GraphQLResolveInfoHelpers(
                gather=lambda values: _alive(executor).gather_async_work(values),
                track=lambda values: _alive(executor).track_async_work(values),
            )

        _plans: dict[int, tuple[Any, list[_Step], tuple[_Leaf, ...] | None]] | None = None

        def _plan(
            self, parent_type: GraphQLObjectType, grouped_field_set: Any
        ) -> tuple[list[_Step], tuple[_Leaf, ...] | None]:
            """The selection's steps, and its leaves when it has only plain single leaves
            (completed in one pass, ``_complete_leaves``)."""
            # grouped_field_set is memoised (and kept alive) by collect_subfields for the whole
            # execution, so its identity names one selection of one type: plan it once.
            plans = self._plans
            if plans is None:
                plans = self._plans = {}
            cached = plans.get(id(grouped_field_set))
            if cached is not None:
                return cached[1], cached[2]
            plan: list[_Step] = []
            for name, details in grouped_field_set.items():
                field = self.schema.get_field(parent_type, details[0].node.name.value)
                plan.append((name, details, self._plain(name, field, details) if field else None))
            leaves = tuple(p for _, _, p in plan if type(p) is _Leaf and not p.is_list)
            flat = leaves if leaves and len(leaves) == len(plan) else None
            plans[id(grouped_field_set)] = (grouped_field_set, plan, flat)
            return plan, flat

        def _plain(self, name: str, field: Any, details: Any) -> _Leaf | _Object | _Ready | None:
            read = _reader(field, details)
            if read is None:
                return self._ready(field, details)
            return _plain_leaf(name, field, read) or self._object(field, details, read)

        def _ready(self, field: Any, details: Any) -> _Ready | None:
            definition = (field.extensions or {}).get("strawberry-definition")
            resolver = getattr(definition, "base_resolver", None)
            ready = getattr(getattr(resolver, "wrapped_func", None), "__graphql_ready__", None)
            if ready is None or definition is None:
                return None
            if any(each.node.directives for each in details):
                return None
            if not all(isinstance(e, RequireScopes) for e in definition.extensions):
                return None
            if isinstance(field.type, GraphQLNonNull):
                return None  # (a null would be the ordinary path's to report)
            plan = self._object(field, details, _no_read)
            if plan is None or plan.is_list:
                return None
            return _Ready(ready, RequireScopes.of(definition.extensions) or (), field, plan)

        def _object(self, field: Any, details: Any, read: Callable[[Any], Any]) -> _Object | None:
            kind, non_null, is_list, items_non_null, item = _unwrap(field.type)
            if not isinstance(kind, GraphQLObjectType) or kind.is_type_of is not None:
                return None  # interfaces and unions, or a type that checks its values
            fields, defer_usages, _ = self.collect_subfields(kind, details)
            if defer_usages:
                return None  # incremental delivery: graphql-core's own bookkeeping
            return _Object(
                read, kind, field.type, item, non_null, is_list, items_non_null, details, fields
            )

        def _complete_plain(self, leaf: _Leaf, source: Any) -> Any:
            """The completed value, or Undefined when the ordinary path must handle the field
            (a null where none is allowed, a value the type refuses: it reports the error)."""
            value = leaf.read(source)
            if value is None:
                return Undefined if leaf.non_null else None
            if not leaf.is_list:
                if value.__class__ is leaf.same:
                    coerced = value
                elif leaf.names is not None and (name := leaf.names.get(value)) is not None:
                    coerced = name
                else:
                    coerced = leaf.coerce(value)  # as Executor.complete_leaf_value
                    if coerced is None or coerced is Undefined:
                        return Undefined
                if coerced.__class__ is str and coerced.isascii():
                    self.response_bytes += len(coerced) + 2  # (most leaves: _leaf_bytes inline)
                else:
                    self.response_bytes += _leaf_bytes(coerced)
                if self.response_bytes > max_response_bytes:
                    raise response_too_large(max_response_bytes)
                return coerced
            if not isinstance(value, list | tuple):
                value = list(value)  # read once: it may be an iterator
            if leaf.items_non_null and None in value:
                return Undefined
            coerce, names = leaf.coerce, leaf.names
            if names is not None and value:  # a list of enum values (visibleCategories)
                try:
                    items: list[Any] = [names[v] for v in value]
                except (KeyError, TypeError):
                    pass  # a null or a value to coerce: item by item below
                else:
                    text = "".join(items)
                    size = (len(text) if text.isascii() else len(text.encode())) + 3 * len(items)
                    self.response_bytes += size + 2  # (the brackets; quotes and comma each)
                    if self.response_bytes > max_response_bytes:
                        raise response_too_large(max_response_bytes)
                    return items
            items = []
            size = 2
            for v in value:
                if v is None:
                    items.append(None)
                    size += 5
                    continue
                if names is not None and (c := names.get(v)) is not None:
                    pass
                else:
                    c = coerce(v)
                    if c is None or c is Undefined:
                        return Undefined  # a value the type refuses: the ordinary path reports it
                if c.__class__ is str and c.isascii():
                    size += len(c) + 3
                else:
                    size += _leaf_bytes(c) + 1
                items.append(c)
            self.response_bytes += size
            if self.response_bytes > max_response_bytes:
                raise response_too_large(max_response_bytes)
            return items

        def _complete_leaves(self, leaves: tuple[_Leaf, ...], source: Any) -> dict[str, Any] | None:
            """A selection of plain, single leaves (a referral's ``id status service``) completed
            in one pass, as ``execute_fields`` would complete them one by one; None when one of
            them needs the ordinary path (nothing is then counted or changed: only reads
            happened)."""
            size = self.response_bytes
            results: dict[str, Any] = {}
            try:
                for leaf in leaves:
                    if size > max_response_bytes:
                        raise response_too_large(max_response_bytes)
                    size += leaf.name_bytes
                    value: Any = leaf.read(source)
                    if value is None:
                        if leaf.non_null:
                            return None
                    elif value.__class__ is leaf.same:  # (a str)
                        text = cast("str", value)
                        size += len(text) + 2 if text.isascii() else _leaf_bytes(text)
                    elif leaf.names is not None and (name := leaf.names.get(value)) is not None:
                        value = name
                        size += len(value) + 2 if value.isascii() else _leaf_bytes(value)
                    else:
                        value = leaf.coerce(value)
                        if value is None or value is Undefined:
                            return None
                        size += _leaf_bytes(value)
                    results[leaf.key] = value
            except QueryTooCostly:
                raise
            except Exception:
                return None  # the ordinary path reads it again and reports the error
            if size > max_response_bytes:
                raise response_too_large(max_response_bytes)
            self.response_bytes = size
            return results

        def _complete_ready(self, plan: _Ready, source: Any, path: Path) -> Any:
            """The field's completed value when its resolver could answer at once, else
            Undefined (the ordinary path resolves it)."""
            context = self.context_value
            if plan.scopes and context.principal.missing_scopes(plan.scopes):
                return Undefined  # the ordinary path reports insufficient_scope
            first = plan.object.details[0]
            try:
                arguments = _argument_values(
                    plan.field,
                    first.node,
                    self.variable_values,
                    first.fragment_variable_values,
                    self.hide_suggestions,
                )
                value = plan.ready(source, context, arguments)
            except Exception:
                return Undefined  # the ordinary path runs the resolver and reports it
            if value is Undefined or value is None:
                return value
            return self._complete_value(plan.object, value, path)

        def _complete_object(self, plan: _Object, source: Any, path: Path) -> Any:
            """The completed object (or list), an awaitable of it, or Undefined when the
            ordinary path must handle the field (it then reports the error, as it would)."""
            try:
                value = plan.read(source)
            except Exception:
                return Undefined  # the ordinary path reads it again and reports the error
            return self._complete_value(plan, value, path)

        def _complete_value(self, plan: _Object, value: Any, path: Path) -> Any:
            if value is None:
                return Undefined if plan.non_null else None
            if not plan.is_list:
                try:
                    result = self.execute_fields(plan.object_type, value, path, plan.fields, None)
                except Exception as error:
                    self.handle_field_error(error, plan.field_type, plan.details, path)
                    return None  # (a non-null field's error went up, as it does in the core)
                if result.__class__ is not dict and self.is_awaitable(result):
                    return self._settled(result, plan.field_type, plan.details, path)
                return result
            if not isinstance(value, list | tuple):
                return Undefined  # an iterator, a generator: the ordinary path
            # (`None in value` would call each item's __eq__, a Python call for a dataclass)
            if plan.items_non_null and any(map(is_, value, repeat(None))):
                return Undefined
            self.response_bytes += 2
            completed: list[Any] = []
            waiting: list[int] = []
            execute, object_type, fields = self.execute_fields, plan.object_type, plan.fields
            try:
                for index, item in enumerate(value):
                    item_path = Path(path, index, None)
                    if item is None:
                        completed.append(None)
                        continue
                    try:
                        result = execute(object_type, item, item_path, fields, None)
                    except Exception as error:
                        self.handle_field_error(error, plan.item_type, plan.details, item_path)
                        result = None
                    if result.__class__ is not dict and self.is_awaitable(result):
                        result = self._settled(result, plan.item_type, plan.details, item_path)
                        waiting.append(index)
                    completed.append(result)
            except Exception as error:
                if waiting:
                    self.settle_in_background([completed[i] for i in waiting])
                self.handle_field_error(error, plan.field_type, plan.details, path)
                return None
            if not waiting:
                return completed
            return self._gathered(completed, waiting, plan, path)

        async def _settled(
            self, result: Awaitable[Any], kind: GraphQLOutputType, details: Any, path: Path
        ) -> Any:
            try:
                return await result
            except Exception as error:
                self.handle_field_error(error, kind, details, path)
                return None

        async def _gathered(
            self, completed: list[Any], waiting: list[int], plan: _Object, path: Path
        ) -> Any:
            try:
                if len(waiting) == 1:
                    completed[waiting[0]] = await completed[waiting[0]]
                else:
                    done = await gather_with_cancel(*(completed[i] for i in waiting))
                    for index, result in zip(waiting, done, strict=True):
                        completed[index] = result
            except Exception as error:
                self.handle_field_error(error, plan.field_type, plan.details, path)
                return None
            return completed

        def execute_fields(
            self,
            parent_type: GraphQLObjectType,
            source_value: Any,
            path: Path | None,
            grouped_field_set: Any,
            position_context: Any,
        ) -> Any:
            """graphql-core's, with plain fields completed in place (see the module)."""
            steps, leaves = self._plan(parent_type, grouped_field_set)
            if leaves is not None and (done := self._complete_leaves(leaves, source_value)):
                return done
            results: dict[str, Any] = {}
            awaitable_fields: list[str] = []
            is_awaitable = self.is_awaitable
            try:
                for name, details, plain in steps:
                    if plain is not None:
                        if self.response_bytes > max_response_bytes:
                            raise response_too_large(max_response_bytes)
                        self.response_bytes += len(name) + 6
                        if type(plain) is _Leaf:
                            try:
                                value = self._complete_plain(plain, source_value)
                            except QueryTooCostly:
                                raise  # the response cap
                            except Exception:
                                value = Undefined
                        else:  # errors below it are handled where they arise, as in the core
                            field_path = Path(path, name, parent_type.name)
                            if type(plain) is _Object:
                                value = self._complete_object(plain, source_value, field_path)
                            else:
                                value = self._complete_ready(plain, source_value, field_path)
                            if value.__class__ not in _COMPLETED and is_awaitable(value):
                                results[name] = value
                                awaitable_fields.append(name)
                                continue
                        if value is not Undefined:
                            results[name] = value
                            continue
                        self.response_bytes -= len(name) + 6  # counted again below
                    result = self.execute_field(
                        parent_type,
                        source_value,
                        details,
                        Path(path, name, parent_type.name),
                        position_context,
                    )
                    if result is not Undefined:
                        results[name] = result
                        if is_awaitable(result):
                            awaitable_fields.append(name)
            except Exception:
                if awaitable_fields:
                    self.settle_in_background([results[f] for f in awaitable_fields])
                raise
            if not awaitable_fields:
                return results

            async def get_results() -> dict[str, Any]:
                if len(awaitable_fields) == 1:
                    field = awaitable_fields[0]
                    results[field] = await results[field]
                else:
                    awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                    results.update(zip(awaitable_fields, awaited, strict=True))
                return results

            return get_results()

        @classmethod
        def build(cls, *args: Any, **kwargs: Any) -> Any:
            if hide_suggestions:
                kwargs["hide_suggestions"] = True
            return super().build(*args, **kwargs)

        def execute_field(
            self,
            parent_type: GraphQLObjectType,
            source: Any,
            field_details_list: Any,
            path: Path,
            position_context: Any,
        ) -> Any:
            if self.response_bytes > max_response_bytes:
                raise response_too_large(max_response_bytes)  # resolve nothing more
            self.response_bytes += len(str(path.key)) + 6  # "key": and the punctuation
            return super().execute_field(
                parent_type, source, field_details_list, path, position_context
            )

        def handle_field_error(
            self,
            raw_error: Exception,
            return_type: Any,
            field_details_list: Any,
            path: Path,
        ) -> None:
            # Errors are part of the response too: about ERROR_BYTES, and their path's keys.
            self.response_bytes += ERROR_BYTES + sum(len(str(k)) + 3 for k in path.as_list())
            super().handle_field_error(raw_error, return_type, field_details_list, path)

        # a static method there, but always called on the executor: this one counts
        def complete_leaf_value(  # type: ignore[override]
            self, return_type: GraphQLLeafType, result: Any
        ) -> Any:
            value = Executor.complete_leaf_value(return_type, result)
            self.response_bytes += _leaf_bytes(value)
            if self.response_bytes > max_response_bytes:
                raise response_too_large(max_response_bytes)
            return value

    return BoundedExecutor
