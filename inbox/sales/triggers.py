"""Trigger rules: "when an event happens and the conditions hold, do the actions".

Every event is found by a query over what the database already records (order history, orders, carts,
segment membership, customer fields), so a rule also catches up on what happened while no worker ran. A
firing is a ``trigger_fire`` row keyed (rule, customer, event key): inserting it is the claim, so two
workers evaluating the same rule at once still act once, and a customer never gets the same message twice
for one event. Sending actions wait outside the quiet hours (shop time zone); marketing sends need the
customer's consent on the channel and carry an unsubscribe.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, cast, exists, func, literal, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.core.events import Event, EventBus, committed_events, emit
from inbox.core.kinds import capabilities
from inbox.core.outbox import Draft, NoChannel, enqueue
from inbox.db import SessionFactory, insert_for, transaction
from inbox.i18n import _, use_locale
from inbox.models import (
    Author,
    Cart,
    Customer,
    CustomerLabel,
    Manager,
    Notification,
    Order,
    OrderHistory,
    OrderStatus,
    Product,
    Thread,
    TriggerFire,
    TriggerRule,
    product_related,
    utcnow,
)
from inbox.orders.notify import format_rub
from inbox.sales import NotFound, SalesError, unsubscribe
from inbox.sales.broadcasts import button_unsubscribe, channel_choice
from inbox.sales.config import SalesConfig
from inbox.sales.config import load as load_config
from inbox.sales.consent import marketing_allowed
from inbox.sales.metrics import customer_stats, placed_order
from inbox.sales.segments import dynamic_query, members_query, parse_conditions
from inbox.sales.tasks import create_task
from inbox.settings import Settings

log = logging.getLogger(__name__)
BATCH = 200
# event -> (parameter it takes, marketing by default)
EVENTS: dict[str, tuple[str | None, bool]] = {
    "order_status": ("status", False),
    "order_unpaid": ("hours", False),
    "order_paid": (None, False),
    "cart_abandoned": ("hours", True),
    "delivered": ("days", True),
    "joined_segment": ("segment_id", True),
    "no_order": ("days", True),
    "birthday": (None, True),
}
ACTIONS = ("send", "cross_sell", "label", "assign", "task", "notify", "ask_consent")
CATCH_UP = timedelta(days=2)  # how far back a time-based rule looks beyond its own delay


@dataclass(frozen=True, slots=True)
class Candidate:
    customer_id: int
    key: str
    order_id: int | None = None
    cart_id: int | None = None


def event_names() -> dict[str, str]:
    return {
        "order_status": _("Order status changed"),
        "order_unpaid": _("Order unpaid for N hours"),
        "order_paid": _("Payment succeeded"),
        "cart_abandoned": _("Cart abandoned for N hours"),
        "delivered": _("Delivered N days ago"),
        "joined_segment": _("Customer joined a segment"),
        "no_order": _("No order for N days"),
        "birthday": _("Birthday"),
    }


def action_names() -> dict[str, str]:
    return {
        "send": _("Send a message through the preferred channel"),
        "cross_sell": _("Suggest related goods"),
        "label": _("Add a label"),
        "assign": _("Assign a manager"),
        "task": _("Create a task"),
        "notify": _("Notify the team"),
        "ask_consent": _("Ask for marketing consent (Telegram, VK: Yes / No buttons)"),
    }


# ---- rules -----------------------------------------------------------------------------------------------


def check_rule(event: str, params: dict[str, Any], actions: list[Any]) -> tuple[dict[str, Any], list[Any]]:
    if event not in EVENTS:
        raise SalesError(_("Unknown event %(e)r.") % {"e": event})
    name, marketing = EVENTS[event]
    clean: dict[str, Any] = {"marketing": bool(params.get("marketing", marketing))}
    if name is not None:
        value = params.get(name)
        if name == "status":
            if not isinstance(value, str) or not value:
                raise SalesError(_("This event needs an order status."))
            clean[name] = value
        else:
            try:
                clean[name] = int(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise SalesError(_("This event needs a whole number (%(name)s).") % {"name": name}) from None
            if clean[name] < 0:
                raise SalesError(_("The number cannot be negative."))
    if not isinstance(actions, list) or not actions:
        raise SalesError(_("A rule needs at least one action."))
    out = []
    for action in actions:
        kind = action.get("kind") if isinstance(action, dict) else None
        if kind not in ACTIONS:
            raise SalesError(_("Unknown action %(a)r.") % {"a": kind})
        if kind in ("send", "notify", "task") and not str(action.get("text") or "").strip():
            raise SalesError(_("This action needs a text."))
        if kind in ("label", "assign") and not str(action.get("id") or "").isdigit():
            raise SalesError(_("This action needs an id."))
        out.append(dict(action))
    return clean, out


async def create_rule(
    session: AsyncSession,
    *,
    name: str,
    event: str,
    params: dict[str, Any],
    actions: list[Any],
    conditions: list[Any] | None = None,
    builtin: str | None = None,
    enabled: bool = True,
) -> TriggerRule:
    clean_name = " ".join(name.split())
    if not clean_name or len(clean_name) > 120:
        raise SalesError(_("A rule needs a name of 1 to 120 characters."))
    clean_params, clean_actions = check_rule(event, params, actions)
    parsed = parse_conditions(conditions or [])
    rule = TriggerRule(
        name=clean_name,
        event=event,
        params=clean_params,
        conditions=[c.to_json() for c in parsed],
        actions=clean_actions,
        builtin=builtin,
        enabled=enabled,
        created_at=utcnow(),
    )
    session.add(rule)
    await session.flush()
    return rule


async def ensure_default_rules(session: AsyncSession, config: SalesConfig) -> None:
    """The shop's default rules (once; an admin may switch them off): the unpaid-order reminder, the
    abandoned-cart reminder and the cross-sell after delivery."""
    present = set(
        (await session.execute(select(TriggerRule.builtin).where(TriggerRule.builtin.is_not(None)))).scalars()
    )
    defaults = [
        (
            "order_unpaid",
            _("Reminder: order unpaid"),
            {"hours": 24},
            [{"kind": "send", "text": _("Order №{order.number} for {order.total} is waiting for payment.")}],
        ),
        (
            "cart_abandoned",
            _("Reminder: cart left"),
            {"hours": config.cart_reminder_hours},
            [
                {
                    "kind": "send",
                    "text": _("You left goods in the cart: {cart.items}. Shall we place the order?"),
                }
            ],
        ),
        (
            "cross_sell",
            _("Related goods after delivery"),
            {"days": config.cross_sell_days},
            [{"kind": "cross_sell"}],
        ),
    ]
    for key, name, params, actions in defaults:
        if key in present:
            continue
        event = "delivered" if key == "cross_sell" else key
        clean_params, clean_actions = check_rule(event, params, actions)
        # several workers may start at once: the unique builtin key lets one of them add it
        await session.execute(
            insert_for(session, TriggerRule)
            .values(
                name=name,
                event=event,
                params=clean_params,
                conditions=[],
                actions=clean_actions,
                builtin=key,
                enabled=True,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
        )


async def get_rule(session: AsyncSession, rule_id: int) -> TriggerRule:
    rule = await session.get(TriggerRule, rule_id)
    if rule is None:
        raise NotFound(_("No rule %(id)s.") % {"id": rule_id})
    return rule


# ---- events ----------------------------------------------------------------------------------------------


def _status_codes_in(group: str) -> Any:
    return select(OrderStatus.code).where(OrderStatus.group == group).scalar_subquery()


def candidates_query(rule: TriggerRule, config: SalesConfig, now: datetime, tz: ZoneInfo) -> Any:
    """SELECT customer_id, key, order_id, cart_id of the rule's event occurrences."""
    p = rule.params
    none = literal(None)
    if rule.event in ("order_status", "order_paid", "delivered"):
        q = select(
            Order.customer_id.label("customer_id"),
            (literal("h") + cast(OrderHistory.id, String)).label("key"),
            Order.id.label("order_id"),
            none.label("cart_id"),
        ).join(Order, Order.id == OrderHistory.order_id)
        if rule.event == "order_status":
            return q.where(
                OrderHistory.action == "status",
                OrderHistory.to_value == p["status"],
                OrderHistory.at >= rule.created_at,
            )
        if rule.event == "order_paid":
            # order history writes a payment as "<state> <amount>": the order became paid (by hand or by a
            # provider's "payment succeeded")
            return q.where(
                OrderHistory.action == "payment",
                OrderHistory.to_value.like("paid %"),
                or_(OrderHistory.from_value.is_(None), not_(OrderHistory.from_value.like("paid %"))),
                OrderHistory.at >= rule.created_at,
            )
        due = now - timedelta(days=p["days"])
        return q.where(
            OrderHistory.action == "status",
            OrderHistory.to_value.in_(_status_codes_in("complete")),
            OrderHistory.at <= due,
            OrderHistory.at > min(due - CATCH_UP, rule.created_at - timedelta(days=p["days"])),
        )
    if rule.event == "order_unpaid":
        due = now - timedelta(hours=p["hours"])
        return select(
            Order.customer_id.label("customer_id"),
            (literal("o") + cast(Order.id, String)).label("key"),
            Order.id.label("order_id"),
            none.label("cart_id"),
        ).where(
            *placed_order(),
            Order.payment_state == "unpaid",
            Order.total > 0,
            Order.submitted_at <= due,
            Order.submitted_at > due - CATCH_UP,
        )
    if rule.event == "cart_abandoned":
        due = now - timedelta(hours=p["hours"])
        bought_since = exists().where(
            Order.customer_id == Cart.customer_id, Order.submitted_at >= Cart.updated_at, *placed_order()
        )
        return select(
            Cart.customer_id.label("customer_id"),
            (literal("c") + cast(Cart.id, String)).label("key"),
            none.label("order_id"),
            Cart.id.label("cart_id"),
        ).where(
            Cart.status == "open",
            Cart.total > 0,
            Cart.reminded_at.is_(None),
            Cart.updated_at <= due,
            not_(bought_since),
        )
    if rule.event == "no_order":
        stats = customer_stats()
        due = now - timedelta(days=p["days"])
        return select(
            stats.c.customer_id,
            (literal("n") + cast(func.date(stats.c.last_order_at), String)).label("key"),
            none.label("order_id"),
            none.label("cart_id"),
        ).where(stats.c.last_order_at <= due, stats.c.last_order_at > due - CATCH_UP)
    if rule.event == "birthday":
        local = now.astimezone(tz)
        birthday = cast(Customer.birthday, String)  # ISO YYYY-MM-DD on both databases
        return select(
            Customer.id.label("customer_id"),
            literal(f"b{local.year}").label("key"),
            none.label("order_id"),
            none.label("cart_id"),
        ).where(Customer.merged_into_id.is_(None), func.substr(birthday, 6, 5) == local.strftime("%m-%d"))
    # joined_segment: see _segment_candidates (it needs the segment's row)
    raise SalesError(_("Unknown event %(e)r.") % {"e": rule.event})  # pragma: no cover - checked on save


