"""The widget's public routes: ``GET /widget.js`` and everything under ``/widget/``.

They sit outside the managers' session and CSRF middleware (``ChannelSpec.public``). Every call names its
widget key (``?key=``); a call from a browser must come from one of that key's allowed origins (CORS answers
name only that origin). The visitor is the signed token the browser keeps (``Authorization: Bearer`` or
``?token=`` for the event stream and file links): every read is limited to that visitor's own identity, so
one visitor's token never reads another's messages or files. Rate limits per visitor and per IP.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from inbox import i18n
from inbox.channels.public import PublicError, PublicRequest, PublicResponse, visitor_stream
from inbox.channels.widget.adapter import KIND, stream_of
from inbox.channels.widget.config import BadConfig, WidgetConfig, parse_config
from inbox.channels.widget.events import button_event, message_event
from inbox.channels.widget.models import WidgetVisitor
from inbox.channels.widget.tokens import (
    Visitor,
    read_upload_ref,
    read_visitor_token,
    upload_ref,
    user_signature_ok,
    visitor_token,
)
from inbox.core import confirm
from inbox.core.events import INBOX_CHANNEL, Event, emit
from inbox.core.files import resolve, safe_filename, store_bytes
from inbox.core.phones import try_normalize_phone
from inbox.core.ratelimit import Limit, try_acquire
from inbox.customer_card.consent import record_consent
from inbox.db import insert_for, transaction
from inbox.i18n import _
from inbox.keys import Keyring
from inbox.models import (
    Attachment,
    ChannelAccount,
    Customer,
    Delivery,
    Identity,
    KeyValue,
    Message,
    Thread,
    utcnow,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
KEY_TTL = 5.0
HISTORY_LIMIT = 200
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{2,63}")
ALLOW_HEADERS = "authorization, content-type, x-filename"

_keys: dict[str, tuple[float, int | None]] = {}


@dataclass(frozen=True, slots=True)
class Call:
    """A request resolved to its widget key (and, where needed, its visitor)."""

    req: PublicRequest
    account_id: int
    account_name: str
    cfg: WidgetConfig
    secret: str
    cors: dict[str, str]
    keys: Keyring

    @property
    def visitor(self) -> Visitor:
        raw = self.req.headers.get("authorization", "")
        token = raw[7:] if raw.lower().startswith("bearer ") else self.req.query.get("token", "")
        found = read_visitor_token(self.keys, token) if token else None
        if found is None or found.account_id != self.account_id:
            raise PublicError(401, _("The chat session has expired: reload the page."), self.cors)
        return found


# ---- the loader ----


@dataclass(frozen=True, slots=True)
class Loader:
    body: bytes
    etag: str


_loader: Loader | None = None


def loader() -> Loader:
    global _loader
    if _loader is None:
        body = (STATIC / "widget.js").read_bytes()
        _loader = Loader(body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')
    return _loader


def serve_loader(req: PublicRequest) -> PublicResponse:
    js = loader()
    headers = {
        "ETag": js.etag,
        "Cache-Control": "public, max-age=300, stale-while-revalidate=86400",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Access-Control-Allow-Origin": "*",
    }
    if js.etag in [t.strip() for t in req.headers.get("if-none-match", "").split(",")]:
        return PublicResponse(status=304, headers=headers, media_type="application/javascript")
    return PublicResponse(body=js.body, headers=headers, media_type="application/javascript; charset=utf-8")


# ---- key, origin, limits ----


async def _account_id(req: PublicRequest, key: str) -> int | None:
    now = time.monotonic()
    cached = _keys.get(key)
    if cached is not None and now - cached[0] < KEY_TTL:
        return cached[1]
    async with req.context.factory() as session:
        rows = await session.execute(
            select(ChannelAccount.id, ChannelAccount.settings).where(
                ChannelAccount.kind == str(KIND), ChannelAccount.enabled.is_(True)
            )
        )
        found = next(
            (int(r.id) for r in rows if secrets.compare_digest(str(r.settings.get("key", "")), key)), None
        )
    if len(_keys) > 10_000:
        _keys.clear()
    _keys[key] = (now, found)
    return found


def _same_origin_allowed(req: PublicRequest, cfg: WidgetConfig) -> bool:
    """A same-origin GET carries no Origin header; the browser's ``Sec-Fetch-Site: same-origin`` (which a
    page's script cannot set) says it comes from this server's own origin, allowed when that is listed."""
    host = req.headers.get("host", "").lower()
    if req.headers.get("sec-fetch-site") != "same-origin" or not host:
        return False
    return f"http://{host}" in cfg.origins or f"https://{host}" in cfg.origins


async def _call(req: PublicRequest, *, need_origin: bool = True) -> Call:
    key = req.query.get("key", "")
    if not key or len(key) > 100:
        raise PublicError(400, _("The widget key is missing."))
    account_id = await _account_id(req, key)
    cfg_row = await req.context.account(account_id) if account_id is not None else None
    if account_id is None or cfg_row is None:
        raise PublicError(404, _("No such widget."))
    try:
        cfg = parse_config(cfg_row.settings)
    except BadConfig as exc:
        log.warning("widget %s is misconfigured: %s", account_id, exc)
        raise PublicError(404, _("No such widget.")) from exc
    origin = (req.origin or "").rstrip("/")
    cors: dict[str, str] = {"Vary": "Origin", "Cache-Control": "no-store"}
    if origin and origin.lower() in cfg.origins:
        cors["Access-Control-Allow-Origin"] = origin
    elif not origin and _same_origin_allowed(req, cfg):
        pass  # a page of this server itself (the demo shop's site): browsers send no Origin on its GETs
    elif need_origin or origin:
        raise PublicError(403, _("This site may not use this widget."), {"Vary": "Origin"})
    settings = req.context.settings
    return Call(
        req=req,
        account_id=account_id,
        account_name=cfg_row.name,
        cfg=cfg,
        secret=str(cfg_row.secrets.get("secret", "")),
        cors=cors,
        keys=Keyring(settings.secret_key, settings.secret_key_old),
    )


async def _limit(call: Call, key: str, rule: tuple[int, float]) -> None:
    count, window = rule
    wait, _slots = await try_acquire(call.req.context.limiter, [Limit(f"widget:{key}", count, window, False)])
    if wait > 0:
        raise PublicError(
            429,
            _("Too many requests: wait a little and try again."),
            {**call.cors, "Retry-After": str(max(1, round(wait)))},
        )


async def _per_ip(call: Call) -> None:
    await _limit(call, f"ip:{call.account_id}:{call.req.client_ip}", call.cfg.rate_ip)


# ---- helpers ----


def _locale(cfg: WidgetConfig, asked: str | None) -> str:
    lang = cfg.lang if cfg.lang != "auto" else (asked or "")
    return "ru" if lang.lower().startswith("ru") else ("en" if lang else "ru")


def strings() -> dict[str, str]:
    """Every text the loader shows, in the current locale."""
    return {
        "title": _("Chat with us"),
        "greeting": _("Hello! Ask us anything: we usually answer within a few minutes."),
        "open": _("Open the chat"),
        "close": _("Close the chat"),
        "placeholder": _("Your message"),
        "send": _("Send"),
        "attach": _("Attach a file"),
        "log": _("Conversation"),
        "typing": _("typing…"),
        "you": _("You"),
        "shop": _("Shop"),
        "offline": _("We are offline now. Leave your email or phone: the answer will come there."),
        "contact_label": _("Email or phone"),
        "contact_hint": _("Leave your email or phone to get answers there too"),
        "get_code": _("Get a code"),
        "consent": _("Send me news and offers in this chat and at this address"),
        "code_sent": _("We sent a code to {address}. Enter it here."),
        "code_label": _("Confirmation code"),
        "confirm": _("Confirm"),
        "confirmed": _("Confirmed: {address}. Answers can come there too."),
        "too_big": _("The file is too large."),
        "bad_type": _("This type of file cannot be sent."),
        "too_long": _("The message is too long."),
        "error": _("Something went wrong. Try again."),
        "file": _("File"),
        "new_message": _("New message"),
    }


async def _identity(call: Call, visitor: Visitor) -> Identity | None:
    async with call.req.context.factory() as session:
        found: Identity | None = (
            await session.execute(
                select(Identity).where(
                    Identity.kind == str(KIND),
                    Identity.account_id == call.account_id,
                    Identity.external_id == visitor.external_id,
                )
            )
        ).scalar_one_or_none()
        return found


def _json(body: Any, call: Call, status: int = 200) -> PublicResponse:
    return PublicResponse.json(body, status=status, headers=call.cors)


def _body(call: Call) -> dict[str, Any]:
    data = call.req.json()
    if not isinstance(data, dict):
        raise PublicError(400, _("The request body must be a JSON object."), call.cors)
    return data


def _client_id(call: Call, data: dict[str, Any]) -> str:
    cid = str(data.get("id") or "")
    if not CLIENT_ID.fullmatch(cid):
        raise PublicError(400, _("A message needs an id of letters, digits, - and _."), call.cors)
    return cid


# ---- handlers ----


async def start_session(call: Call) -> PublicResponse:
    await _per_ip(call)
    data = _body(call)
    keys = call.keys
    visitor: Visitor | None = None
    user, sig = str(data.get("user") or ""), str(data.get("user_sig") or "")
    if user:
        if not user_signature_ok(call.secret, user, sig):
            raise PublicError(403, _("The signed customer id does not match."), call.cors)
        visitor = Visitor(call.account_id, f"u:{user}")
    if visitor is None and data.get("token"):
        found = read_visitor_token(keys, str(data["token"]))
        if found is not None and found.account_id == call.account_id:
            visitor = found
    if visitor is None:
        visitor = Visitor(call.account_id, "v:" + secrets.token_urlsafe(16))
    locale = _locale(call.cfg, str(data.get("lang") or ""))
    name = str(data.get("name") or "")[:200] if user else ""
    now = utcnow()
    async with transaction(call.req.context.factory) as session:
        await session.execute(
            insert_for(session, WidgetVisitor)
            .values(
                account_id=call.account_id,
                external_id=visitor.external_id,
                name=name,
                locale=locale,
                created_at=now,
                last_seen_at=now,
            )
            .on_conflict_do_update(
                index_elements=["account_id", "external_id"], set_={"last_seen_at": now, "locale": locale}
            )
        )
    with i18n.use_locale(locale):
        texts = strings()
        title = call.cfg.title or texts["title"]
        greeting = call.cfg.greeting or texts["greeting"]
    return _json(
        {
            "token": visitor_token(keys, visitor),
            "locale": locale,
            "online": call.cfg.online(datetime.now(UTC)),
            "title": title,
            "greeting": greeting,
            "color": call.cfg.color,
            "position": call.cfg.position,
            "max_text": call.cfg.max_text,
            "max_upload": call.cfg.max_upload,
            "upload_types": list(call.cfg.upload_types),
            "strings": texts,
        },
        call,
    )


def _message_json(m: Message, call: Call, token: str) -> dict[str, Any]:
    base = call.req.context.settings.public_url or call.cfg.public_url or ""
    key = call.req.query.get("key", "")
    return {
        "id": m.id,
        "ext": (m.external_id or "").partition("/")[2] if m.direction == "in" else m.external_id,
        "dir": m.direction,
        "author": m.author,
        "text": m.text or "",
        "at": m.created_at.isoformat(),
        "delivery": m.delivery,
        "buttons": [
            [{"label": b.get("label", ""), "payload": b.get("payload"), "url": b.get("url")} for b in row]
            for row in (m.meta or {}).get("buttons", [])
        ],
        "attachments": [
            {
                "id": a.id,
                "name": a.filename,
                "type": a.content_type,
                "size": a.size,
                "url": f"{base}/widget/file/{a.id}?key={key}&token={token}",
            }
            for a in m.attachments
        ],
    }


async def _mark_delivered(call: Call, identity_id: int, ids: list[int]) -> None:
    """Outbound messages the visitor's browser has fetched: delivered (only from "sent": a message the
    dispatcher has not finished yet keeps its state, the browser reports it later)."""
    if not ids:
        return
    async with call.req.context.bus.transaction(call.req.context.factory) as session:
        rows = (
            await session.execute(
                update(Message)
                .where(
                    Message.identity_id == identity_id,
                    Message.id.in_(ids),
                    Message.direction == "out",
                    Message.delivery == Delivery.SENT,
                )
                .values(delivery=Delivery.DELIVERED)
                .returning(Message.id, Message.thread_id)
            )
        ).all()
        emit(
            session,
            *[
                Event(
                    "message.updated", thread_id=r.thread_id, message_id=r.id, data={"delivery": "delivered"}
                )
                for r in rows
            ],
        )


async def history(call: Call) -> PublicResponse:
    visitor = call.visitor
    await _per_ip(call)
    try:
        after = int(call.req.query.get("after") or 0)
    except ValueError as exc:
        raise PublicError(400, _("after must be a message id."), call.cors) from exc
    identity = await _identity(call, visitor)
    if identity is None:
        return _json({"messages": []}, call)

    async with call.req.context.factory() as session:
        query = (
            select(Message)
            .options(selectinload(Message.attachments))
            .where(
                Message.identity_id == identity.id, Message.direction.in_(("in", "out")), Message.id > after
            )
            .order_by(Message.id.desc())
            .limit(HISTORY_LIMIT)
        )
        rows = list(reversed((await session.execute(query)).scalars().all()))
        await session.execute(
            update(WidgetVisitor)
            .where(
                WidgetVisitor.account_id == call.account_id, WidgetVisitor.external_id == visitor.external_id
            )
            .values(customer_id=identity.customer_id, last_seen_at=utcnow())
        )
        await session.commit()
    token = visitor_token(call.keys, visitor)
    out = [_message_json(m, call, token) for m in rows]
    await _mark_delivered(call, identity.id, [m.id for m in rows if m.direction == "out"])
    return _json({"messages": out}, call)


async def seen(call: Call) -> PublicResponse:
    visitor = call.visitor
    data = _body(call)
    ids = [int(i) for i in data.get("ids") or [] if isinstance(i, int)][:HISTORY_LIMIT]
    identity = await _identity(call, visitor)
    if identity is not None:
        await _mark_delivered(call, identity.id, ids)
    return PublicResponse(status=204, headers=call.cors)


async def send(call: Call) -> PublicResponse:
    visitor = call.visitor
    data = _body(call)
    cid = _client_id(call, data)
    text = str(data.get("text") or "").strip()
    if len(text) > call.cfg.max_text:
        raise PublicError(413, _("The message is too long."), call.cors)
    refs = data.get("attachments") or []
    if not isinstance(refs, list) or len(refs) > 5:
        raise PublicError(400, _("At most 5 files per message."), call.cors)
    files = []
    for ref in refs:
        info = read_upload_ref(call.keys, visitor, str(ref))
        if info is None:
            raise PublicError(400, _("An attached file is unknown or belongs to another chat."), call.cors)
        files.append({k: info[k] for k in ("path", "filename", "content_type", "size")})
    if not text and not files:
        raise PublicError(400, _("The message is empty."), call.cors)
    await _limit(call, f"v:{call.account_id}:{visitor.external_id}", call.cfg.rate_messages)
    await _per_ip(call)
    row = await _visitor_row(call, visitor)
    event = message_event(
        visitor.external_id,
        cid,
        text,
        files,
        name=row.name if row else "",
        locale=row.locale if row else None,
    )
    await call.req.context.store_events(call.account_id, [event])
    call.req.context.bus.publish_to(
        stream_of(call.account_id, visitor.external_id), {"type": "echo", "ext": cid, "text": text}
    )
    return _json({"id": cid}, call, status=202)


async def _visitor_row(call: Call, visitor: Visitor) -> WidgetVisitor | None:
    async with call.req.context.factory() as session:
        row: WidgetVisitor | None = (
            await session.execute(
                select(WidgetVisitor).where(
                    WidgetVisitor.account_id == call.account_id,
                    WidgetVisitor.external_id == visitor.external_id,
                )
            )
        ).scalar_one_or_none()
        return row


async def button(call: Call) -> PublicResponse:
    visitor = call.visitor
    data = _body(call)
    cid = _client_id(call, data)
    payload = str(data.get("payload") or "")
    if not payload or len(payload) > 256:
        raise PublicError(400, _("A button press needs its payload."), call.cors)
    await _limit(call, f"v:{call.account_id}:{visitor.external_id}", call.cfg.rate_messages)
    await call.req.context.store_events(call.account_id, [button_event(visitor.external_id, cid, payload)])
    return _json({"id": cid}, call, status=202)


async def upload(call: Call) -> PublicResponse:
    visitor = call.visitor
    content_type = call.req.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in call.cfg.upload_types:
        raise PublicError(415, _("This type of file cannot be sent."), call.cors)
    body = call.req.body
    if len(body) > call.cfg.max_upload:
        raise PublicError(413, _("The file is too large."), call.cors)
    if not body:
        raise PublicError(400, _("The file is empty."), call.cors)
    await _limit(call, f"up:{call.account_id}:{visitor.external_id}", (10, 60.0))
    name = safe_filename(unquote(call.req.headers.get("x-filename", "")), default="file")
    stored = store_bytes(call.req.context.settings.data_dir, body)
    info = {"path": stored.path, "filename": name, "content_type": content_type, "size": stored.size}
    return _json({"ref": upload_ref(call.keys, visitor, info), "name": name, "size": stored.size}, call)


async def typing(call: Call) -> PublicResponse:
    visitor = call.visitor
    await _limit(call, f"t:{call.account_id}:{visitor.external_id}", (30, 60.0))
    thread_id = await _thread_of(call, visitor)
    if thread_id is not None:
        await call.req.context.bus.publish(Event("visitor.typing", thread_id=thread_id))
    return PublicResponse(status=204, headers=call.cors)


def _subject(call: Call, visitor: Visitor) -> str:
    return f"widget:{call.account_id}:{visitor.external_id}"


async def contact(call: Call) -> PublicResponse:
    visitor = call.visitor
    data = _body(call)
    raw = str(data.get("contact") or "").strip()
    agreed = data.get("consent", False)
    if not isinstance(agreed, bool):
        raise PublicError(400, _("The consent box must be true or false."), call.cors)
    kind: confirm.AddressKind
    if EMAIL.fullmatch(raw):
        kind, address = "email", raw.lower()
    else:
        phone = try_normalize_phone(raw) if len(raw) < 40 else None
        if phone is None:
            raise PublicError(400, _("Enter an email address or a phone number."), call.cors)
        kind, address = "phone", phone
    await _limit(call, f"c:{call.account_id}:{visitor.external_id}", (5, 600.0))
    row = await _visitor_row(call, visitor)
    locale = (row.locale if row else None) or "ru"
    with i18n.use_locale(locale):
        text = _("Your confirmation code: {code}. Enter it in the chat on the site.")
        title = _("Confirmation code")
    try:
        await confirm.issue(
            call.req.context.factory, _subject(call, visitor), kind, address, text=text, title=title
        )
    except confirm.ConfirmError as exc:
        if exc.reason == "too_soon":
            raise PublicError(429, _("A code was just sent: wait half a minute."), call.cors) from exc
        raise PublicError(
            409,
            _("The shop cannot send codes by email now.")
            if kind == "email"
            else _("The shop cannot send codes by SMS now."),
            call.cors,
        ) from exc
    call.req.context.wake_outbox()
    await _remember_consent(call, visitor, address if agreed else None)
    if data.get("offline"):
        async with transaction(call.req.context.factory) as session:
            await session.execute(
                update(WidgetVisitor)
                .where(
                    WidgetVisitor.account_id == call.account_id,
                    WidgetVisitor.external_id == visitor.external_id,
                )
                .values(offline_contact=address)
            )
    return _json({"sent": kind, "address": address}, call, status=202)


CONSENT_NS = "widget_consent"  # kv_store: the address a visitor ticked "news and offers" for
CONSENT_TTL = timedelta(days=1)


async def _remember_consent(call: Call, visitor: Visitor, address: str | None) -> None:
    """The box ticked with this contact (kept until the address is confirmed); unticked forgets it."""
    subject = _subject(call, visitor)
    async with transaction(call.req.context.factory) as session:
        await session.execute(
            delete(KeyValue).where(KeyValue.namespace == CONSENT_NS, KeyValue.key == subject)
        )
        if address is not None:
            session.add(
                KeyValue(
                    namespace=CONSENT_NS,
                    key=subject,
                    value=address.encode(),
                    expires_at=utcnow() + CONSENT_TTL,
                )
            )


async def _consent_on_confirm(
    session: AsyncSession, subject: str, customer_id: int, confirmed: confirm.Confirmed
) -> None:
    """Marketing consent for the widget and the confirmed address's channel, if the box was ticked for it."""
    row = await session.get(KeyValue, (CONSENT_NS, subject))
    if row is None:
        return
    await session.delete(row)
    alive = row.expires_at is None or row.expires_at > utcnow()
    if not alive or row.value.decode() != confirmed.address:
        return
    for channel in (str(KIND), "email" if confirmed.address_kind == "email" else "sms"):
        await record_consent(session, customer_id, channel, True, source="widget")


