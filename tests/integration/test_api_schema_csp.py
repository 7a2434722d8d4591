"""The API docs (``/api/schema``, Swagger UI served from our static files) answer with the same
Content-Security-Policy as the app's pages, and hold no inline script that policy would refuse: Swagger UI is
started by a static file that loads the schema from the OpenAPI JSON route (the browser test in
tests/e2e/test_inbox_ui.py renders it with no violation)."""

from __future__ import annotations

import re

import httpx

from inbox.settings import Settings
from inbox.web.csp import APP_CSP
from tests.server import threaded_server


async def test_api_schema_pages_carry_the_csp_and_no_inline_script(settings: Settings) -> None:
    with threaded_server(settings, run_workers=False) as base:
        async with httpx.AsyncClient(base_url=base, timeout=20) as web:
            for path in ("/api/schema", "/api/schema/swagger"):
                page = await web.get(path)
                assert page.status_code == 200, (path, page.status_code)
                assert page.headers["content-security-policy"] == APP_CSP, path
                scripts = re.findall(r"<script\b[^>]*>", page.text)
                assert scripts and all(" src=" in tag for tag in scripts), scripts
                assert re.search(r"<script[^>]*>\s*[^<\s]", page.text) is None  # nothing between the tags
                assert " on" not in " ".join(re.findall(r"<[a-z]+\b[^>]*>", page.text)).replace("\n", " ")
                spec_url = re.search(r'data-spec-url="([^"]+)"', page.text)
                assert spec_url is not None
                spec = await web.get(spec_url.group(1))
                assert spec.status_code == 200 and spec.json()["info"]["title"] == "inbox API"
                for src in re.findall(r'<script src="([^"]+)"', page.text):
                    assert (await web.get(src)).status_code == 200, src
