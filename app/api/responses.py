"""JSON responses for models built field by field (absent = not visible to the caller)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel
from starlette.responses import Response


def model_response(
    model: BaseModel, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        model.__pydantic_serializer__.to_json(model, exclude_unset=True),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )
