"""The per-request GraphQL context: the caller, its unit of work, services and fresh loaders.

Built by the router for every request from the request's :class:`RequestContext` (made by
``app.api.deps.request_context``, as for REST) after the bearer token was verified. The loaders
are new each time, so nothing one request (or organisation) loaded can ever answer another.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import strawberry
from starlette.requests import Request

from app.api.graphql.loaders import Loaders
from app.api.graphql.services import Services
from app.db.serialized import SerializedSession
from app.domain.context import RequestContext
from app.domain.principal import Principal


@dataclass(frozen=True, slots=True)
class GraphQLContext:
    request: Request
    services: Services
    loaders: Loaders
    session: SerializedSession  # ``services.ctx.session``, with savepoints for mutations
    # Root fields answered at most once per request (`first_time`), by their name.
    answered: set[str] = field(default_factory=set)

    @property
    def principal(self) -> Principal:
        return self.services.principal

    def first_time(self, name: str) -> bool:
        """Is this the request's first ``name``? (Then it is not any more.)"""
        if name in self.answered:
            return False
        self.answered.add(name)
        return True


def build_context(
    request: Request, ctx: RequestContext, session: SerializedSession
) -> GraphQLContext:
    """The context of a request whose unit of work is ``session`` (``ctx.session``)."""
    services = Services(ctx)
    return GraphQLContext(
        request=request, services=services, loaders=Loaders.build(services), session=session
    )


Info = strawberry.Info[GraphQLContext, None]