async def confirm_code(call: Call) -> PublicResponse:
    visitor = call.visitor
    data = _body(call)
    code = str(data.get("code") or "")[:20]
    await _limit(call, f"k:{call.account_id}:{visitor.external_id}", (10, 600.0))
    try:
        confirmed = await confirm.verify(call.req.context.factory, _subject(call, visitor), code)
    except confirm.ConfirmError as exc:
        if exc.reason == "wrong":
            raise PublicError(
                400, _("The code is wrong. Attempts left: {n}.").format(n=exc.left), call.cors
            ) from exc
        if exc.reason == "attempts":
            raise PublicError(429, _("Too many wrong codes: ask for a new one."), call.cors) from exc
        raise PublicError(410, _("The code has expired: ask for a new one."), call.cors) from exc
    row = await _visitor_row(call, visitor)
    async with call.req.context.bus.transaction(call.req.context.factory) as session:
        customer_id, _events = await confirm.attach_confirmed(
            session,
            kind=str(KIND),
            account_id=call.account_id,
            external_id=visitor.external_id,
            confirmed=confirmed,
            display_name=row.name if row else "",
        )
        values: dict[str, Any] = {"customer_id": customer_id}
        await session.execute(
            update(WidgetVisitor)
            .where(
                WidgetVisitor.account_id == call.account_id, WidgetVisitor.external_id == visitor.external_id
            )
            .values(**values)
        )
        await _consent_on_confirm(session, _subject(call, visitor), customer_id, confirmed)
        if row is not None and row.offline_contact == confirmed.address:
            # Left while nobody was working: the answer goes to the confirmed address.
            target = "email" if confirmed.address_kind == "email" else "sms"
            await session.execute(
                update(Customer).where(Customer.id == customer_id).values(preferred_channel=target)
            )
    return _json({"confirmed": confirmed.address, "kind": confirmed.address_kind}, call)


