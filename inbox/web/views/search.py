"""Search page: customers, messages (linked to /threads/T#msg-ID), orders; keyset "more" for messages."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.exceptions import ClientException
from litestar.params import FromQuery
from litestar.response import Template

from inbox.team.search import BadQuery, Results, search
from inbox.web.auth import manager_of
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]


class SearchController(Controller):
    @get("/search", name="search")
    async def search_page(
        self, request: AnyRequest, q: FromQuery[str] = "", before: FromQuery[int | None] = None
    ) -> Template:
        app = ctx(request)
        try:
            async with app.factory() as session:
                results = await search(session, q, region=app.settings.default_region, before=before)
        except BadQuery as exc:
            raise ClientException(str(exc)) from exc
        template = "_search_results.html" if request.headers.get("hx-request") else "search.html"
        return Template(template, context={"manager": manager_of(request), "results": results, "q": q})


__all__ = ["Results", "SearchController"]