async def _segment_candidates(
    session: AsyncSession, rule: TriggerRule, config: SalesConfig, now: datetime
) -> Any:
    from inbox.models import Segment

    segment = await session.get(Segment, int(rule.params["segment_id"]))
    if segment is None:
        return None
    members = members_query(segment, config, now).subquery()
    return select(
        members.c.customer_id,
        literal(f"s{segment.id}").label("key"),
        literal(None).label("order_id"),
        literal(None).label("cart_id"),
    )


def _filtered(rule: TriggerRule, query: Any, config: SalesConfig, now: datetime) -> Any:
    sub = query.subquery("ev")
    q = select(sub.c.customer_id, sub.c.key, sub.c.order_id, sub.c.cart_id).where(
        not_(
            exists().where(
                TriggerFire.rule_id == rule.id,
                TriggerFire.customer_id == sub.c.customer_id,
                TriggerFire.event_key == sub.c.key,
            )
        )
    )
    if rule.conditions:
        q = q.where(sub.c.customer_id.in_(dynamic_query(parse_conditions(rule.conditions), config, now)))
    return q.order_by(sub.c.customer_id).limit(BATCH)


def in_quiet_hours(config: SalesConfig, now: datetime, tz: ZoneInfo) -> bool:
    hour = now.astimezone(tz).hour
    start, end = config.quiet_start, config.quiet_end
    if start == end:
        return False
    return start <= hour or hour < end if start > end else start <= hour < end


