"""GraphQL errors: inputs checked by REST's request models (``validated``), and the error
masker: expected errors keep a stable code, everything else is hidden.

- A :class:`~app.domain.errors.DomainError` raised by a resolver (the same errors REST renders as
  problem+json) becomes a GraphQL error whose ``extensions.code`` is REST's problem code
  (``not_found``, ``validation_error``, ``consent_required``, ``invalid_transition``,
  ``conflict``, ``insufficient_scope``, …), with REST's extras in camelCase (``errors``,
  ``requiredScopes``, ``uncoveredCategories``, ``existingId``).
- An invalid document or variables (syntax, unknown fields, wrong types, depth, alias and token
  limits) is ``validation_error``; the value that was rejected is cut from the message, as REST
  never repeats rejected input.
- The database being unreachable is ``service_unavailable``.
- An operation over the cost limit or the response cap (``limits.py``) is ``query_too_costly``:
  the answer is that one error and no data, however far execution got.
- In production, suggestions ("Did you mean …?") are cut from every message: they would
  describe the schema that introspection is off to hide.
- Anything else is a bug: the message becomes "Unexpected error", the code ``internal_error``,
  and the log gets the exception's type only (messages and tracebacks can hold survivor data).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

from graphql import GraphQLError
from pydantic import BaseModel, ValidationError
from strawberry.exceptions import MissingQueryError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError

from app.api.graphql.limits import QUERY_TOO_COSTLY, too_costly
from app.api.problems import fields_at, public_errors
from app.db.errors import DatabaseUnavailable, TransactionAborted
from app.domain.errors import DomainError, ValidationFailed, Where
from app.logging import log

UNEXPECTED = "Unexpected error"
_REQUEST_ERRORS = (MissingQueryError, CannotGetOperationTypeError, InvalidOperationTypeError)

# Input errors quote what was rejected ("Value 'x' does not exist in 'Gender' enum.", "… cannot
# represent …: <value>", "…, found: <value>.", "… unknown field 'x'."): keep where and why, drop
# the value.
_VARIABLE = re.compile(r"^(Variable '\$\w+' has invalid value(?: at \S+)?): (.*)\Z", re.S)
_REASONS = (
    # An unknown key of an input object (in variables, data) may be a survivor's name.
    (
        re.compile(r"^Expected value of type '(\w+)' not to include unknown field .*\Z", re.S),
        r"Expected value of type '\1' not to include an unknown field (its name is not repeated).",
    ),
    (
        re.compile(r"^Field .* is not defined by type '(\w+)'\..*\Z", re.S),
        r"A field is not defined by type '\1' (its name is not repeated).",
    ),
    (
        re.compile(r"^Value .* does not exist in '(\w+)' enum\..*\Z", re.S),
        r"Value does not exist in '\1' enum.",
    ),
    (re.compile(r"^Value cannot represent an? (\w+):.*\Z", re.S), r"Value cannot represent a \1."),
    (re.compile(r"^(\w+) cannot represent .*\Z", re.S), r"\1 cannot represent the value given."),
    (re.compile(r"(?:,? but encountered error .*|[,;.]? ?[Ff]ound:? .*)\Z", re.S), "."),
)
_SUGGESTION = re.compile(r"\s*Did you mean\b[^?]*\?")
_DOUBLE_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_QUOTED = re.compile(r"'[^']*'")


def _scrub(message: str) -> str:
    prefix = ""
    if match := _VARIABLE.match(message):
        prefix, message = match.group(1) + ": ", match.group(2)
    for pattern, replacement in _REASONS:
        message, replaced = pattern.subn(replacement, message, count=1)
        if replaced:
            break
    if message.startswith("Syntax Error"):  # quotes the offending token of the document
        message = _QUOTED.sub("…", message)
    return prefix + _DOUBLE_QUOTED.sub("…", message)


# -- inputs checked by REST's request models -------------------------------------------------------
# Every mutation's input is validated by the same pydantic model that validates the REST body
# (lengths, patterns, language tags, aware datetimes, …): one set of input rules for both APIs. A
# failure is a ``validation_error`` whose ``errors`` locate each problem in GraphQL terms
# (``["input", "survivor", "givenName"]``) and, like REST's 422, never repeat the rejected value.

M = TypeVar("M", bound=BaseModel)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def graphql_loc(root: Sequence[str], loc: Sequence[str | int]) -> list[str | int]:
    return [*root, *(camel(p) if isinstance(p, str) else p for p in loc)]


def plain_input(value: Any) -> Any:
    """GraphQL arguments as plain JSON values: strawberry input objects as dicts without their
    unset and null fields (REST's "absent"), lists and mappings recursed, JSON scalars (a
    ``details`` object) as given. What REST's models validate, and what an idempotency key's
    fingerprint is taken of (a retry spanning a release that added an optional field still
    matches)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain_input(v)
            for f in dataclasses.fields(value)
            if (v := getattr(value, f.name)) is not None
        }
    if isinstance(value, Mapping):
        return {k: plain_input(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_input(v) for v in value]
    return value


def validated(model: type[M], value: Any, *, root: Sequence[str] = ()) -> M:
    data = plain_input(value)
    try:
        return model.model_validate(data)
    except ValidationError as exc:

        def fields(loc: Sequence[str | int]) -> list[str] | None:
            names = fields_at(model, loc)
            return None if names is None else [camel(name) for name in names]

        errors = [
            {**err, "loc": graphql_loc(root, err["loc"])}
            for err in public_errors(
                exc.errors(include_url=False, include_input=False, include_context=False), fields
            )
        ]
        raise ValidationFailed(
            "The input did not pass validation; see errors", errors=errors, where=None
        ) from None


# -- the masker ---------------------------------------------------------------------------------
def _graphql_errors(errors: Sequence[dict[str, Any]], where: Where | None) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        loc = list(err.get("loc", []))
        if where == "body":
            loc = graphql_loc(["input"], loc)
        elif where == "query" and loc in (["cursor"], ["after"]):  # GraphQL's name for both
            loc = ["after"]
        elif where is not None:
            loc = [where, *loc]
        out.append({**err, "loc": loc})
    return out


def _domain_extensions(exc: DomainError) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": exc.code}
    where = exc.where if isinstance(exc, ValidationFailed) else None
    for name, value in exc.extra.items():
        extensions[camel(name)] = _graphql_errors(value, where) if name == "errors" else value
    return extensions


def _rebuilt(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


def shape_error(error: GraphQLError, *, hide_suggestions: bool = False) -> GraphQLError:
    original = error.original_error
    if too_costly(error):
        return GraphQLError(error.message, extensions={"code": QUERY_TOO_COSTLY})
    if isinstance(original, DomainError):
        return _rebuilt(error, original.detail, _domain_extensions(original))
    if isinstance(original, DatabaseUnavailable):
        log.warning("database_unavailable", cause=type(original.__cause__).__name__)
        message = "The database is unavailable; retry shortly."
        return _rebuilt(error, message, {"code": "service_unavailable"})
    if isinstance(original, TransactionAborted):
        log.warning("transaction_aborted", sqlstate=original.sqlstate)
        message = (
            "This field's work collided with a concurrent request and was rolled back; "
            "send it again shortly."
        )
        return _rebuilt(error, message, {"code": "service_unavailable"})
    if error.path is None and (original is None or isinstance(original, GraphQLError)):
        message = _SUGGESTION.sub("", error.message) if hide_suggestions else error.message
        return _rebuilt(error, _scrub(message), {"code": "validation_error"})
    log.error(
        "unhandled_error",
        api="graphql",
        error_type=type(original or error).__name__,
        path=".".join(str(p) for p in error.path or ()),
    )
    return _rebuilt(error, UNEXPECTED, {"code": "internal_error"})


class ErrorMasker(SchemaExtension):
    def __init__(self, *, hide_suggestions: bool = False) -> None:
        super().__init__()
        self.hide_suggestions = hide_suggestions

    def on_operation(self) -> Iterator[None]:
        hide = self.hide_suggestions
        try:
            yield
        except _REQUEST_ERRORS:
            raise  # the router answers these with 400
        except GraphQLError as error:
            # Raised through an extension hook (the cached parser's syntax and token errors,
            # the cost limit); Strawberry turns it into the result's only error.
            raise shape_error(error, hide_suggestions=hide) from None
        except Exception as exc:  # a bug in an extension hook: masked like any other
            raise shape_error(GraphQLError(UNEXPECTED, original_error=exc)) from None
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if result is None or not errors:
            return
        costly = next((e for e in errors if too_costly(e)), None)
        if costly is not None:  # the response cap: drop whatever was built, keep one error
            result.data = None
            result.errors = [shape_error(costly)]
            return
        result.errors = [shape_error(e, hide_suggestions=hide) for e in errors]
