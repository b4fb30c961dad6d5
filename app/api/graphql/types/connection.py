from __future__ import annotations

from typing import Generic, TypeVar

import strawberry

from app.api.graphql.types.edge import Edge
from app.api.graphql.types.page_info import PageInfo

NodeT = TypeVar("NodeT")


@strawberry.type(description="A page of a list (Relay connection); at most 100 items")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
