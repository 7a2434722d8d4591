"""The Swagger UI page of ``/api/schema`` without inline script, so it runs under the app's
Content-Security-Policy (``script-src 'self'``): the assets are served by us (the swagger-ui-py package's
dist files, no CDN), and Swagger UI is started by our static ``swagger-init.js``, which loads the schema from
the OpenAPI JSON route named in a ``data-`` attribute."""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import SwaggerRenderPlugin

INIT_JS = "/static/swagger-init.js"


class OfflineSwagger(SwaggerRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = escape(str(openapi_schema.get("info", {}).get("title", "API")))
        spec_url = escape(self.get_openapi_json_route(request), quote=True)
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
<title>{title}</title>
{self.favicon}
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link href="{escape(self.css_url, quote=True)}" rel="stylesheet">
{self.style}
<script src="{escape(self.js_url, quote=True)}"></script>
<script src="{escape(self.standalone_preset_js_url, quote=True)}"></script>
<script src="{INIT_JS}" defer></script>
</head>
<body>
<div id="swagger-container" data-spec-url="{spec_url}"></div>
</body>
</html>
""".encode()
