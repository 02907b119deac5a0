"""`/docs`: the OpenAPI description, browsable, with Swagger UI's own files served from this machine (the
`swagger-ui-py` distribution), so that it works offline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from assay.server.middleware import DOCS_ASSETS


def add_docs(app: FastAPI) -> None:
    """Serve `/docs` (and, where Swagger UI's files are installed, the files under `DOCS_ASSETS`)."""
    assets = swagger_ui_assets()
    if assets is not None:
        app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        openapi_url, title = f"{root}/openapi.json", "assay: API"
        if assets is None:
            return get_swagger_ui_html(openapi_url=openapi_url, title=title)
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon-32x32.png",
        )


def swagger_ui_assets() -> Path | None:
    """The folder of Swagger UI's files from the `swagger-ui-py` distribution (installed with
    `assay[serve]`), found without importing it; None when it is missing (then /docs loads them from a CDN)."""
    found = importlib.util.find_spec("swagger_ui")
    if found is None or not found.submodule_search_locations:
        return None
    folder = Path(next(iter(found.submodule_search_locations))) / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None
