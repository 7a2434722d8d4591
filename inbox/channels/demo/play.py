"""Play the customer: what a newcomer types or presses on the demo customer page becomes a raw event of a
demo account, stored and processed like a provider's update (so the bot answers and the inbox updates live),
and the page reads the conversation back from the database (the bot's and the managers' answers).

No web framework here (channels never import the web layer): the page's route lives in
``inbox.web.views.demo_customer`` and calls these functions."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import i18n
from inbox.core.phones import InvalidPhone, normalize_phone
from inbox.core.types import ChannelKind, ContactHints, InboundCallback, InboundItem, InboundMessage, RawEvent
from inbox.models import ChannelAccount, Direction, Identity, Message, Thread

HERE = Path(__file__).parent
STATIC = HERE / "static"
PLAYABLE = ("telegram", "vk", "sms")  # kinds a newcomer can play from the page
MAX_TEXT = 2000


class PlayError(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Persona:
    """A demo customer the page can act as: an identity on a demo account (or a new one)."""

    account_id: int
    kind: str
    user: str
    name: str


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["current_locale"] = i18n.current
    return env


_env: Environment | None = None


def render(template: str, **context: Any) -> str:
    global _env
    if _env is None:
        _env = _environment()
    return _env.get_template(template).render(**context)


async def demo_accounts(session: AsyncSession) -> list[ChannelAccount]:
    rows = await session.execute(
        select(ChannelAccount).where(ChannelAccount.enabled.is_(True)).order_by(ChannelAccount.id)
    )
    return [a for a in rows.scalars() if a.settings.get("demo") and a.kind in PLAYABLE]


async def demo_account(session: AsyncSession, account_id: int) -> ChannelAccount:
    for account in await demo_accounts(session):
        if account.id == account_id:
            return account
    raise PlayError(i18n._("There is no demo channel {id}.").format(id=account_id))


async def personas(session: AsyncSession) -> list[Persona]:
    """The customers already talking on demo channels, newest identities last."""
    accounts = {a.id: a for a in await demo_accounts(session)}
    if not accounts:
        return []
    rows = await session.execute(
        select(Identity).where(Identity.account_id.in_(accounts)).order_by(Identity.id)
    )
    return [Persona(i.account_id, i.kind, i.external_id, i.display or i.external_id) for i in rows.scalars()]


def new_user(kind: str, phone: str | None) -> str:
    """The external id of a new demo customer: an SMS customer is their phone number."""
    if kind == "sms":
        try:
            return normalize_phone((phone or "").strip(), "RU")
        except InvalidPhone:
            raise PlayError(i18n._("{value} is not a phone number.").format(value=phone or "")) from None
    return str(700_000 + secrets.randbelow(299_999))


def make_event(
    account: ChannelAccount, user: str, name: str, *, text: str = "", payload: str = "", locale: str = "ru"
) -> RawEvent:
    """A raw event as the demo channel's "provider": a message, or a press of one of the bot's buttons."""
    text = text.strip()
    if payload:
        kind = "callback"
    elif text:
        kind = "message"
        if len(text) > MAX_TEXT:
            raise PlayError(i18n._("A message is at most {n} characters.").format(n=MAX_TEXT))
    else:
        raise PlayError(i18n._("Type a message first."))
    if not user or len(user) > 64:
        raise PlayError(i18n._("Choose who you are first."))
    key = f"play-{secrets.token_hex(8)}"
    return RawEvent(
        key=key,
        payload={
            "type": kind,
            "user": user,
            "name": name.strip()[:100],
            "text": text,
            "payload": payload,
            "at": datetime.now(UTC).isoformat(),
            "id": key,
            "locale": locale,
        },
    )


def parse_play_event(kind: str, account_id: int, event: RawEvent) -> list[InboundItem]:
    p = event.payload
    user = str(p.get("user") or "")
    if not user or p.get("type") not in ("message", "callback"):
        return []
    try:
        at = datetime.fromisoformat(str(p.get("at")))
    except ValueError:
        at = datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    name = str(p.get("name") or "")
    sms = kind == ChannelKind.SMS
    locale = str(p.get("locale") or "ru")
    contact = ContactHints(display_name=name, phone=user if sms else None, locale=locale)
    if p["type"] == "callback":
        return [
            InboundCallback(
                kind=kind,
                account_id=account_id,
                external_user_id=user,
                callback_id=str(p.get("id")),
                payload=str(p.get("payload") or ""),
                at=at,
                contact=contact,
            )
        ]
    return [
        InboundMessage(
            kind=kind,
            account_id=account_id,
            external_user_id=user,
            external_message_id=str(p.get("id")),
            sent_at=at,
            text=str(p.get("text") or ""),
            contact=contact,
        )
    ]


async def conversation(
    session: AsyncSession, account_id: int, user: str, after: int = 0
) -> list[dict[str, Any]]:
    """What the customer sees in their messenger: their own messages on this account and every answer sent
    to them through it (the bot's and the managers'), oldest first; notes and events stay in the inbox."""
    ident = (
        await session.execute(
            select(Identity).where(Identity.account_id == account_id, Identity.external_id == user)
        )
    ).scalar_one_or_none()
    if ident is None:
        return []
    thread = (
        await session.execute(select(Thread).where(Thread.customer_id == ident.customer_id))
    ).scalar_one_or_none()
    if thread is None:
        return []
    rows = await session.execute(
        select(Message)
        .where(
            Message.thread_id == thread.id,
            Message.id > after,
            Message.account_id == account_id,
            or_(
                and_(Message.direction == Direction.IN, Message.identity_id == ident.id),
                and_(Message.direction == Direction.OUT, Message.delivery.in_(("sent", "delivered", "read"))),
            ),
        )
        .order_by(Message.id)
        .limit(200)
    )
    out = []
    for m in rows.scalars():
        out.append(
            {
                "id": m.id,
                "dir": str(m.direction),
                "author": str(m.author),
                "text": m.text or "",
                "buttons": (m.meta or {}).get("buttons", []) if m.direction == Direction.OUT else [],
                "at": m.created_at.isoformat(),
            }
        )
    return out
