"""Write the committed API schemas: ``openapi/openapi.json`` and ``openapi/schema.graphql``
(``make schema``)."""

from __future__ import annotations

from pathlib import Path

import orjson

from app.main import create_app, openapi_document
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
OPENAPI_PATH = ROOT / "openapi" / "openapi.json"
GRAPHQL_PATH = ROOT / "openapi" / "schema.graphql"


def render_openapi() -> bytes:
    # No database or keys are touched: the document is built from the routes alone.
    from app.domain.keys import KeyRing

    class _NoKeys(KeyRing):
        def __init__(self) -> None:
            pass

    app = create_app(
        Settings(database_url="postgresql://unused/unused"), keyring=_NoKeys(), configure_logs=False
    )
    return (
        orjson.dumps(openapi_document(app), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        + b"\n"
    )


def render_graphql() -> bytes:
    """The GraphQL schema (SDL) as development serves it, introspection included."""
    from app.api.graphql.schema import schema_sdl

    return schema_sdl().encode()


def main() -> None:
    OPENAPI_PATH.parent.mkdir(exist_ok=True)
    OPENAPI_PATH.write_bytes(render_openapi())
    print(f"wrote {OPENAPI_PATH.relative_to(ROOT)}")
    GRAPHQL_PATH.write_bytes(render_graphql())
    print(f"wrote {GRAPHQL_PATH.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