async def _thread_of(call: Call, visitor: Visitor) -> int | None:
    identity = await _identity(call, visitor)
    if identity is None:
        return None
    async with call.req.context.factory() as session:
        found: int | None = (
            await session.execute(select(Thread.id).where(Thread.customer_id == identity.customer_id))
        ).scalar_one_or_none()
        return found


async def stream(call: Call) -> PublicResponse:
    visitor = call.visitor
    await _per_ip(call)
    known: dict[str, int | None] = {"thread": await _thread_of(call, visitor)}

    async def only_mine(data: str) -> str | None:
        """The visitor's own stream passes; from the inbox stream only a manager typing in this thread."""
        try:
            event = json.loads(data)
        except ValueError:
            return None
        if not isinstance(event, dict):
            return None
        if "thread_id" not in event:
            return data  # published to this visitor's own channel
        if event.get("type") != "presence" or (event.get("data") or {}).get("state") != "typing":
            return None
        if known["thread"] is None:  # the visitor had not written yet when the stream opened
            known["thread"] = await _thread_of(call, visitor)
        if known["thread"] is not None and event.get("thread_id") == known["thread"]:
            return '{"type":"typing"}'
        return None

    body = visitor_stream(
        call.req.context,
        [stream_of(call.account_id, visitor.external_id), INBOX_CHANNEL],
        select=only_mine,
    )
    headers = {**call.cors, "X-Accel-Buffering": "no"}
    return PublicResponse(stream=body, media_type="text/event-stream", headers=headers)


