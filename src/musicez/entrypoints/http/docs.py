"""The interactive API page, served entirely by the service itself (no CDN)."""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from musicez.entrypoints.http.guard import PUBLIC

ASSETS = Path(__file__).parent / "static" / "swagger-ui"
ASSETS_URL = "/schema/assets"


def docs_plugins() -> list[OpenAPIRenderPlugin]:
    return [
        SwaggerRenderPlugin(
            path="/",
            js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_URL}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_URL}/swagger-ui-standalone-preset.js",
            favicon=f'<link rel="icon" type="image/png" href="{ASSETS_URL}/favicon-32x32.png">',
        )
    ]


def docs_static_router() -> Router:
    return create_static_files_router(
        path=ASSETS_URL, directories=[ASSETS], opt=PUBLIC, include_in_schema=False, name="docs-assets"
    )
