"""The schema: root types, limits, caches and the error masker.

Limits (checked before anything runs): depth 12 (a connection costs two levels, so a case's
referrals' case's updates still fits), 15 aliases, 2,000 tokens. Introspection and field
suggestions are off in production. Parser and validation caches are bounded LRUs shared by all
requests; the validation rules are built once so that cached validations stay valid.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import strawberry
from graphql import GraphQLError, NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from app.api.graphql.errors import ErrorMasker
from app.api.graphql.mutations import Mutation
from app.api.graphql.queries import Query

MAX_DEPTH = 12
MAX_ALIASES = 15
MAX_TOKENS = 2_000
CACHE_SIZE = 256


class AftercareSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # Strawberry would log every error with its message and traceback, which can quote
        # survivor data; the ErrorMasker logs unexpected ones by type only.
        return None


@cache
def build_schema(*, production: bool) -> strawberry.Schema:
    rules: list[Any] = [
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
    if production:
        rules.append(NoSchemaIntrospectionCustomRule)
    return AftercareSchema(
        query=Query,
        mutation=Mutation,
        extensions=[
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: ParserCache(maxsize=CACHE_SIZE),
            lambda: AddValidationRules(rules),
            lambda: ValidationCache(maxsize=CACHE_SIZE),
            ErrorMasker,
        ],
        config=StrawberryConfig(disable_field_suggestions=production),
    )


def schema_sdl() -> str:
    """The full schema (as development serves it) in SDL, for ``openapi/schema.graphql``."""
    return build_schema(production=False).as_str() + "\n"
