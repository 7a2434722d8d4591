"""Team actions on the web inbox: assign, states, snooze, notes, labels, canned replies, notifications,
presence (online / away, typing / viewing). Signed-in managers only (mounted behind require_manager)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import i18n
from inbox.bots import hand_back
from inbox.core.events import Event, emit
from inbox.db import transaction
from inbox.models import CannedReply, Thread
from inbox.team import Outcome, audit, canned, labels, notifications, presence, queued, waiting
from inbox.team.assignment import (
    NotFound,
    TeamError,
    assign,
    event_message,
    set_status,
    snooze,
)
from inbox.team.notes import add_note
from inbox.web.auth import manager_of
from inbox.web.state import ctx
from inbox.web.thread_page import thread_context

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


class TeamController(Controller):
    @post("/threads/{thread_id:int}/assign", name="assign")
    async def assign(self, request: AnyRequest, thread_id: FromPath[int], data: Form) -> Response[Any]:
        me = manager_of(request)
        raw = "me" if data.get("me") == "1" else (data.get("assignee") or "").strip()
        target: int | None
        if raw == "me":
            target = me.id
        elif raw in ("", "none"):
            target = None
        elif raw.isdigit():
            target = int(raw)
        else:
            raise ClientException(f"assignee must be me, none or a manager id, got {raw!r}")
        return await self._act(request, thread_id, lambda s: assign(s, thread_id, target, me.id))

    @post("/threads/{thread_id:int}/status", name="set_status")
    async def status(self, request: AnyRequest, thread_id: FromPath[int], data: Form) -> Response[Any]:
        me = manager_of(request)
        value = data.get("status", "")
        return await self._act(request, thread_id, lambda s: set_status(s, thread_id, value, me.id))

    @post("/threads/{thread_id:int}/bot", name="return_to_bot")
    async def return_to_bot(self, request: AnyRequest, thread_id: FromPath[int]) -> Response[Any]:
        """The manager gives the thread back to the bot, which was staying silent since the hand-off."""
        me = manager_of(request)

        async def act(session: AsyncSession) -> Outcome:
            thread = await session.get(Thread, thread_id)
            if thread is None:
                raise NotFound(f"no thread {thread_id}")
            if not await hand_back(session, thread.customer_id):
                raise TeamError(i18n._("The bot is not waiting for a manager in this conversation."))
            session.add(event_message(thread, me.id, "handback", "bot"))
            back = Event("thread.updated", thread_id=thread.id, data={"bot": "back"})
            return queued(session, Outcome(events=[back]))

        return await self._act(request, thread_id, act)

    @post("/threads/{thread_id:int}/snooze", name="snooze")
    async def snooze(self, request: AnyRequest, thread_id: FromPath[int], data: Form) -> Response[Any]:
        me = manager_of(request)
        until = parse_until(data, ctx(request).settings.timezone)
        return await self._act(request, thread_id, lambda s: snooze(s, thread_id, until, me.id))

    @post("/threads/{thread_id:int}/labels", name="thread_label")
    async def thread_label(self, request: AnyRequest, thread_id: FromPath[int], data: Form) -> Response[Any]:
        label_id, on = _label_form(data)
        return await self._act(request, thread_id, lambda s: labels.label_thread(s, thread_id, label_id, on))

    @post("/threads/{thread_id:int}/customer-labels", name="customer_label")
    async def customer_label(
        self, request: AnyRequest, thread_id: FromPath[int], data: Form
    ) -> Response[Any]:
        label_id, on = _label_form(data)

        async def act(session: AsyncSession) -> Outcome:
            thread = await session.get(Thread, thread_id)
            if thread is None:
                raise NotFound(f"no thread {thread_id}")
            return await labels.label_customer(session, thread.customer_id, label_id, on)

        return await self._act(request, thread_id, act)

    @post("/threads/{thread_id:int}/note", name="note")
    async def note(self, request: AnyRequest, thread_id: FromPath[int], data: Form) -> Response[Any]:
        me = manager_of(request)
        app = ctx(request)
        try:
            async with app.bus.transaction(app.factory) as session:
                await add_note(session, thread_id, me.id, data.get("text", ""))
        except NotFound as exc:
            raise NotFoundException(i18n._("No such conversation.")) from exc
        except TeamError as exc:
            return _error(request, str(exc))
        if not request.headers.get("hx-request"):
            return Redirect(path=f"/threads/{thread_id}")
        return Response(content="", status_code=204, headers={"HX-Trigger": "inbox:sent"})

    @get("/ui/threads/{thread_id:int}/head", name="thread_head")
    async def head(self, request: AnyRequest, thread_id: FromPath[int]) -> Template:
        data = await thread_context(request, thread_id, mark=False)
        return Template("_thread_head.html", context=data)

    @get("/ui/canned", name="canned_for_thread")
    async def canned_for_thread(self, request: AnyRequest, thread: FromQuery[int]) -> Response[str]:
        """The manager's canned replies with placeholders filled for this thread (the `/` menu)."""
        me = manager_of(request)
        async with ctx(request).factory() as session:
            try:
                items = [
                    {
                        "shortcut": c.shortcut,
                        "title": c.title,
                        "text": await canned.render(session, c.body, thread, me),
                        "shared": c.owner_id is None,
                    }
                    for c in await canned.visible(session, me.id)
                ]
            except NotFound as exc:
                raise NotFoundException(i18n._("No such conversation.")) from exc
        return Response(content=json.dumps(items, ensure_ascii=False), media_type="application/json")

    @get("/canned", name="canned_page")
    async def canned_page(self, request: AnyRequest, edit: FromQuery[int | None] = None) -> Template:
        me = manager_of(request)
        async with ctx(request).factory() as session:
            items = await canned.visible(session, me.id)
            editing = None
            if edit is not None:
                try:
                    editing = await canned.editable(session, edit, me)
                except NotFound as exc:
                    raise NotFoundException(str(exc)) from exc
                except TeamError as exc:
                    raise ClientException(str(exc), status_code=403) from exc
        return Template(
            "canned.html", context={"manager": me, "items": items, "error": None, "editing": editing}
        )

    @post("/canned/{reply_id:int}", name="canned_update")
    async def canned_update(
        self, request: AnyRequest, reply_id: FromPath[int], data: Form
    ) -> Template | Redirect:
        me = manager_of(request)
        try:
            async with transaction(ctx(request).factory) as session:
                reply = await canned.update(
                    session,
                    reply_id,
                    me,
                    shortcut=data.get("shortcut", ""),
                    title=data.get("title", ""),
                    body=data.get("body", ""),
                )
                if reply.owner_id is None:
                    await audit.record(session, me.id, "canned.update", reply.shortcut, reply_id=reply.id)
        except NotFound as exc:
            raise NotFoundException(str(exc)) from exc
        except TeamError as exc:
            async with ctx(request).factory() as session:
                items = await canned.visible(session, me.id)
                editing = await session.get(CannedReply, reply_id)
            return Template(
                "canned.html",
                context={"manager": me, "items": items, "error": str(exc), "editing": editing},
                status_code=400,
            )
        return Redirect(path="/canned")

    @post("/canned", name="canned_create")
    async def canned_create(self, request: AnyRequest, data: Form) -> Template | Redirect:
        me = manager_of(request)
        shared = data.get("shared") == "1"
        if shared and me.role != "admin":
            raise ClientException(i18n._("Only an admin can add shared replies."), status_code=403)
        try:
            async with transaction(ctx(request).factory) as session:
                reply = await canned.create(
                    session,
                    shortcut=data.get("shortcut", ""),
                    title=data.get("title", ""),
                    body=data.get("body", ""),
                    owner_id=None if shared else me.id,
                )
                if shared:
                    await audit.record(session, me.id, "canned.create", reply.shortcut, reply_id=reply.id)
        except TeamError as exc:
            async with ctx(request).factory() as session:
                items = await canned.visible(session, me.id)
            return Template(
                "canned.html",
                context={"manager": me, "items": items, "error": str(exc), "editing": None},
                status_code=400,
            )
        return Redirect(path="/canned")

    @post("/canned/{reply_id:int}/delete", name="canned_delete")
    async def canned_delete(self, request: AnyRequest, reply_id: FromPath[int]) -> Redirect:
        me = manager_of(request)
        try:
            async with transaction(ctx(request).factory) as session:
                reply = await canned.editable(session, reply_id, me)
                if reply.owner_id is None:
                    await audit.record(session, me.id, "canned.delete", reply.shortcut, reply_id=reply.id)
                await canned.delete(session, reply_id, me)
        except NotFound as exc:
            raise NotFoundException(str(exc)) from exc
        except TeamError as exc:
            raise ClientException(str(exc), status_code=403) from exc
        return Redirect(path="/canned")

    @get("/labels", name="labels_page")
    async def labels_page(self, request: AnyRequest) -> Template:
        async with ctx(request).factory() as session:
            items = await labels.all_labels(session)
        return Template(
            "labels.html", context={"manager": manager_of(request), "items": items, "error": None}
        )

    @post("/labels", name="label_create")
    async def label_create(self, request: AnyRequest, data: Form) -> Template | Redirect:
        try:
            async with transaction(ctx(request).factory) as session:
                await labels.create_label(session, data.get("name", ""), data.get("color") or "#6b7280")
        except TeamError as exc:
            async with ctx(request).factory() as session:
                items = await labels.all_labels(session)
            return Template(
                "labels.html",
                context={"manager": manager_of(request), "items": items, "error": str(exc)},
                status_code=400,
            )
        return Redirect(path="/labels")

    @get("/notifications", name="notifications_page")
    async def notifications_page(self, request: AnyRequest, before: FromQuery[int | None] = None) -> Template:
        me = manager_of(request)
        async with ctx(request).factory() as session:
            items = await notifications.recent(session, me.id, before_id=before, limit=50)
        return Template(
            "notifications.html",
            context={
                "manager": me,
                "items": items,
                "next_before": items[-1].id if len(items) == 50 else None,
            },
        )

    @get("/ui/notifications", name="notifications_fragment")
    async def notifications_fragment(self, request: AnyRequest) -> Template:
        me = manager_of(request)
        async with ctx(request).factory() as session:
            items = await notifications.unread(session, me.id)
            count = await notifications.unread_count(session, me.id)
        return Template("_notifications.html", context={"items": items, "count": count})

    @get("/ui/view-counts", name="view_counts_fragment")
    async def view_counts_fragment(self, request: AnyRequest) -> Template:
        """The numbers on the views for pages that are not the inbox (dashboard, segments, ...): the header
        asks for them once loaded, and they arrive out of band into their places."""
        me = manager_of(request)
        async with ctx(request).factory() as session:
            counts = await waiting.view_counts(session, me.id)
        return Template("_view_counts.html", context={"view_counts": counts, "oob": True})

    @post("/notifications/read", name="notifications_read")
    async def notifications_read(self, request: AnyRequest, data: Form) -> Response[Any]:
        me = manager_of(request)
        raw = data.get("id", "")
        async with transaction(ctx(request).factory) as session:
            await notifications.mark_read(session, me.id, int(raw) if raw.isdigit() else None)
        if request.headers.get("hx-request"):
            return Response(content="", status_code=204, headers={"HX-Trigger": "inbox:notifications"})
        target = data.get("next") or ""
        return Redirect(path=target if target.startswith("/threads/") else "/")

    @post("/presence/away", name="presence_away")
    async def away(self, request: AnyRequest, data: Form) -> Response[Any]:
        me = manager_of(request)
        away = data.get("away") == "1"
        app = ctx(request)
        async with app.bus.transaction(app.factory) as session:
            await presence.set_away(session, me.id, away)
            emit(
                session, Event("presence", data={"manager_id": me.id, "state": "away" if away else "online"})
            )
        if request.headers.get("hx-request"):
            return Template("_presence.html", context={"away": away})
        return Redirect(path="/")

    @post("/ui/presence", name="presence_ping", status_code=204)
    async def ping(self, request: AnyRequest, data: Form) -> None:
        """Typing / viewing indicators: a small event on the bus, nothing written to the database."""
        me = manager_of(request)
        state = data.get("state", "")
        raw = data.get("thread", "")
        if state not in ("typing", "viewing", "left") or not raw.isdigit():
            raise ClientException("state must be typing, viewing or left, with a thread id")
        await ctx(request).bus.publish(
            Event("presence", thread_id=int(raw), data={"manager_id": me.id, "name": me.name, "state": state})
        )

    async def _act(self, request: AnyRequest, thread_id: int, action: Any) -> Response[Any]:
        app = ctx(request)
        try:
            async with app.bus.transaction(app.factory) as session:
                await action(session)
        except NotFound as exc:
            raise NotFoundException(str(exc)) from exc
        except TeamError as exc:
            return _error(request, str(exc))
        if not request.headers.get("hx-request"):
            return Redirect(path=f"/threads/{thread_id}")
        data = await thread_context(request, thread_id, mark=False)
        return Template("_thread_head.html", context=data)


