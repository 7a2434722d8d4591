"""Tasks for managers in the web inbox: the list (overdue flagged), a new task, done / not done."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from inbox import i18n
from inbox.db import transaction
from inbox.sales import NotFound, SalesError, tasks
from inbox.team.assignment import active_managers
from inbox.web.auth import manager_of
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def parse_local(raw: str, timezone: str) -> datetime:
    """A ``datetime-local`` field (shop time) as an aware datetime."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise SalesError(i18n._("Give the due time as YYYY-MM-DD HH:MM.")) from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(timezone))


def _int_or_none(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise SalesError(i18n._("Expected a number, got %(v)r.") % {"v": raw})
    return int(raw)


class TasksController(Controller):
    @get("/tasks", name="tasks_page")
    async def page(
        self, request: AnyRequest, mine: FromQuery[bool] = False, done: FromQuery[bool] = False
    ) -> Template:
        return await self._page(request, mine=mine, done=done)

    async def _page(
        self, request: AnyRequest, *, mine: bool = False, done: bool = False, error: str | None = None
    ) -> Template:
        me = manager_of(request)
        async with ctx(request).factory() as session:
            items = await tasks.list_tasks(session, assignee_id=me.id if mine else None, include_done=done)
            team = await active_managers(session)
        return Template(
            "tasks.html",
            context={"manager": me, "items": items, "team": team, "mine": mine, "done": done, "error": error},
            status_code=400 if error else 200,
        )

    @post("/tasks", name="tasks_create")
    async def create(self, request: AnyRequest, data: Form) -> Template | Redirect:
        me = manager_of(request)
        app = ctx(request)
        try:
            async with transaction(app.factory) as session:
                await tasks.create_task(
                    session,
                    title=data.get("title", ""),
                    due_at=parse_local(data.get("due", ""), app.settings.timezone),
                    assignee_id=_int_or_none(data.get("assignee")) or me.id,
                    customer_id=_int_or_none(data.get("customer_id")),
                    order_id=_int_or_none(data.get("order_id")),
                    created_by_id=me.id,
                )
        except (SalesError, NotFound) as exc:
            return await self._page(request, error=str(exc))
        back = data.get("next") or "/tasks"
        return Redirect(path=back if back.startswith("/") and not back.startswith("//") else "/tasks")

    @post("/tasks/{task_id:int}/done", name="tasks_done")
    async def done(self, request: AnyRequest, task_id: FromPath[int], data: Form) -> Template | Redirect:
        try:
            async with transaction(ctx(request).factory) as session:
                task = await tasks.complete_task(session, task_id, data.get("done", "1") == "1")
                views = await tasks.list_tasks(session, customer_id=task.customer_id, include_done=True)
        except NotFound as exc:
            raise NotFoundException(str(exc)) from exc
        if not request.headers.get("hx-request"):
            return Redirect(path="/tasks")
        view = next((v for v in views if v.task.id == task_id), None)
        if view is None:  # pragma: no cover - the task was just read
            raise ClientException(i18n._("No task %(id)s.") % {"id": task_id})
        return Template("_task_item.html", context={"tv": view})
