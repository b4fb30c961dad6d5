"""The per-request GraphQL context: the caller, its unit of work, services and fresh loaders.

Built by the router for every request from the request's :class:`RequestContext` (made by
``app.api.deps.request_context``, as for REST) after the bearer token was verified. The loaders
are new each time, so nothing one request (or organisation) loaded can ever answer another.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    @property
    def principal(self) -> Principal:
        return self.services.principal


def build_context(
    request: Request, ctx: RequestContext, session: SerializedSession
) -> GraphQLContext:
    """The context of a request whose unit of work is ``session`` (``ctx.session``)."""
    services = Services(ctx)
    return GraphQLContext(
        request=request, services=services, loaders=Loaders.build(services), session=session
    )


Info = strawberry.Info[GraphQLContext, None]
