"""SQLAlchemy Core statements compiled once into asyncpg's SQL text.

Repositories describe a statement with Core (so names are checked against the schema) and wrap it
in :class:`Query` at import time. Compilation happens once per process; executing it is a plain
asyncpg prepared-statement call, which asyncpg caches per connection. This keeps the request path
at driver speed while the schema stays the single source of truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_DIALECT = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]

# The most rows a page statement ever returns: the largest page a client may ask for
# (app.domain.pagination.MAX_LIMIT, 100) plus the one row that says whether there is a next page.
# List statements walk their index under this constant `LIMIT` and apply the request's own
# `LIMIT $n` outside it. With only `LIMIT $n`, PostgreSQL costs the cached generic plan as if
# 10 % of the matching rows were fetched, which on a big table looks far dearer than a page, so it
# keeps planning every execution afresh (custom plans) — a planning cost that grows with the
# table; on a small table it caches the generic plan. Under the constant cap both plans are
# costed for a page and the generic plan is cached whatever the size.
PAGE_CAP = 101


class Query:
    """A compiled statement: ``sql`` with ``$n`` placeholders and the order of its parameters."""

    __slots__ = ("names", "sql")

    def __init__(self, statement: ClauseElement | str, names: tuple[str, ...] | None = None):
        if isinstance(statement, str):
            self.sql = statement
            self.names = names or ()
            return
        compiled = statement.compile(dialect=_DIALECT)
        assert isinstance(compiled, SQLCompiler)
        self.sql = compiled.string
        self.names = tuple(compiled.positiontup or ())

    def args(self, params: Mapping[str, Any] | None = None, /, **kwargs: Any) -> tuple[Any, ...]:
        values = {**(params or {}), **kwargs}
        missing = [n for n in self.names if n not in values]
        if missing:
            raise KeyError(f"missing parameters: {missing}")
        return tuple(values[n] for n in self.names)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Query({self.sql!r})"


class Placeholders:
    """The parameters of a statement built from fragments, in order: :meth:`bind` names the next
    one and answers its ``$n``, so a fragment never counts placeholders itself. ``names`` is what
    :class:`Query` takes with the finished text.

    Per-shape statements (one per combination of the filters a request gives, so that each keeps
    its own cached plan) are built with it once per process, under :func:`functools.cache`."""

    __slots__ = ("names",)

    def __init__(self, *names: str) -> None:
        self.names: list[str] = list(names)

    def bind(self, name: str, cast: str | None = None) -> str:
        """The placeholder for a new parameter ``name``, cast to ``cast`` when given."""
        self.names.append(name)
        n = len(self.names)
        return f"${n}::{cast}" if cast else f"${n}"

    def cursor(self, prefix: str) -> str:
        """A keyset cursor's two parameters, ``{prefix}_ts`` and ``{prefix}_id``, as the row
        ``($n::timestamptz, $m::uuid)`` a page's ``(timestamp, id)`` is compared with."""
        ts = self.bind(f"{prefix}_ts", "timestamptz")
        return f"({ts}, {self.bind(f'{prefix}_id', 'uuid')})"

    def query(self, sql: str) -> Query:
        return Query(sql, tuple(self.names))
