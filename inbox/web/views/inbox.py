"""The shared web inbox: thread list, thread view, replies with files, retry, attachments, live updates."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from babel.dates import format_timedelta
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import File, Redirect, ServerSentEvent, Template
from litestar.response.sse import ServerSentEventMessage
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from inbox import i18n, metrics
from inbox.core.events import INBOX_CHANNEL
from inbox.core.files import resolve, safe_filename, store_bytes
from inbox.core.merge import live_thread
from inbox.core.outbox import Draft, NewAttachment, NoChannel, enqueue, retry
from inbox.core.threads import BadCursor, BadFilter, ThreadFilter, list_threads, mark_read, thread_messages
from inbox.db import transaction
from inbox.models import Attachment, ChannelAccount, Manager, Message, Thread, utcnow
from inbox.sales import segments, tasks
from inbox.team import Outcome, labels, notifications, presence, waiting
from inbox.team import settings as team_settings
from inbox.team.assignment import active_managers, assign
from inbox.web.auth import manager_of
from inbox.web.catchup import message_id_of, missed_since, parse_last_event_id
from inbox.web.state import ctx
from inbox.web.thread_page import thread_context
from inbox.web.views.email import reply_meta

AnyRequest = Request[Any, Any, Any]
log = logging.getLogger(__name__)


class InboxController(Controller):
    """Signed-in managers only: app.py mounts it on a router whose before_request is require_manager."""

    @get("/", name="inbox")
    async def inbox(
        self,
        request: AnyRequest,
        thread: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
        view: FromQuery[str] = "all",
    ) -> Template:
        data = await self._list_context(request, cursor, view)
        if thread is not None:
            data.update(await thread_context(request, thread))
        return Template("inbox.html", context=data)

    @get("/threads/{thread_id:int}", name="thread_page")
    async def thread_page(
        self, request: AnyRequest, thread_id: FromPath[int], view: FromQuery[str] = "all"
    ) -> Template | Redirect:
        async with ctx(request).factory() as session:
            live = await live_thread(session, thread_id)
        if live is not None and live.id != thread_id:  # the customer was merged: show the surviving thread
            return Redirect(path=f"/threads/{live.id}", status_code=302)
        data = await self._list_context(request, None, view)
        data.update(await thread_context(request, thread_id))
        if request.headers.get("hx-request"):
            return Template("_thread.html", context=data)
        return Template("inbox.html", context=data)

    @get("/ui/threads", name="thread_list")
    async def thread_list(
        self,
        request: AnyRequest,
        cursor: FromQuery[str | None] = None,
        view: FromQuery[str] = "all",
        current: FromQuery[int | None] = None,
    ) -> Template:
        data = await self._list_context(request, cursor, view)
        data["thread"] = {"id": current} if current else None
        data["oob_counts"] = True  # the views' counts in the header follow the list
        return Template("_thread_list.html", context=data)

    @get("/ui/threads/{thread_id:int}/messages", name="thread_messages")
    async def messages_after(
        self, request: AnyRequest, thread_id: FromPath[int], after: FromQuery[int] = 0
    ) -> Template:
        async with transaction(ctx(request).factory) as session:
            messages = await thread_messages(session, thread_id, after_id=after)
            await mark_read(session, thread_id)
            accounts = {a.id: a for a in (await session.execute(select(ChannelAccount))).scalars()}
        return Template("_messages.html", context={"messages": messages, "accounts": accounts})

    @get("/ui/messages/{message_id:int}", name="message_fragment")
    async def message_fragment(self, request: AnyRequest, message_id: FromPath[int]) -> Template:
        async with ctx(request).factory() as session:
            message = (
                await session.execute(
                    select(Message).where(Message.id == message_id).options(selectinload(Message.attachments))
                )
            ).scalar_one_or_none()
            accounts = {a.id: a for a in (await session.execute(select(ChannelAccount))).scalars()}
        if message is None:
            raise NotFoundException(i18n._("No such message."))
        return Template("_messages.html", context={"messages": [message], "accounts": accounts})

    @post("/threads/{thread_id:int}/reply", name="reply")
    async def reply(
        self,
        request: AnyRequest,
        thread_id: FromPath[int],
        data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
    ) -> Template | Redirect | Response[str]:
        manager = manager_of(request)
        app = ctx(request)
        text = str(data.get("text") or "").strip()
        channel = str(data.get("channel") or "") or None
        upload = data.get("file")
        attachments: list[NewAttachment] = []
        if isinstance(upload, UploadFile) and upload.filename:
            content = await upload.read()
            if len(content) > app.settings.max_upload_bytes:
                return _error(
                    request,
                    i18n._("The file is too large (at most %(mb)s MB).")
                    % {"mb": app.settings.max_upload_bytes // (1024 * 1024)},
                    413,
                )
            stored = store_bytes(app.settings.data_dir, content)
            ctype = (
                upload.content_type or mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
            )
            kind = "photo" if ctype in {"image/jpeg", "image/png", "image/webp"} else "document"
            attachments.append(
                NewAttachment(
                    kind, safe_filename(upload.filename), ctype, stored.path, stored.sha256, stored.size
                )
            )
        if not text and not attachments:
            return _error(request, i18n._("Write a message or attach a file."), 400)
        try:
            async with app.bus.transaction(app.factory) as session:
                thread = await live_thread(session, thread_id)
                if thread is None:
                    raise NotFoundException(i18n._("No such conversation."))
                meta = await reply_meta(session, thread_id, channel, data.get("reply_to"))
                await enqueue(
                    session,
                    thread,
                    Draft(
                        text=text,
                        manager_id=manager.id,
                        channel=channel,
                        attachments=tuple(attachments),
                        meta=meta,
                    ),
                )
                await take_on_reply(session, thread, manager.id)
        except NoChannel as exc:
            return _error(request, i18n._("Cannot send: %(reason)s") % {"reason": str(exc)}, 409)
        app.wake_dispatcher()
        if not request.headers.get("hx-request"):
            return Redirect(path=f"/threads/{thread_id}")
        return Response(content="", status_code=204, headers={"HX-Trigger": "inbox:sent"})

    @post("/messages/{message_id:int}/retry", name="retry")
    async def retry_message(self, request: AnyRequest, message_id: FromPath[int]) -> Response[str] | Redirect:
        app = ctx(request)
        try:
            async with app.bus.transaction(app.factory) as session:
                message = await retry(session, message_id)
        except LookupError as exc:
            raise NotFoundException(str(exc)) from exc
        except ValueError as exc:
            raise ClientException(str(exc), status_code=409) from exc
        app.wake_dispatcher()
        if request.headers.get("hx-request"):
            return Response(content="", status_code=204)
        return Redirect(path=f"/threads/{message.thread_id}")

    @get("/attachments/{attachment_id:int}/{name:str}", name="attachment")
    async def attachment(
        self, request: AnyRequest, attachment_id: FromPath[int], name: FromPath[str]
    ) -> File:
        app = ctx(request)
        async with app.factory() as session:
            att = await session.get(Attachment, attachment_id)
        if att is None or not att.path:
            raise NotFoundException(i18n._("This file is not available."))
        inline = att.content_type in {"image/jpeg", "image/png", "image/gif", "image/webp"}
        return File(
            path=resolve(app.settings.data_dir, att.path),
            filename=att.filename,
            media_type=att.content_type if inline else "application/octet-stream",
            content_disposition_type="inline" if inline else "attachment",
            headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
        )

    @get("/events", name="events")
    async def events(self, request: AnyRequest) -> ServerSentEvent:
        """Live updates for this manager's browser. Pub/sub drops events while disconnected, so the
        browser re-reads its list and thread from the database whenever the stream (re)opens."""
        app = ctx(request)
        plugin = app.channels
        manager = manager_of(request)
        last_seen = parse_last_event_id(request.headers.get("last-event-id"))

        async def beat() -> None:
            """Presence heartbeat: the open stream says this manager is online (one write a minute)."""
            try:
                async with transaction(app.factory) as session:
                    await presence.heartbeat(session, manager.id)
            except Exception:  # live updates must not die because a heartbeat write failed
                log.exception("presence heartbeat failed")

        async def stream() -> AsyncIterator[ServerSentEventMessage]:
            async with plugin.start_subscription([INBOX_CHANNEL, f"manager:{manager.id}"]) as sub:
                queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=1000)

                async def pump() -> None:
                    async for item in sub.iter_events():
                        await queue.put(item)

                pumping = asyncio.create_task(pump())
                metrics.SSE_CLIENTS.inc()
                await beat()
                last_beat = time.monotonic()
                try:
                    # Subscribed first, then read what was missed: nothing falls between the two.
                    missed = await missed_since(app.factory, last_seen)
                    cursor = missed.cursor
                    yield ServerSentEventMessage(event="hello", data="{}", id=str(cursor))
                    for message_id, data in missed.events:
                        yield ServerSentEventMessage(event="inbox", data=data, id=str(message_id))
                    while not pumping.done():
                        if time.monotonic() - last_beat >= presence.HEARTBEAT_EVERY:
                            await beat()
                            last_beat = time.monotonic()
                        try:
                            # asyncio.timeout, not wait_for: on Python 3.11 wait_for runs the get in a task
                            # of its own, one more turn of the event loop for every live update.
                            async with asyncio.timeout(15):
                                raw = await queue.get()
                        except TimeoutError:
                            yield ServerSentEventMessage(comment="keepalive")
                            continue
                        data = raw.decode() if isinstance(raw, bytes) else str(raw)
                        live_id = message_id_of(data)
                        if live_id is not None and live_id > cursor:
                            cursor = live_id
                            yield ServerSentEventMessage(event="inbox", data=data, id=str(cursor))
                        else:
                            yield ServerSentEventMessage(event="inbox", data=data)
                finally:
                    metrics.SSE_CLIENTS.dec()
                    pumping.cancel()

        return ServerSentEvent(stream(), headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @post("/settings/locale", name="set_locale")
    async def set_locale(
        self,
        request: AnyRequest,
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Redirect:
        locale = data.get("locale", "ru")
        if locale not in i18n.SUPPORTED:
            raise ClientException(f"unsupported language {locale!r}")
        manager = manager_of(request)
        async with transaction(ctx(request).factory) as session:
            row = await session.get(Manager, manager.id)
            if row is not None:
                row.locale = locale
        target = data.get("next") or "/"
        if not target.startswith("/") or target.startswith("//"):
            target = "/"  # only ever back into the inbox: no open redirects
        return Redirect(path=target)

    async def _list_context(self, request: AnyRequest, cursor: str | None, view: str) -> dict[str, Any]:
        manager = manager_of(request)
        filters, params = list_filters(request, view, manager.id)
        try:
            async with ctx(request).factory() as session:
                if filters.extra.get("segment", "").isdigit():
                    await segments.prime(session, int(filters.extra["segment"]))
                rows, next_cursor = await list_threads(session, cursor=cursor, filters=filters)
                my_tasks = await tasks.list_tasks(session, assignee_id=manager.id, limit=20)
                all_segments = await segments.list_segments(session)
                row_labels = await labels.thread_labels(session, [r.id for r in rows])
                team = {m.id: m for m in await active_managers(session)}
                all_labels = await labels.all_labels(session)
                unread_notes = await notifications.unread_count(session, manager.id)
                away = await presence.is_away(session, manager.id)
                since = await waiting.waiting_since(session, [r.id for r in rows])
                counts = await waiting.view_counts(session, manager.id)
                opts = await team_settings.options(session)
        except (BadCursor, BadFilter) as exc:
            raise ClientException(str(exc)) from exc
        return {
            "waits": wait_labels(since, opts.response_minutes),
            "view_counts": counts,
            "response_minutes": opts.response_minutes,
            "rows": rows,
            "next_cursor": next_cursor,
            "view": view,
            "manager": manager,
            "thread": None,
            "cursor": cursor,
            "row_labels": row_labels,
            "team_by_id": team,
            "all_labels": all_labels,
            "filters": params,
            "filter_qs": urlencode({"view": view, **params}),
            "unread_notifications": unread_notes,
            "away": away,
            "my_tasks": my_tasks,
            "all_segments": all_segments,
        }


FILTER_KEYS = ("label", "channel", "status", "assignee", "unread")


def list_filters(request: AnyRequest, view: str, me: int) -> tuple[ThreadFilter, dict[str, str]]:
    """The list's filters from the query string (kept out of handler signatures: one place to extend)."""
    q = request.query_params
    params = {k: str(q.get(k)) for k in FILTER_KEYS if q.get(k)}
    extra = {k[2:]: str(v) for k, v in q.items() if k.startswith("f_") and v}  # hooks: ?f_overdue=1
    params.update({f"f_{k}": v for k, v in extra.items()})
    assignee = params.get("assignee", "")
    label = params.get("label", "")
    if (assignee and not assignee.isdigit()) or (label and not label.isdigit()):
        raise ClientException("label and assignee filters take ids")
    if params.get("status") and params["status"] not in ("open", "waiting", "closed"):
        raise ClientException("status must be open, waiting or closed")
    if view == "waiting":  # customers waiting for an answer (inbox.team.waiting)
        extra[waiting.AWAITING] = "1"
    filters = ThreadFilter(
        status=params.get("status") or None,
        assignee_id=me if view == "mine" else (int(assignee) if assignee else None),
        unassigned=view == "unassigned",
        label_id=int(label) if label else None,
        channel=params.get("channel") or None,
        unread=params.get("unread") == "1",
        snoozed=view == "snoozed",
        extra=extra,
    )
    return filters, params


