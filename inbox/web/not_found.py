"""404 for a person: a browser that follows a stale link or a mistyped address gets a page in the manager's
language with a way back, not the JSON ``{"status_code":404,"detail":"Not Found"}`` meant for programs.
API clients, htmx requests and anything that does not ask for HTML keep the JSON answer."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import NotFoundException
from litestar.response import Template

from inbox import i18n
from inbox.models import Manager

DEFAULT_DETAIL = "Not Found"  # what Litestar says when nobody gave a reason (no such route)


def wants_page(request: Request[Any, Any, Any]) -> bool:
    return (
        "text/html" in request.headers.get("accept", "")
        and not request.headers.get("hx-request")
        and not request.url.path.startswith("/api/")
    )


def not_found(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    if not wants_page(request):
        return Response({"status_code": 404, "detail": exc.detail}, status_code=404, headers=exc.headers)
    manager = request.scope.get("state", {}).get("manager")
    if isinstance(manager, Manager):
        i18n.set_locale(manager.locale)
    elif request.cookies.get("lang"):
        i18n.set_locale(request.cookies.get("lang"))
    detail = exc.detail if exc.detail and exc.detail != DEFAULT_DETAIL else i18n._("There is no such page.")
    return Template("not_found.html", context={"detail": detail}, status_code=404)
