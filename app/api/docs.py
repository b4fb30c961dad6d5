"""Interactive API docs for development: Swagger UI at ``/docs`` and ReDoc at ``/redoc``.

Both are served by the app itself from ``static/`` (vendored npm files, see ``static/README.md``),
never from a CDN: the hub's operators may run it offline. The pages reference local URLs only and
are sent with a Content-Security-Policy that allows nothing but this origin (ReDoc's search runs
in a worker it makes from a ``blob:``). Production serves neither page, only ``/openapi.json``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.responses import FileResponse, HTMLResponse, Response

from app.api.problems import problem_response

STATIC = Path(__file__).parent / "static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "swagger-init.js": "text/javascript",
    "redoc.standalone.js": "text/javascript",
    "redoc-init.js": "text/javascript",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def docs_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    swagger_page = (STATIC / "docs.html").read_text()
    redoc_page = (STATIC / "redoc.html").read_text()

    @router.get("/docs")
    async def swagger_ui() -> Response:
        return HTMLResponse(swagger_page, headers=SECURITY_HEADERS)

    @router.get("/redoc")
    async def redoc() -> Response:
        return HTMLResponse(redoc_page, headers=SECURITY_HEADERS)

    @router.get("/docs/assets/{name}")
    async def docs_asset(name: str) -> Response:
        media_type = ASSETS.get(name)
        if media_type is None:
            return problem_response(404, "not_found", detail="Not found")
        return FileResponse(
            STATIC / name,
            media_type=media_type,
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    return router