def _sends(rule: TriggerRule) -> bool:
    return any(a.get("kind") in ("send", "cross_sell") for a in rule.actions)


async def run_rules(
    factory: SessionFactory, settings: Settings, now: datetime | None = None, bus: EventBus | None = None
) -> tuple[int, list[Event]]:
    """Evaluate every enabled rule once; returns (firings, events). With ``bus`` each firing's events are
    published as its transaction commits (the list is then empty); without, they are returned."""
    now = now or utcnow()
    tz = ZoneInfo(settings.timezone)
    async with transaction(factory) as session:
        config = await load_config(session)
        await ensure_default_rules(session, config)
    async with factory() as session:
        rules = list(
            (
                await session.execute(
                    select(TriggerRule).where(TriggerRule.enabled.is_(True)).order_by(TriggerRule.id)
                )
            ).scalars()
        )
    quiet = in_quiet_hours(config, now, tz)
    fired = 0
    events: list[Event] = []
    for rule in rules:
        if quiet and _sends(rule):
            continue
        try:
            n, evs = await run_rule(factory, settings, rule, config, now, tz, bus)
        except Exception:
            log.exception("trigger rule %s failed", rule.id)
            continue
        fired += n
        events.extend(evs)
    return fired, events


async def run_rule(
    factory: SessionFactory,
    settings: Settings,
    rule: TriggerRule,
    config: SalesConfig,
    now: datetime,
    tz: ZoneInfo,
    bus: EventBus | None = None,
) -> tuple[int, list[Event]]:
    async with factory() as session:
        if rule.event == "joined_segment":
            base = await _segment_candidates(session, rule, config, now)
            if base is None:
                return 0, []
            if not rule.params.get("baseline"):
                # members when the rule was made did not join: record them without acting
                await session.close()
                async with transaction(factory) as tx:
                    sub = base.subquery()
                    await tx.execute(
                        insert_for(tx, TriggerFire)
                        .from_select(
                            ["rule_id", "customer_id", "event_key", "done", "fired_at"],
                            select(
                                literal(rule.id),
                                sub.c.customer_id,
                                sub.c.key,
                                literal(["baseline"], type_=TriggerFire.done.type),
                                literal(now, type_=TriggerFire.fired_at.type),
                            ).where(
                                sub.c.customer_id.is_not(None)
                            ),  # SQLite needs a WHERE before ON CONFLICT
                        )
                        .on_conflict_do_nothing()
                    )
                    row = await tx.get(TriggerRule, rule.id)
                    if row is not None:
                        row.params = {**row.params, "baseline": True}
                return 0, []
        else:
            base = candidates_query(rule, config, now, tz)
        found = [
            Candidate(r.customer_id, r.key, r.order_id, r.cart_id)
            for r in (await session.execute(_filtered(rule, base, config, now))).all()
        ]
    fired = 0
    events: list[Event] = []
    for cand in found:
        firing = bus.transaction(factory) if bus is not None else transaction(factory)
        async with firing as session:
            claim = await session.execute(
                insert_for(session, TriggerFire)
                .values(
                    rule_id=rule.id,
                    customer_id=cand.customer_id,
                    event_key=cand.key,
                    order_id=cand.order_id,
                    done=[],
                    fired_at=now,
                )
                .on_conflict_do_nothing()
                .returning(TriggerFire.id)
            )
            fire_id = claim.scalar_one_or_none()
            if fire_id is None:  # another worker fired it
                continue
            fire = await session.get(TriggerFire, fire_id)
            assert fire is not None
            fire.done = await perform(session, settings, rule, cand, fire, config)
            if cand.cart_id is not None:
                cart = await session.get(Cart, cand.cart_id)
                if cart is not None:
                    cart.reminded_at = now
            fired += 1
        if bus is None:
            events += committed_events(session)
    return fired, events