async def take_on_reply(session: AsyncSession, thread: Thread, manager_id: int) -> Outcome:
    """Answering an unassigned thread assigns it to the one who answered (a team setting, on by default)."""
    if thread.assignee_id is not None or not (await team_settings.options(session)).assign_on_reply:
        return Outcome()
    return await assign(session, thread.id, manager_id, manager_id)


def wait_labels(since: dict[int, datetime], target_minutes: int) -> dict[int, dict[str, Any]]:
    """How long each waiting customer has waited, in the manager's language, and whether that is past the
    team's response-time target (0: no target)."""
    now = utcnow()
    out: dict[int, dict[str, Any]] = {}
    for tid, at in since.items():
        waited = max(now - at, timedelta(0))
        out[tid] = {
            "label": format_timedelta(waited, threshold=1.5, format="short", locale=i18n.current()),
            "over": bool(target_minutes) and waited >= timedelta(minutes=target_minutes),
            "since": at,
        }
    return out


def _error(request: AnyRequest, message: str, status: int) -> Template | Response[str]:
    if request.headers.get("hx-request"):
        return Template(
            "_error.html",
            context={"error": message},
            status_code=status,
            headers={"HX-Retarget": "#reply-error", "HX-Reswap": "innerHTML"},
        )
    raise ClientException(message, status_code=status)


with contextlib.suppress(Exception):
    mimetypes.add_type("image/webp", ".webp")