async def file(call: Call, attachment_id: str) -> PublicResponse:
    visitor = call.visitor
    if not attachment_id.isdigit() or len(attachment_id) > 18:
        raise PublicError(404, _("No such file."), call.cors)
    identity = await _identity(call, visitor)
    if identity is None:
        raise PublicError(404, _("No such file."), call.cors)
    async with call.req.context.factory() as session:
        att = (
            await session.execute(
                select(Attachment)
                .join(Message, Message.id == Attachment.message_id)
                .where(Attachment.id == int(attachment_id), Message.identity_id == identity.id)
            )
        ).scalar_one_or_none()
    if att is None or not att.path:
        raise PublicError(404, _("No such file."), call.cors)
    data = await asyncio.to_thread(resolve(call.req.context.settings.data_dir, att.path).read_bytes)
    inline = att.content_type in ("image/png", "image/jpeg", "image/gif", "image/webp")
    name = safe_filename(att.filename)
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    headers = {
        **call.cors,
        "Cache-Control": "private, max-age=3600",
        "Content-Security-Policy": "sandbox",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{ascii_name}"; '
        f"filename*=UTF-8''{quote(name, safe='')}",
    }
    return PublicResponse(
        body=data, media_type=att.content_type if inline else "application/octet-stream", headers=headers
    )


ROUTES = {
    ("POST", "session"): start_session,
    ("GET", "history"): history,
    ("POST", "seen"): seen,
    ("POST", "send"): send,
    ("POST", "button"): button,
    ("POST", "upload"): upload,
    ("POST", "typing"): typing,
    ("POST", "contact"): contact,
    ("POST", "confirm"): confirm_code,
    ("GET", "stream"): stream,
}


async def handle(req: PublicRequest) -> PublicResponse:
    if req.prefix == "/widget.js":
        if req.method not in ("GET", "HEAD"):
            raise PublicError(405, "GET only")
        return serve_loader(req)
    path = req.path.strip("/")
    if path.startswith("file/"):
        call = await _call(req, need_origin=False)
        if req.method != "GET":
            raise PublicError(405, "GET only", call.cors)
        return await file(call, path[5:])
    if req.method == "OPTIONS":
        call = await _call(req)
        headers = {
            **call.cors,
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": "600",
        }
        return PublicResponse(status=204, headers=headers)
    handler = ROUTES.get((req.method, path))
    if handler is None:
        raise PublicError(404, _("No such widget endpoint."))
    call = await _call(req)
    return await handler(call)