# ---- actions ---------------------------------------------------------------------------------------------


class _Safe(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


async def render(session: AsyncSession, template: str, customer: Customer, cand: Candidate) -> str:
    values: dict[str, Any] = {"customer.name": customer.name or "", "customer.phone": customer.phone or ""}
    if cand.order_id is not None:
        order = await session.get(Order, cand.order_id)
        if order is not None:
            values["order.number"] = order.number or order.id
            values["order.total"] = format_rub(order.total)
    if cand.cart_id is not None:
        cart = await session.get(Cart, cand.cart_id)
        if cart is not None:
            values["cart.items"] = ", ".join(str(line.get("name", "")) for line in cart.lines)[:300]
            values["cart.total"] = format_rub(cart.total)
            values["cart.url"] = cart.url or ""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", str(value))
    return out


async def related_goods(session: AsyncSession, order_id: int, limit: int = 5) -> list[Product]:
    """Active products related (the catalog's ``related`` field) to what the order holds, not in it."""
    from inbox.models import OrderLine

    in_order = select(OrderLine.product_id).where(OrderLine.order_id == order_id)
    query = (
        select(Product)
        .join(product_related, product_related.c.related_id == Product.id)
        .where(
            product_related.c.product_id.in_(in_order), Product.id.not_in(in_order), Product.active.is_(True)
        )
        .distinct()
        .order_by(Product.id)
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def perform(
    session: AsyncSession,
    settings: Settings,
    rule: TriggerRule,
    cand: Candidate,
    fire: TriggerFire,
    config: SalesConfig,
) -> list[Any]:
    """Do the rule's actions for one firing (in the firing's transaction); returns what was done. Their
    events are published after that transaction commits."""
    customer = await session.get(Customer, cand.customer_id)
    thread = (
        await session.execute(select(Thread).where(Thread.customer_id == cand.customer_id))
    ).scalar_one_or_none()
    if customer is None or customer.merged_into_id is not None or thread is None:
        return [{"skipped": "no customer"}]
    done: list[Any] = []
    marketing = bool(rule.params.get("marketing"))
    for action in rule.actions:
        kind = action.get("kind")
        if kind in ("send", "cross_sell"):
            with use_locale(customer.locale or settings.default_locale):
                if kind == "send":
                    text = await render(session, str(action.get("text", "")), customer, cand)
                    buttons: tuple[Any, ...] = ()
                else:
                    goods = await related_goods(session, cand.order_id) if cand.order_id else []
                    if not goods:
                        done.append({"kind": kind, "skipped": "nothing related"})
                        continue
                    text = (
                        _("You may also like:")
                        + "\n"
                        + "\n".join(f"• {g.name} — {format_rub(g.price)}" for g in goods)
                    )
                    buttons = ()
                channel = (
                    await session.execute(
                        select(channel_choice())
                        .select_from(Customer)
                        .outerjoin(Thread, Thread.customer_id == Customer.id)
                        .where(Customer.id == customer.id)
                    )
                ).scalar()
                if channel is None:
                    done.append({"kind": kind, "skipped": "no channel"})
                    continue
                if marketing:
                    allowed = (
                        await session.execute(select(marketing_allowed(literal(customer.id), channel)))
                    ).scalar()
                    if not allowed:
                        done.append({"kind": kind, "skipped": "no consent"})
                        continue
                    token = unsubscribe.make_token(settings.secret_key, customer.id, channel)
                    if button_unsubscribe(channel):
                        from inbox.core.types import Button

                        buttons = ((Button(_("Unsubscribe"), payload=unsubscribe.BUTTON_PREFIX + token),),)
                        text += "\n\n" + _("Reply «стоп» to unsubscribe.")
                    else:
                        url = unsubscribe.link(settings.public_url or "http://127.0.0.1:8000", token)
                        text += "\n\n" + _("Unsubscribe: %(url)s") % {"url": url}
            try:
                message = await enqueue(
                    session,
                    thread,
                    Draft(
                        text=text,
                        author=Author.SYSTEM,
                        channel=channel,
                        buttons=buttons,
                        meta={"trigger_rule_id": rule.id, "trigger_fire_id": fire.id, "marketing": marketing},
                        order_id=cand.order_id,
                    ),
                )
            except NoChannel:
                done.append({"kind": kind, "skipped": "no channel"})
                continue
            fire.message_id = message.id
            done.append({"kind": kind, "message_id": message.id, "channel": channel, "text": text[:300]})
        elif kind == "ask_consent":
            done.append(await ask_consent(session, settings, customer, thread, action, rule, fire))
        elif kind == "label":
            await session.execute(
                insert_for(session, CustomerLabel)
                .values(customer_id=customer.id, label_id=int(action["id"]))
                .on_conflict_do_nothing()
            )
            done.append({"kind": kind, "label_id": int(action["id"])})
        elif kind == "assign":
            manager = await session.get(Manager, int(action["id"]))
            if manager is not None and manager.active:
                thread.assignee_id = manager.id
                emit(session, Event("thread.updated", thread_id=thread.id, data={"assignee_id": manager.id}))
                done.append({"kind": kind, "manager_id": manager.id})
        elif kind == "task":
            task = await create_task(
                session,
                title=await render(session, str(action.get("text", "")), customer, cand),
                due_at=utcnow() + timedelta(hours=int(action.get("hours") or 24)),
                assignee_id=thread.assignee_id,
                customer_id=customer.id,
                order_id=cand.order_id,
                rule_id=rule.id,
            )
            done.append({"kind": kind, "task_id": task.id})
        elif kind == "notify":
            text = await render(session, str(action.get("text", "")), customer, cand)
            managers = list(
                (await session.execute(select(Manager.id).where(Manager.active.is_(True)))).scalars()
            )
            for manager_id in managers:
                session.add(
                    Notification(
                        manager_id=manager_id,
                        kind="rule",
                        thread_id=thread.id,
                        text=text[:300],
                        dedup_key=f"fire:{fire.id}",
                        created_at=utcnow(),
                    )
                )
            done.append({"kind": kind, "managers": len(managers)})
    await session.flush()
    return done


# ---- what a rule did -------------------------------------------------------------------------------------


def _not_baseline() -> Any:
    return not_(cast(TriggerFire.done, String).like('%"baseline"%'))


async def rule_stats(session: AsyncSession) -> dict[int, int]:
    """How many times each rule fired (the members a "joined a segment" rule started with excluded)."""
    rows = await session.execute(
        select(TriggerFire.rule_id, func.count()).where(_not_baseline()).group_by(TriggerFire.rule_id)
    )
    return {int(r): int(n) for r, n in rows.all()}


async def recent_fires(session: AsyncSession, rule_id: int, limit: int = 50) -> list[TriggerFire]:
    query = (
        select(TriggerFire)
        .where(TriggerFire.rule_id == rule_id, _not_baseline())
        .order_by(TriggerFire.id.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def ask_consent(
    session: AsyncSession,
    settings: Settings,
    customer: Customer,
    thread: Thread,
    action: dict[str, Any],
    rule: TriggerRule,
    fire: TriggerFire,
) -> dict[str, Any]:
    """The consent question with Yes / No buttons on the customer's messenger, unless they have answered
    (any decision recorded on that channel) or the channel has no buttons. The answer is recorded with
    source ``bot`` by ``inbox.sales.inbound``."""
    from inbox.core.types import Button
    from inbox.customer_card.consent import current_consent

    channel = (
        await session.execute(
            select(channel_choice())
            .select_from(Customer)
            .outerjoin(Thread, Thread.customer_id == Customer.id)
            .where(Customer.id == customer.id)
        )
    ).scalar()
    if channel is None or not capabilities(channel).consent_question:
        return {"kind": "ask_consent", "skipped": "no buttons"}
    if channel in await current_consent(session, customer.id):
        return {"kind": "ask_consent", "skipped": "answered before"}
    token = unsubscribe.make_token(settings.secret_key, customer.id, channel)
    with use_locale(customer.locale or settings.default_locale):
        text = str(action.get("text") or "").strip() or _(
            "May we send you news and offers here? You can unsubscribe at any time."
        )
        buttons = (
            (
                Button(_("Yes, send offers"), payload=unsubscribe.CONSENT_YES + token),
                Button(_("No, thanks"), payload=unsubscribe.CONSENT_NO + token),
            ),
        )
    try:
        message = await enqueue(
            session,
            thread,
            Draft(
                text=text,
                author=Author.SYSTEM,
                channel=channel,
                buttons=buttons,
                meta={"trigger_rule_id": rule.id, "trigger_fire_id": fire.id, "consent_question": True},
            ),
        )
    except NoChannel:
        return {"kind": "ask_consent", "skipped": "no channel"}
    fire.message_id = message.id
    return {"kind": "ask_consent", "message_id": message.id, "channel": channel, "text": text[:300]}
