"""Broadcasts: one message (text, picture, link buttons) to a segment, through each customer's preferred
channel, only to customers who agreed to marketing on that channel, each with an unsubscribe that works
there.

Planning is one ``INSERT … SELECT`` (a row per member: planned, or skipped with the reason), so 100k
members cost one statement, and the unique key (broadcast, customer) means nobody is messaged twice however
often planning or sending runs. Sending turns planned rows into outbox messages in batches: the dispatcher
paces them by the providers' limits like every other message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, literal, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from inbox.core.customers import DEFAULT_FALLBACK_ORDER
from inbox.core.kinds import capabilities, kinds_with
from inbox.core.outbox import Draft, NewAttachment, NoChannel, enqueue
from inbox.core.types import Button
from inbox.db import insert_for, is_postgres
from inbox.i18n import _, use_locale
from inbox.models import (
    Author,
    Broadcast,
    BroadcastRecipient,
    ChannelAccount,
    Customer,
    Direction,
    Identity,
    Message,
    Order,
    Segment,
    Thread,
    utcnow,
)
from inbox.sales import NotFound, SalesError, inbound, unsubscribe
from inbox.sales.config import SalesConfig
from inbox.sales.config import load as load_config
from inbox.sales.consent import consent_table, marketing_allowed
from inbox.sales.metrics import placed_order
from inbox.sales.segments import members_query
from inbox.settings import Settings

log = logging.getLogger(__name__)
MAX_TEXT = 3500
MAX_BUTTONS = 6
SEND_BATCH = 200


@dataclass(frozen=True, slots=True)
class LinkButton:
    text: str
    url: str


def check_buttons(raw: Any) -> list[LinkButton]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_BUTTONS:
        raise SalesError(_("Buttons are a list of at most %(n)s {text, url}.") % {"n": MAX_BUTTONS})
    out = []
    for item in raw:
        text = str((item or {}).get("text") or "").strip() if isinstance(item, dict) else ""
        url = str((item or {}).get("url") or "").strip() if isinstance(item, dict) else ""
        if not text or len(text) > 40 or not url.startswith(("https://", "http://")) or len(url) > 500:
            raise SalesError(_("A button needs a text of up to 40 characters and an http(s) link."))
        out.append(LinkButton(text, url))
    return out


async def create_broadcast(
    session: AsyncSession,
    *,
    segment_id: int,
    text: str,
    buttons: Any = None,
    send_at: datetime | None = None,
    image: str | None = None,
    created_by_id: int | None = None,
) -> Broadcast:
    if await session.get(Segment, segment_id) is None:
        raise NotFound(_("No segment %(id)s.") % {"id": segment_id})
    clean = text.strip()
    if not clean or len(clean) > MAX_TEXT:
        raise SalesError(_("A broadcast needs a text of 1 to %(n)s characters.") % {"n": MAX_TEXT})
    if send_at is not None and send_at.tzinfo is None:
        raise SalesError(_("The sending time needs a time zone."))
    checked = check_buttons(buttons)
    broadcast = Broadcast(
        segment_id=segment_id,
        text=clean,
        image=image,
        buttons=[{"text": b.text, "url": b.url} for b in checked],
        status="scheduled",
        send_at=send_at or utcnow(),
        created_by_id=created_by_id,
        created_at=utcnow(),
    )
    session.add(broadcast)
    await session.flush()
    return broadcast


async def get_broadcast(session: AsyncSession, broadcast_id: int) -> Broadcast:
    broadcast = await session.get(Broadcast, broadcast_id)
    if broadcast is None:
        raise NotFound(_("No broadcast %(id)s.") % {"id": broadcast_id})
    return broadcast


async def cancel(session: AsyncSession, broadcast_id: int) -> Broadcast:
    broadcast = await get_broadcast(session, broadcast_id)
    if broadcast.status in ("done", "cancelled"):
        raise SalesError(_("This broadcast is finished already."))
    broadcast.status = "cancelled"
    broadcast.finished_at = utcnow()
    await session.flush()
    return broadcast


# ---- planning --------------------------------------------------------------------------------------------


def _fallback_rank(kind: Any) -> Any:
    return case(
        *((kind == k, i) for i, k in enumerate(DEFAULT_FALLBACK_ORDER)), else_=len(DEFAULT_FALLBACK_ORDER)
    )


def channel_choice() -> Any:
    """SQL: the kind a customer is messaged on, as :func:`inbox.core.customers.pick_identity` chooses it:
    their explicit choice, else the channel of their last message, else the first usable one in the shop's
    fallback order; only kinds with an identity that is not blocked, on an enabled account."""
    preferred = func.coalesce(Customer.preferred_channel, Thread.last_inbound_channel)
    enabled = select(ChannelAccount.id).where(ChannelAccount.enabled.is_(True))
    usable = exists().where(
        Identity.customer_id == Customer.id,
        Identity.kind == preferred,
        Identity.blocked.is_(False),
        Identity.account_id.in_(enabled),
    )
    other = aliased(Identity)
    fallback = (
        select(other.kind)
        .where(other.customer_id == Customer.id, other.blocked.is_(False), other.account_id.in_(enabled))
        .order_by(_fallback_rank(other.kind), other.id)
        .limit(1)
        .scalar_subquery()
    )
    return case((and_(preferred.is_not(None), usable), preferred), else_=fallback)


def button_unsubscribe(channel: str) -> bool:
    """Marketing on ``channel`` carries an unsubscribe button (the channel has buttons; it also carries
    replies, so the footer asks for «стоп»)."""
    return capabilities(channel).buttons


def permission_kinds() -> tuple[str, ...]:
    """Kinds whose provider lets the shop write only to users who allowed it (``write_permission``)."""
    return kinds_with(lambda caps: caps.write_permission)


def vk_allowed(customer_id: Any) -> Any:
    """VK (any kind with ``write_permission``) lets a community write only to users who allowed it: a user
    who wrote to the community has, and so has one whose ``message_allow`` arrived (a note in the thread).
    A ``message_deny`` marks the identity blocked, which no broadcast picks (see :func:`vk_denied`)."""
    return exists().where(
        Message.customer_id == customer_id,
        Message.channel.in_(permission_kinds()),
        or_(
            Message.direction == Direction.IN,
            and_(Message.direction == Direction.EVENT, Message.text == inbound.ALLOW),
        ),
    )


def vk_denied(customer_id: Any) -> Any:
    """The customer's VK identity (of a ``write_permission`` kind) may not be written to (they forbade
    messages, or VK said so)."""
    return exists().where(
        Identity.customer_id == customer_id,
        Identity.kind.in_(permission_kinds()),
        Identity.blocked.is_(True),
    )


async def plan(
    session: AsyncSession, broadcast: Broadcast, config: SalesConfig, now: datetime | None = None
) -> int:
    """Write the recipient rows in one statement; returns how many were written (0 when planned before)."""
    segment = await session.get(Segment, broadcast.segment_id)
    if segment is None:  # pragma: no cover - a foreign key
        raise NotFound(_("No segment %(id)s.") % {"id": broadcast.segment_id})
    members = members_query(segment, config, now).subquery("members")
    chosen = (
        select(Customer.id.label("customer_id"), channel_choice().label("channel"))
        .select_from(Customer)
        .join(members, members.c.customer_id == Customer.id)
        .outerjoin(Thread, Thread.customer_id == Customer.id)
        .subquery("chosen")
    )
    consent = marketing_allowed(chosen.c.customer_id, chosen.c.channel)
    reason = case(
        (and_(chosen.c.channel.is_(None), vk_denied(chosen.c.customer_id)), literal("vk_not_allowed")),
        (chosen.c.channel.is_(None), literal("no_channel")),
        (not_(consent), literal("no_consent")),
        (
            and_(chosen.c.channel.in_(permission_kinds()), not_(vk_allowed(chosen.c.customer_id))),
            literal("vk_not_allowed"),
        ),
        else_=literal(None),
    )
    judging = select(chosen.c.customer_id, chosen.c.channel, reason.label("reason"))
    # PostgreSQL: a materialised CTE, so that the reason (consent and VK lookups) is computed once per
    # customer rather than again for the state column. SQLite keeps a subquery: Python's sqlite3 reports
    # no row count for a statement that starts with WITH.
    judged = (
        judging.cte("judged").prefix_with("MATERIALIZED")
        if is_postgres(session)
        else judging.subquery("judged")
    )
    rows = select(
        literal(broadcast.id).label("broadcast_id"),
        judged.c.customer_id,
        judged.c.channel,
        case((judged.c.reason.is_(None), literal("planned")), else_=literal("skipped")).label("state"),
        judged.c.reason,
    ).where(judged.c.customer_id.is_not(None))  # SQLite: INSERT … SELECT … ON CONFLICT needs a WHERE
    stmt = (
        insert_for(session, BroadcastRecipient)
        .from_select(["broadcast_id", "customer_id", "channel", "state", "reason"], rows)
        .on_conflict_do_nothing()
    )
    result = await session.execute(stmt)
    broadcast.planned_at = now or utcnow()
    await session.flush()
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


# ---- sending ---------------------------------------------------------------------------------------------


def compose(
    broadcast: Broadcast, channel: str, customer_id: int, settings: Settings, *, replies: bool
) -> tuple[str, tuple[tuple[Button, ...], ...], dict[str, Any]]:
    """Text, buttons and meta of one customer's copy, with the unsubscribe that works in ``channel``."""
    token = unsubscribe.make_token(settings.secret_key, customer_id, channel)
    url = unsubscribe.link(settings.public_url or "http://127.0.0.1:8000", token)
    rows: list[tuple[Button, ...]] = [(Button(b["text"], url=b["url"]),) for b in broadcast.buttons]
    meta: dict[str, Any] = {"broadcast_id": broadcast.id, "marketing": True}
    caps = capabilities(channel)
    if caps.subject:
        meta["subject"] = broadcast.text.splitlines()[0][:80]
    if button_unsubscribe(channel):
        rows.append((Button(_("Unsubscribe"), payload=unsubscribe.BUTTON_PREFIX + token),))
        footer = _("Reply «стоп» to unsubscribe.")
    elif caps.list_unsubscribe:
        footer = _("Unsubscribe: %(url)s") % {"url": url}
        meta["list_unsubscribe"] = url
    elif replies:
        footer = _("Reply «стоп» to unsubscribe.")
    else:
        footer = _("Unsubscribe: %(url)s") % {"url": url}
    return f"{broadcast.text}\n\n{footer}", tuple(rows), meta


