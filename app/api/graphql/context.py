"""The per-request GraphQL context: the caller, its unit of work, services and fresh loaders.

Built by the router for every request after the bearer token was verified. The loaders are new
each time, so nothing one request (or organisation) loaded can ever answer another.
"""

from __future__ import annotations

from dataclasses import dataclass

import strawberry
from starlette.requests import Request

from app.api.graphql.loaders import Loaders
from app.api.graphql.services import Services
from app.db.serialized import SerializedSession
from app.domain.crypto import KeyWrapper
from app.domain.principal import Principal


@dataclass(frozen=True, slots=True)
class GraphQLContext:
    request: Request
    services: Services
    loaders: Loaders

    @property
    def principal(self) -> Principal:
        return self.services.principal

    @property
    def session(self) -> SerializedSession:
        return self.services.session


def build_context(
    request: Request,
    session: SerializedSession,
    principal: Principal,
    key_wrapper: KeyWrapper,
    *,
    max_details_bytes: int,
) -> GraphQLContext:
    services = Services(session, key_wrapper, principal, max_details_bytes)
    return GraphQLContext(request=request, services=services, loaders=Loaders.build(services))


Info = strawberry.Info[GraphQLContext, None]
