"""The schema: root types, limits, caches and the error masker.

Limits (``limits.py``): before anything runs, depth 12 (a connection costs two levels, so a
case's referrals' case's updates still fits), 15 aliases, 2,000 tokens, one operation (or a named
one), a cost of at most ``AFTERCARE_GRAPHQL_MAX_COST`` fields (pages multiplied in) and a
response that could weigh at most ``AFTERCARE_GRAPHQL_MAX_RESPONSE_BYTES`` (each field at the
most ``sizes.py`` allows it); while it runs, a response of at most that many bytes.
Introspection and suggestions (of fields, types, arguments, values) are off in production.
Parser and validation caches are bounded LRUs shared by all requests; the validation rules are
built once per limits so that cached validations stay valid.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import strawberry
from graphql import GraphQLEnumType, GraphQLError, GraphQLSchema, NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.name_converter import NameConverter
from strawberry.types import ExecutionContext

from app.api.graphql.errors import ErrorMasker
from app.api.graphql.executor import bounded_executor
from app.api.graphql.limits import Limits, OperationLimits, document_limits_rule
from app.api.graphql.mutations import Mutation
from app.api.graphql.queries import Query
from app.api.graphql.sizes import field_sizes

DEFAULT_LIMITS = Limits()
MAX_DEPTH = DEFAULT_LIMITS.max_depth
MAX_ALIASES = DEFAULT_LIMITS.max_aliases
MAX_TOKENS = DEFAULT_LIMITS.max_tokens
CACHE_SIZE = 256


class _CachedNameConverter(NameConverter):
    """Strawberry converts each argument's Python name to its GraphQL name on every call of a
    field with arguments (``referrals(first:)`` once per case of a page); the names are
    few and fixed, so convert each once."""

    def __init__(self) -> None:
        super().__init__()
        self._names: dict[str, str] = {}

    def apply_naming_config(self, name: str) -> str:
        converted = self._names.get(name)
        if converted is None:
            converted = self._names[name] = super().apply_naming_config(name)
        return converted


class AftercareSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry would log every error with its message and traceback, which can quote
        # survivor data; the ErrorMasker logs unexpected ones by type only.
        return None


def build_schema(*, production: bool, limits: Limits = DEFAULT_LIMITS) -> strawberry.Schema:
    return _build_schema(production, limits)


@cache
def _build_schema(production: bool, limits: Limits) -> strawberry.Schema:
    rules: list[Any] = [document_limits_rule(limits)]
    if production:
        rules.append(NoSchemaIntrospectionCustomRule)
    schema = AftercareSchema(
        query=Query,
        mutation=Mutation,
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
            lambda: ParserCache(maxsize=CACHE_SIZE),
            lambda: OperationLimits(limits),
            lambda: AddValidationRules(rules),
            lambda: ValidationCache(maxsize=CACHE_SIZE),
            lambda: ErrorMasker(hide_suggestions=production),
        ],
        execution_context_class=bounded_executor(
            limits.max_response_bytes, hide_suggestions=production
        ),
        config=StrawberryConfig(
            disable_field_suggestions=production, name_converter=_CachedNameConverter()
        ),
    )
    field_sizes(schema._schema, limits.max_details_bytes)  # every field bounded, or no schema
    _serialize_enums_by_lookup(schema._schema)
    return schema


def _serialize_enums_by_lookup(schema: GraphQLSchema) -> None:
    """Serialize each enum value with one dict lookup. Strawberry's enum type scans all the
    enum's values for each one it serializes (a page of cases with their referrals serializes
    hundreds); the names are the values here (``graphql_name_from="value"``), and a value that
    is not the enum's fails as before (a field error). graphql-core 3.3 calls
    ``coerce_output_value`` (``serialize`` is its older name): both are replaced."""
    for type_ in schema.type_map.values():
        if isinstance(type_, GraphQLEnumType) and not type_.name.startswith("__"):
            names = {value.value: name for name, value in type_.values.items()}
            type_.serialize = names.__getitem__  # type: ignore[method-assign,assignment]
            type_.coerce_output_value = names.__getitem__  # type: ignore[method-assign,assignment]


def schema_sdl() -> str:
    """The full schema (as development serves it) in SDL, for ``openapi/schema.graphql``."""
    return build_schema(production=False).as_str() + "\n"
