"""Admin pages (role admin only; app.py mounts them behind require_admin): managers and roles, the audit
log, team settings (channel accounts: inbox.web.views.channels)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy import select

from inbox import i18n
from inbox.db import transaction
from inbox.models import Manager
from inbox.orders.statuses import load_statuses, status_name
from inbox.team import audit, audit_text, managers
from inbox.team.assignment import NotFound, TeamError
from inbox.team.settings import BadSetting, options, set_options
from inbox.web.auth import manager_of, require_manager
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


async def require_admin(request: AnyRequest) -> Response[Any] | None:
    """before_request hook: signed in (else the sign-in page) and role admin (else 403)."""
    denied = await require_manager(request)
    if denied is not None:
        return denied
    if manager_of(request).role != "admin":
        return Template("forbidden.html", context={"manager": manager_of(request)}, status_code=403)
    return None


class AdminController(Controller):
    @get("/", name="admin_home")
    async def home(self) -> Redirect:
        return Redirect(path="/admin/managers")

    @get("/managers", name="admin_managers")
    async def managers_page(self, request: AnyRequest) -> Template:
        return await self._managers(request, None)

    @post("/managers", name="admin_manager_create")
    async def create(self, request: AnyRequest, data: Form) -> Template | Redirect:
        me = manager_of(request)
        try:
            async with transaction(ctx(request).factory) as session:
                await managers.create_manager(
                    session,
                    me.id,
                    email=data.get("email", ""),
                    name=data.get("name", ""),
                    password=data.get("password", ""),
                    role=data.get("role", "manager"),
                    locale=data.get("locale", "ru"),
                )
        except TeamError as exc:
            return await self._managers(request, str(exc), 400)
        return Redirect(path="/admin/managers")

    @post("/managers/{manager_id:int}/active", name="admin_manager_active")
    async def active(self, request: AnyRequest, manager_id: FromPath[int], data: Form) -> Template | Redirect:
        me = manager_of(request)
        try:
            async with transaction(ctx(request).factory) as session:
                await managers.set_active(session, me.id, manager_id, data.get("active") == "1")
        except NotFound as exc:
            raise NotFoundException(str(exc)) from exc
        except TeamError as exc:
            return await self._managers(request, str(exc), 400)
        return Redirect(path="/admin/managers")

    @post("/managers/{manager_id:int}/role", name="admin_manager_role")
    async def role(self, request: AnyRequest, manager_id: FromPath[int], data: Form) -> Template | Redirect:
        me = manager_of(request)
        try:
            async with transaction(ctx(request).factory) as session:
                await managers.set_role(session, me.id, manager_id, data.get("role", ""))
        except NotFound as exc:
            raise NotFoundException(str(exc)) from exc
        except TeamError as exc:
            return await self._managers(request, str(exc), 400)
        return Redirect(path="/admin/managers")

    @get("/audit", name="admin_audit")
    async def audit_page(self, request: AnyRequest, before: FromQuery[str | None] = None) -> Template:
        """Admin actions and order changes together, newest first, as sentences in the manager's language;
        ``before`` (an ISO time) pages back."""
        until = None
        if before:
            try:
                until = datetime.fromisoformat(before)
            except ValueError as exc:
                raise ClientException(i18n._("Bad page link.")) from exc
        page = 100
        async with ctx(request).factory() as session:
            rows = await audit.entries(session, before_at=until, limit=page)
            history = await audit.order_changes(session, before_at=until, limit=page)
            names = dict((await session.execute(select(Manager.id, Manager.name))).all())
            statuses = await load_statuses(session)
        locale = i18n.current()

        def status_label(code: str) -> str:
            return status_name(statuses[code], locale) if code in statuses else i18n._("Draft")

        lines = audit_text.merged_log(rows, history, names, status_label)[:page]
        more = len(rows) == page or len(history) == page
        return Template(
            "admin_audit.html",
            context={
                "manager": manager_of(request),
                "lines": lines,
                "next_before": lines[-1].at.isoformat() if more and lines else None,
            },
        )

    @get("/team", name="admin_team")
    async def team(self, request: AnyRequest) -> Template:
        async with ctx(request).factory() as session:
            opts = await options(session)
        return Template(
            "admin_team.html", context={"manager": manager_of(request), "opts": opts, "error": None}
        )

    @post("/team", name="admin_team_save")
    async def team_save(self, request: AnyRequest, data: Form) -> Redirect:
        me = manager_of(request)
        raw = (data.get("waiting_minutes") or "0").strip()
        target = (data.get("response_minutes") or "0").strip()
        if not raw.isdigit() or not target.isdigit():
            raise ClientException(i18n._("Minutes must be a whole number."))
        try:
            async with transaction(ctx(request).factory) as session:
                rr = data.get("round_robin") == "1"
                on_reply = data.get("assign_on_reply") == "1"
                await set_options(
                    session,
                    round_robin=rr,
                    waiting_minutes=int(raw),
                    response_minutes=int(target),
                    assign_on_reply=on_reply,
                )
                await audit.record(
                    session,
                    me.id,
                    "team.settings",
                    "",
                    round_robin=rr,
                    waiting_minutes=int(raw),
                    response_minutes=int(target),
                    assign_on_reply=on_reply,
                )
        except BadSetting as exc:
            raise ClientException(str(exc)) from exc
        return Redirect(path="/admin/team")

    async def _managers(self, request: AnyRequest, error: str | None, status: int = 200) -> Template:
        async with ctx(request).factory() as session:
            items = await managers.all_managers(session)
        return Template(
            "admin_managers.html",
            context={"manager": manager_of(request), "items": items, "error": error},
            status_code=status,
        )
