"""The contract's own routes, which need no token: ``/openapi.json``, and
an interactive page on it (Swagger UI, from the ``swagger-ui-bundle``
package: no CDN)."""

from __future__ import annotations

from pathlib import Path

import falcon

from web.contract import document_bytes

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>shop API</title>
<link rel="icon" type="image/png" href="/docs/static/favicon-32x32.png">
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/docs/openapi-3.0.json", dom_id: "#ui"});</script>
</body></html>"""


class Contract:
    """``GET /openapi.json`` (OpenAPI 3.1), or ``/docs/openapi-3.0.json``: the
    same contract as OpenAPI 3.0, for the bundled Swagger UI 4."""

    public = True

    def __init__(self, openapi_version: str = "3.1.0"):
        self._version = openapi_version

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = document_bytes(self._version)
        resp.content_type = "application/json"


class Page:
    """``GET /docs``: Swagger UI on the contract, served from a Python package."""

    public = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = falcon.MEDIA_HTML
        resp.text = PAGE


def swagger_ui_folder() -> Path:
    import swagger_ui_bundle

    return Path(swagger_ui_bundle.swagger_ui_path)


class Asset:
    """The Swagger UI files the page loads (its icon too, so that no browser
    asks for a /favicon.ico), and nothing else of the bundle."""

    public = True
    ASSETS = {
        "swagger-ui.css": "text/css",
        "swagger-ui-bundle.js": "application/javascript",
        "favicon-32x32.png": "image/png",
    }

    def on_get(self, req: falcon.Request, resp: falcon.Response, asset: str) -> None:
        if asset not in self.ASSETS:
            raise falcon.HTTPNotFound()
        resp.content_type = self.ASSETS[asset]
        resp.data = (swagger_ui_folder() / asset).read_bytes()
        resp.cache_control = ["public", "max-age=86400"]


def install(app: falcon.App) -> None:
    app.add_route("/openapi.json", Contract())
    app.add_route("/docs", Page())
    app.add_route("/docs/openapi-3.0.json", Contract("3.0.3"))
    app.add_route("/docs/static/{asset}", Asset())