def image_attachment(broadcast: Broadcast) -> tuple[NewAttachment, ...]:
    if not broadcast.image:
        return ()
    info = dict(part.split("=", 1) for part in broadcast.image.split(";") if "=" in part)
    return (
        NewAttachment(
            kind="photo",
            filename=info.get("name", "image.jpg"),
            content_type=info.get("type", "image/jpeg"),
            path=info.get("path", ""),
            sha256=info.get("sha256", ""),
            size=int(info.get("size", "0") or 0),
        ),
    )


async def _replies_by_account(session: AsyncSession) -> dict[int, bool]:
    """The accounts of kinds with send-only providers (SMS: Twilio brings replies in, SMS.ru only sends):
    account id -> whether its provider brings replies in."""
    kinds = kinds_with(lambda caps: bool(caps.send_only_providers))
    rows = await session.execute(
        select(ChannelAccount.id, ChannelAccount.kind, ChannelAccount.settings).where(
            ChannelAccount.kind.in_(kinds)
        )
    )
    return {
        aid: (s or {}).get("provider") not in capabilities(kind).send_only_providers
        for aid, kind, s in rows.all()
    }


async def send_batch(
    session: AsyncSession, broadcast: Broadcast, settings: Settings, limit: int = SEND_BATCH
) -> tuple[int, int]:
    """Queue up to ``limit`` planned recipients; returns (how many were handled, how many were queued).
    The messages' events are published after the caller's transaction commits."""
    query = (
        select(BroadcastRecipient)
        .where(BroadcastRecipient.broadcast_id == broadcast.id, BroadcastRecipient.state == "planned")
        .order_by(BroadcastRecipient.id)
        .limit(limit)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    recipients = list((await session.execute(query)).scalars())
    if not recipients:
        return 0, 0
    threads = {
        t.customer_id: t
        for t in (
            await session.execute(
                select(Thread).where(Thread.customer_id.in_([r.customer_id for r in recipients]))
            )
        ).scalars()
    }
    locales = dict(
        (
            await session.execute(
                select(Customer.id, Customer.locale).where(
                    Customer.id.in_([r.customer_id for r in recipients])
                )
            )
        ).all()
    )
    account_replies = await _replies_by_account(session)
    queued = 0
    attachments = image_attachment(broadcast)
    now = utcnow()
    for r in recipients:
        thread = threads.get(r.customer_id)
        channel = r.channel or ""
        if thread is None:
            r.state, r.reason = "skipped", "no_channel"
            continue
        caps = capabilities(channel)
        replies = True
        if caps.send_only_providers:  # replies come in only through some providers: ask the account's
            account_id = (
                await session.execute(
                    select(Identity.account_id).where(
                        Identity.customer_id == r.customer_id,
                        Identity.kind == channel,
                        Identity.blocked.is_(False),
                    )
                )
            ).scalar()
            replies = account_replies.get(account_id or 0, False)
        with use_locale(locales.get(r.customer_id) or settings.default_locale):
            text, buttons, meta = compose(broadcast, channel, r.customer_id, settings, replies=replies)
        try:
            async with session.begin_nested():
                message = await enqueue(
                    session,
                    thread,
                    Draft(
                        text=text,
                        author=Author.SYSTEM,
                        channel=channel,
                        buttons=buttons,
                        meta=meta,
                        attachments=attachments if caps.media else (),
                    ),
                )
        except (NoChannel, SalesError, ValueError, LookupError) as exc:  # one customer never stops the rest
            log.info("broadcast %s: customer %s skipped: %s", broadcast.id, r.customer_id, exc)
            r.state, r.reason = "skipped", "failed"
            continue
        r.state, r.message_id, r.queued_at = "queued", message.id, now
        queued += 1
    await session.flush()
    return len(recipients), queued


async def test_send(
    session: AsyncSession, broadcast: Broadcast, customer_id: int, settings: Settings
) -> Message:
    """The broadcast as a customer would get it, to one chosen customer (the manager's own account): no
    recipient row, no consent check, marked as a test."""
    thread = (
        await session.execute(select(Thread).where(Thread.customer_id == customer_id))
    ).scalar_one_or_none()
    customer = await session.get(Customer, customer_id)
    if thread is None or customer is None:
        raise NotFound(_("No customer %(id)s.") % {"id": customer_id})
    channel = (
        await session.execute(
            select(channel_choice())
            .select_from(Customer)
            .outerjoin(Thread, Thread.customer_id == Customer.id)
            .where(Customer.id == customer_id)
        )
    ).scalar()
    if not channel:
        raise SalesError(_("This customer has no channel to send to."))
    with use_locale(customer.locale or settings.default_locale):
        text, buttons, meta = compose(broadcast, channel, customer_id, settings, replies=True)
    meta["test"] = True
    return await enqueue(
        session,
        thread,
        Draft(
            text=text,
            author=Author.SYSTEM,
            channel=channel,
            buttons=buttons,
            meta=meta,
            attachments=image_attachment(broadcast),
        ),
    )


# ---- statistics ------------------------------------------------------------------------------------------


@dataclass
class Stats:
    recipients: int = 0
    planned: int = 0
    queued: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    delivery: dict[str, int] = field(default_factory=dict)  # queued | sent | delivered | read | failed
    replied: int = 0
    unsubscribed: int = 0
    orders: int = 0
    revenue: int = 0  # kopecks


async def statistics(session: AsyncSession, broadcast: Broadcast, config: SalesConfig | None = None) -> Stats:
    config = config or await load_config(session)
    window = timedelta(days=config.attribution_days)
    stats = Stats()
    for state, reason, n in (
        await session.execute(
            select(BroadcastRecipient.state, BroadcastRecipient.reason, func.count())
            .where(BroadcastRecipient.broadcast_id == broadcast.id)
            .group_by(BroadcastRecipient.state, BroadcastRecipient.reason)
        )
    ).all():
        stats.recipients += n
        if state == "skipped":
            stats.skipped[reason or "failed"] = stats.skipped.get(reason or "failed", 0) + n
        elif state == "planned":
            stats.planned += n
        else:
            stats.queued += n
    sent = (
        select(BroadcastRecipient.customer_id, Message.created_at.label("sent_at"), Message.delivery)
        .join(Message, Message.id == BroadcastRecipient.message_id)
        .where(BroadcastRecipient.broadcast_id == broadcast.id)
        .subquery("sent")
    )
    for delivery, n in (
        await session.execute(select(sent.c.delivery, func.count()).group_by(sent.c.delivery))
    ).all():
        stats.delivery[str(delivery)] = int(n)
    reply = aliased(Message)
    replied = exists().where(
        reply.customer_id == sent.c.customer_id,
        reply.direction == Direction.IN,
        reply.created_at > sent.c.sent_at,
        reply.created_at <= _plus(session, sent.c.sent_at, window),
    )
    stats.replied = int(
        (await session.execute(select(func.count()).select_from(sent).where(replied))).scalar_one()
    )
    since = broadcast.planned_at or broadcast.send_at
    stats.unsubscribed = int(
        (
            await session.execute(
                select(func.count(func.distinct(sent.c.customer_id))).where(
                    exists().where(
                        consent_table.c.customer_id == sent.c.customer_id,
                        consent_table.c.source == "unsubscribe",
                        consent_table.c.recorded_at >= since,
                    )
                )
            )
        ).scalar_one()
    )
    # Orders placed by a recipient within the window after their copy was queued (the earliest time that
    # is the same on both databases: the message row's created_at).
    attributed = (
        select(func.count(Order.id), func.coalesce(func.sum(Order.total), 0))
        .join(sent, sent.c.customer_id == Order.customer_id)
        .where(
            *placed_order(),
            Order.submitted_at >= sent.c.sent_at,
            Order.submitted_at <= _plus(session, sent.c.sent_at, window),
        )
    )
    n, total = (await session.execute(attributed)).one()
    stats.orders, stats.revenue = int(n), int(total)
    return stats


def _plus(session: AsyncSession, column: Any, delta: timedelta) -> Any:
    seconds = int(delta.total_seconds())
    if is_postgres(session):
        return column + literal(delta)
    # SQLite keeps UTC datetimes as ISO text: compare with the same format
    return func.strftime("%Y-%m-%d %H:%M:%f", column, f"+{seconds} seconds")