def parse_until(data: dict[str, str], timezone: str) -> datetime | None:
    """``hours`` (a number), or ``until`` as the shop-local ``YYYY-MM-DDTHH:MM`` of a datetime-local field."""
    if data.get("wake") == "1":
        return None
    hours = (data.get("hours") or "").strip()
    if hours:
        try:
            value = float(hours)
        except ValueError as exc:
            raise ClientException(f"hours must be a number, got {hours!r}") from exc
        return datetime.now(ZoneInfo(timezone)) + timedelta(hours=value)
    raw = (data.get("until") or "").strip()
    try:
        local = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ClientException(f"until must look like 2026-12-01T09:00, got {raw!r}") from exc
    return local.replace(tzinfo=ZoneInfo(timezone)) if local.tzinfo is None else local


def _label_form(data: dict[str, str]) -> tuple[int, bool]:
    raw = data.get("label", "")
    if not raw.isdigit():
        raise ClientException(f"label must be a label id, got {raw!r}")
    return int(raw), data.get("on", "1") != "0"


def _error(request: AnyRequest, message: str) -> Response[Any]:
    if request.headers.get("hx-request"):
        return Template(
            "_error.html",
            context={"error": message},
            status_code=400,
            headers={"HX-Retarget": "#team-error", "HX-Reswap": "innerHTML"},
        )
    raise ClientException(message)
