"""The route of the demo channel's "play the customer" page (its logic, template and static files live in
``inbox.channels.demo``; channels may not import the web layer, so the thin Litestar part is here).

Signed-in managers only (the page is opened from the demo inbox in a second tab): a real shop never
exposes a way to post as its customers, and demo accounts are the only ones accepted."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import ClientException, NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import File, Redirect
from litestar.utils.scope.state import ScopeState

from inbox import i18n
from inbox.channels.demo import play
from inbox.web.filters import channel_label
from inbox.web.state import ctx

AnyRequest = Request[Any, Any, Any]
log = logging.getLogger(__name__)
IMAGE = re.compile(r"^[A-Za-z0-9_.-]{1,100}\.svg$")


@dataclass
class SayIn:
    account: int
    user: str
    name: str = ""
    text: str = ""
    payload: str = ""


class DemoCustomerController(Controller):
    path = "/demo"

    @get("/customer", name="demo_customer")
    async def page(
        self,
        request: AnyRequest,
        as_: FromQuery[str | None] = None,
        account: FromQuery[int | None] = None,
        user: FromQuery[str | None] = None,
        name: FromQuery[str | None] = None,
        phone: FromQuery[str | None] = None,
        new: FromQuery[str | None] = None,
    ) -> Response[str] | Redirect:
        as_ = as_ or request.query_params.get("as")
        error: str | None = None
        persona: play.Persona | None = None
        async with ctx(request).factory() as session:
            accounts = await play.demo_accounts(session)
            people = await play.personas(session)
            try:
                if as_ and ":" in as_:
                    acc, _sep, who = as_.partition(":")
                    if not acc.isdigit():
                        raise play.PlayError(i18n._("Choose who you are first."))
                    return Redirect(path="/demo/customer", query_params={"account": acc, "user": who})
                if new and account is not None:
                    chosen = await play.demo_account(session, account)
                    if not (name or "").strip():
                        raise play.PlayError(i18n._("Give the new customer a name."))
                    who = play.new_user(chosen.kind, phone)
                    return Redirect(
                        path="/demo/customer",
                        query_params={"account": str(chosen.id), "user": who, "name": (name or "").strip()},
                    )
                if account is not None and user:
                    chosen = await play.demo_account(session, account)
                    known = next((p for p in people if p.account_id == chosen.id and p.user == user), None)
                    persona = known or play.Persona(chosen.id, chosen.kind, user, (name or user).strip())
            except play.PlayError as exc:
                error = exc.reason
        html = play.render(
            "customer.html",
            accounts=accounts,
            personas=people,
            persona=persona,
            error=error,
            csrf=ScopeState.from_scope(request.scope).csrf_token or "",
            kind_labels={a.kind: channel_label(a.kind) for a in accounts},
        )
        return Response(html, media_type="text/html", status_code=400 if error else 200)

    @get("/customer/messages", name="demo_customer_messages")
    async def messages(
        self,
        request: AnyRequest,
        account: FromQuery[int | None] = None,
        user: FromQuery[str | None] = None,
        after: FromQuery[int] = 0,
    ) -> list[dict[str, Any]]:
        if account is None or not user:
            return []  # nobody chosen yet: nothing to show
        async with ctx(request).factory() as session:
            try:
                await play.demo_account(session, account)
            except play.PlayError as exc:
                raise NotFoundException(exc.reason) from exc
            return await play.conversation(session, account, user, after)

    @post("/customer/say", name="demo_customer_say", status_code=202)
    async def say(self, request: AnyRequest, data: JSONBody[SayIn]) -> dict[str, str]:
        app = ctx(request)
        async with app.factory() as session:
            try:
                account = await play.demo_account(session, data.account)
                event = play.make_event(
                    account, data.user, data.name, text=data.text, payload=data.payload, locale=i18n.current()
                )
            except play.PlayError as exc:
                raise ClientException(exc.reason) from exc
        await app.workers.raw_writer.store(account.id, [event])
        app.wake_processor()
        return {"status": "accepted"}

    @get("/customer.js", name="demo_customer_js")
    async def script(self) -> File:
        return File(
            play.STATIC / "customer.js", media_type="text/javascript", content_disposition_type="inline"
        )

    @get("/customer.css", name="demo_customer_css")
    async def style(self) -> File:
        return File(play.STATIC / "customer.css", media_type="text/css", content_disposition_type="inline")

    @get("/images/{name:str}", name="demo_image")
    async def image(self, request: AnyRequest, name: FromPath[str]) -> File:
        """Pictures of the demo catalog, drawn by ``inbox demo`` into the data directory."""
        path = ctx(request).settings.data_dir / "demo" / "images" / name
        if not IMAGE.match(name) or not path.is_file():
            raise NotFoundException(i18n._("No such picture."))
        return File(path, media_type="image/svg+xml", content_disposition_type="inline")


async def detect_demo_shop(app: Any) -> None:
    """On start-up: a shop with demo channels shows "Open as customer" in the inbox's menu."""
    try:
        async with app.state.ctx.factory() as session:
            demo = bool(await play.demo_accounts(session))
    except Exception:  # a database that is down or not migrated yet must not stop the start; /readyz tells
        log.warning("could not tell whether this is a demo shop", exc_info=True)
        demo = False
    app.template_engine.engine.globals["demo_shop"] = demo
