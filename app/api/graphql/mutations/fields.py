from __future__ import annotations

from typing import Any

import strawberry

from app.api.graphql.field_extensions import Atomic, RequireScopes


def mutation(*scopes: str, description: str) -> Any:
    """A mutation field: needs ``scopes`` and is one atomic unit of work (see ``Atomic``)."""
    return strawberry.mutation(
        description=description, extensions=[RequireScopes(*scopes), Atomic()]
    )
