"""Broadcasts in the web inbox: the list, a new broadcast to a segment (text, picture, link buttons, a
time), its statistics, a test send to yourself, cancelling one that has not finished."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import func, select

from inbox import i18n
from inbox.core.files import store_bytes
from inbox.db import transaction
from inbox.models import Broadcast, Customer
from inbox.sales import NotFound, SalesError, broadcasts, segments
from inbox.web.auth import manager_of
from inbox.web.state import ctx
from inbox.web.views.tasks import parse_local

AnyRequest = Request[Any, Any, Any]
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif"}
MAX_IMAGE = 5 * 1024 * 1024


def reason_names() -> dict[str, str]:
    _ = i18n._
    return {
        "no_channel": _("no channel"),
        "no_consent": _("no marketing consent"),
        "vk_not_allowed": _("VK: messages not allowed"),
        "failed": _("could not be queued"),
    }


def status_names() -> dict[str, str]:
    _ = i18n._
    return {
        "scheduled": _("scheduled"),
        "sending": _("sending"),
        "done": _("sent"),
        "cancelled": _("cancelled"),
    }


class BroadcastsController(Controller):
    @get("/broadcasts", name="broadcasts_page")
    async def page(self, request: AnyRequest) -> Template:
        async with ctx(request).factory() as session:
            items = list(
                (await session.execute(select(Broadcast).order_by(Broadcast.id.desc()).limit(100))).scalars()
            )
            names = {s.id: s.name for s in await segments.list_segments(session)}
        return Template(
            "broadcasts.html",
            context={
                "manager": manager_of(request),
                "items": items,
                "segment_names": names,
                "statuses": status_names(),
            },
        )

    @get("/broadcasts/new", name="broadcast_new")
    async def new(self, request: AnyRequest, segment: FromQuery[int | None] = None) -> Template:
        return await self._form(request, segment, None)

    async def _form(
        self, request: AnyRequest, segment_id: int | None, error: str | None, form: Any = None
    ) -> Template:
        async with ctx(request).factory() as session:
            all_segments = await segments.list_segments(session)
        return Template(
            "broadcast_new.html",
            context={
                "manager": manager_of(request),
                "segments": all_segments,
                "segment_id": segment_id,
                "error": error,
                "form": form or {},
            },
            status_code=400 if error else 200,
        )

    @post("/broadcasts", name="broadcast_create")
    async def create(self, request: AnyRequest) -> Template | Redirect:
        app = ctx(request)
        me = manager_of(request)
        form = await request.form()
        raw_segment = str(form.get("segment_id") or "")
        try:
            if not raw_segment.isdigit():
                raise SalesError(i18n._("Choose a segment."))
            send_at = None
            if str(form.get("send_at") or "").strip():
                send_at = parse_local(str(form.get("send_at")), app.settings.timezone)
            buttons = [
                {"text": t, "url": u}
                for t, u in zip(form.getall("button_text", []), form.getall("button_url", []), strict=False)
                if str(t).strip() or str(u).strip()
            ]
            image = None
            upload = form.get("image")
            if isinstance(upload, UploadFile) and upload.filename:
                data = await upload.read()
                if upload.content_type not in IMAGE_TYPES or len(data) > MAX_IMAGE:
                    raise SalesError(i18n._("The picture must be a JPEG, PNG, WebP or GIF of up to 5 MB."))
                stored = store_bytes(app.settings.data_dir, data)
                image = (
                    f"path={stored.path};sha256={stored.sha256};size={len(data)};"
                    f"type={upload.content_type};name={upload.filename.replace(';', '_')[:100]}"
                )
            async with transaction(app.factory) as session:
                broadcast = await broadcasts.create_broadcast(
                    session,
                    segment_id=int(raw_segment),
                    text=str(form.get("text") or ""),
                    buttons=buttons,
                    send_at=send_at,
                    image=image,
                    created_by_id=me.id,
                )
        except (SalesError, NotFound) as exc:
            return await self._form(
                request, int(raw_segment) if raw_segment.isdigit() else None, str(exc), form
            )
        app.workers.sales.wake()
        return Redirect(path=f"/broadcasts/{broadcast.id}")

    @get("/broadcasts/{broadcast_id:int}", name="broadcast_page")
    async def show(
        self, request: AnyRequest, broadcast_id: FromPath[int], sent: FromQuery[str | None] = None
    ) -> Template:
        me = manager_of(request)
        async with ctx(request).factory() as session:
            try:
                broadcast = await broadcasts.get_broadcast(session, broadcast_id)
            except NotFound as exc:
                raise NotFoundException(str(exc)) from exc
            stats = await broadcasts.statistics(session, broadcast)
            segment = await segments.get_segment(session, broadcast.segment_id)
            mine = (
                await session.execute(
                    select(Customer.id).where(
                        func.lower(Customer.email) == me.email.lower(), Customer.merged_into_id.is_(None)
                    )
                )
            ).scalar()
        return Template(
            "broadcast.html",
            context={
                "manager": me,
                "b": broadcast,
                "stats": stats,
                "segment": segment,
                "reasons": reason_names(),
                "statuses": status_names(),
                "my_customer_id": mine,
                "test_sent": sent,
            },
        )

    @post("/broadcasts/{broadcast_id:int}/test", name="broadcast_test")
    async def test(self, request: AnyRequest, broadcast_id: FromPath[int]) -> Redirect:
        """A test copy to yourself: the customer record with your email, or the customer id given."""
        app = ctx(request)
        form = await request.form()
        raw = str(form.get("customer_id") or "").strip()
        if not raw.isdigit():
            raise ClientException(i18n._("Give the customer id to send the test to."))
        try:
            async with app.bus.transaction(app.factory) as session:
                broadcast = await broadcasts.get_broadcast(session, broadcast_id)
                await broadcasts.test_send(session, broadcast, int(raw), app.settings)
        except NotFound as exc:
            raise NotFoundException(str(exc)) from exc
        except SalesError as exc:
            raise ClientException(str(exc)) from exc
        app.wake_dispatcher()
        return Redirect(path=f"/broadcasts/{broadcast_id}?sent=1")

    @post("/broadcasts/{broadcast_id:int}/cancel", name="broadcast_cancel")
    async def cancel(self, request: AnyRequest, broadcast_id: FromPath[int]) -> Redirect:
        try:
            async with transaction(ctx(request).factory) as session:
                await broadcasts.cancel(session, broadcast_id)
        except NotFound as exc:
            raise NotFoundException(str(exc)) from exc
        except SalesError as exc:
            raise ClientException(str(exc)) from exc
        return Redirect(path=f"/broadcasts/{broadcast_id}")
