from __future__ import annotations

from typing import Generic, TypeVar

import strawberry

NodeT = TypeVar("NodeT")


@strawberry.type(description="One item of a page and its cursor (Relay)")
class Edge(Generic[NodeT]):
    node: NodeT
    cursor: str
