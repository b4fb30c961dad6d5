"""Field extensions: which scopes a field needs, and mutations as atomic units.

Scopes are checked here, per field, exactly as REST's ``require_scopes`` checks them per
endpoint; everything else (who may see which case, category and referral) is the domain's.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.extensions import FieldExtension

from app.domain.errors import InsufficientScope
from app.domain.scopes import SCOPES

if TYPE_CHECKING:
    from strawberry.extensions.field_extension import (
        AsyncExtensionResolver,
        SyncExtensionResolver,
    )
    from strawberry.types.field import StrawberryField

    from app.api.graphql.context import Info


class RequireScopes(FieldExtension):
    """The token must hold every scope, else the field is null with an ``insufficient_scope``
    error. The requirement is added to the field's description in the schema."""

    def __init__(self, *scopes: str) -> None:
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:  # a typo here would silently lock a field
            raise ValueError(f"unknown scopes {unknown}")
        self.scopes = scopes

    def apply(self, field: StrawberryField) -> None:
        note = "Needs scope " + " and ".join(f"`{s}`" for s in self.scopes) + "."
        if field.description and field.description.endswith(note):
            return  # the field is shared by every schema built in this process
        field.description = f"{field.description} {note}" if field.description else note

    @staticmethod
    def of(extensions: Sequence[FieldExtension]) -> tuple[str, ...] | None:
        """The scopes a field's extensions require (every RequireScopes among them), None when
        it has none."""
        scopes = tuple(s for e in extensions if isinstance(e, RequireScopes) for s in e.scopes)
        return scopes or None

    def _check(self, info: Info) -> None:
        missing = info.context.principal.missing_scopes(self.scopes)
        if missing:
            raise InsufficientScope(missing)

    def resolve(self, next_: SyncExtensionResolver, source: Any, info: Info, **kwargs: Any) -> Any:
        self._check(info)
        return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        self._check(info)
        result: Any = next_(source, info, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result


class Atomic(FieldExtension):
    """A mutation is a unit of work of its own: it runs in a savepoint of the request's
    transaction, so when it fails, everything it wrote is rolled back (and the audit rows with
    it), while mutations before it in the same request keep their effect.

    After it (succeeded or not), the request's loaders forget what they loaded: its own result
    and the mutations after it (which run one after another) see the database as it now is, and
    only what the caller may now see of it. So does the outbox, of who sees the cases the
    mutation locked (a rolled-back savepoint releases its locks): a later mutation's events
    about one of them go to the audience its own load reads."""

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        try:
            async with info.context.session.savepoint():
                result: Awaitable[Any] | Any = next_(source, info, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
                return result
        finally:
            info.context.loaders.clear_all()
            info.context.services.ctx.outbox.forget_audiences()


def mutation(*scopes: str, description: str | None = None) -> Any:
    """A mutation field: needs ``scopes`` and is one atomic unit of work (see ``Atomic``). Its
    description in the schema is ``description``, else the resolver's docstring (its lines
    joined)."""

    def declare(resolver: Callable[..., Any]) -> Any:
        doc = description or " ".join((inspect.getdoc(resolver) or "").split())
        if not doc:
            raise TypeError(f"{resolver.__name__}: a mutation's docstring is its description")
        return strawberry.mutation(
            resolver, description=doc, extensions=[RequireScopes(*scopes), Atomic()]
        )

    return declare
