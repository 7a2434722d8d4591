"""Parcel events applied to an order: every new event is kept (``tracking_event``) and shown in the
thread; the status map moves the order through the status matrix (along allowed transitions; a move the
matrix does not allow is flagged in the thread for a manager); the customer is told at the steps the map
marks, once per order and step, through the preferred channel."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import i18n
from inbox.core.customers import live_customer
from inbox.models import NotificationSent, Order, OrderStatus, Shipment, TrackingEvent
from inbox.orders import service
from inbox.orders.carriers.base import ParcelEvent
from inbox.orders.carriers.statusmap import lookup
from inbox.orders.conversation import Effects, after_status, thread_event
from inbox.orders.errors import TransitionRefused
from inbox.orders.sql import insert_ignore
from inbox.orders.statuses import load_statuses


@dataclass(frozen=True, slots=True)
class PickupPoint:
    address: str
    hours: str


def path_to(statuses: dict[str, OrderStatus], start: str, goal: str) -> list[str] | None:
    """The shortest chain of allowed transitions from ``start`` to ``goal`` that passes through no finished
    (complete / cancel) status on the way; [] when already there, None when there is none."""
    if start == goal:
        return []
    seen = {start}
    queue: deque[tuple[str, list[str]]] = deque([(start, [])])
    while queue:
        code, path = queue.popleft()
        for nxt in statuses[code].transitions if code in statuses else []:
            if nxt in seen or nxt not in statuses:
                continue
            if nxt == goal:
                return [*path, nxt]
            if statuses[nxt].group in ("complete", "cancel"):
                continue
            seen.add(nxt)
            queue.append((nxt, [*path, nxt]))
    return None


def step_text(step: str, order: Order, locale: str | None, point: PickupPoint | None, url: str | None) -> str:
    with i18n.use_locale(locale):
        n = order.number
        if step == "handed_over":
            text = i18n._("Order №%(n)s has been handed to the carrier.") % {"n": n}
        elif step == "at_pickup":
            text = i18n._("Order №%(n)s has arrived at the pickup point.") % {"n": n}
            if point is not None and point.hours:
                text += " " + i18n._("Address: %(a)s. Hours: %(h)s.") % {
                    "a": point.address,
                    "h": point.hours,
                }
            elif point is not None:
                text += " " + i18n._("Address: %(a)s.") % {"a": point.address}
        elif step == "delivered":
            text = i18n._("Order №%(n)s has been delivered. Thank you for your purchase!") % {"n": n}
        else:
            text = i18n._("Order №%(n)s: the parcel's status changed.") % {"n": n}
        if url and step != "delivered":
            text += " " + i18n._("Track: %(url)s") % {"url": url}
        return text


def nearest_of_group(statuses: dict[str, OrderStatus], start: str, group: str) -> str:
    """The status of ``group`` the matrix reaches from ``start`` in the fewest moves (``group:<g>`` when none
    does, which the caller flags)."""
    if start in statuses and statuses[start].group == group:
        return start
    best: tuple[int, str] | None = None
    for code, st in statuses.items():
        if st.group != group:
            continue
        path = path_to(statuses, start, code)
        if path is not None and (best is None or len(path) < best[0]):
            best = (len(path), code)
    return best[1] if best else f"group:{group}"


async def _move(session: AsyncSession, fx: Effects, order: Order, target: str, notify: bool) -> Order:
    statuses = await load_statuses(session)
    if target.startswith("group:"):
        target = nearest_of_group(statuses, order.status, target[6:])
        if target.startswith("group:"):
            current = statuses.get(order.status)
            if current is None or current.group not in ("complete", "cancel"):
                await thread_event(
                    session,
                    fx,
                    order,
                    "move_refused",
                    to=target,
                    reason=f"no allowed move from {order.status}",
                )
            return order
    if target not in statuses:
        await thread_event(session, fx, order, "move_refused", to=target, reason="unknown status")
        return order
    path = path_to(statuses, order.status, target)
    if path is None:
        current = statuses.get(order.status)
        if current is not None and current.group in ("complete", "cancel"):
            return order  # finished orders stay as they are
        await thread_event(
            session, fx, order, "move_refused", to=target, reason=f"{order.status} → {target} is not allowed"
        )
        return order
    for i, code in enumerate(path):
        try:
            change = await service.do_change_status(session, order, code, actor=service.SYSTEM)
        except TransitionRefused as exc:  # pragma: no cover - the path was checked
            await thread_event(session, fx, order, "move_refused", to=target, reason=exc.reason)
            return order
        await after_status(session, fx, change, notify=notify and i == len(path) - 1)
        order = change.order
    return order


async def apply_events(
    session: AsyncSession,
    fx: Effects,
    shipment: Shipment,
    kind: str,
    events: list[ParcelEvent],
    point: PickupPoint | None = None,
) -> int:
    """Store and act on the new ones among ``events`` (oldest first); returns how many were new."""
    from inbox.orders.conversation import queue_notification
    from inbox.orders.notify import NotificationRequest, channel_kind

    new = 0
    for ev in sorted(events, key=lambda e: e.at):
        stmt = insert_ignore(
            session,
            TrackingEvent,
            {
                "shipment_id": shipment.id,
                "order_id": shipment.order_id,
                "code": ev.code[:64],
                "name": ev.name[:300],
                "city": (ev.city or None) and str(ev.city)[:200],
                "happened_at": ev.at,
                "created_at": fx_now(),
            },
        )
        if (await session.execute(stmt.returning(TrackingEvent.id))).first() is None:
            continue  # already known: redelivered or polled again
        new += 1
        shipment.last_status = ev.code[:64]
        order = await service.get_order(session, shipment.order_id, lock=True)
        rule = await lookup(session, kind, ev.code)
        await thread_event(
            session, fx, order, "parcel", code=ev.code, name=ev.name, city=ev.city, track=shipment.track
        )
        notify_step = bool(rule and rule.step and rule.notify)
        target = (rule.status or (f"group:{rule.group}" if rule.group else None)) if rule else None
        if target:
            order = await _move(session, fx, order, target, notify=not notify_step)
        if (rule is not None and rule.step == "delivered") or (rule is not None and rule.step == "returned"):
            shipment.active = False
        if not notify_step or rule is None or rule.step is None:
            continue
        key = f"order:{order.id}:parcel:{rule.step}"
        mark = insert_ignore(session, NotificationSent, {"key": key, "order_id": order.id})
        if (await session.execute(mark.returning(NotificationSent.id))).first() is None:
            continue  # this step was already told
        customer = await live_customer(session, order.customer_id)
        locale = customer.locale or fx.settings.default_locale
        here = point or (PickupPoint(ev.place, "") if ev.place else None)
        texts = {
            k: step_text(
                rule.step, order, locale, here if rule.step == "at_pickup" else None, order.tracking_url
            )
            for k in ("messenger", "sms", "email")
        }
        with i18n.use_locale(locale):
            subject = i18n._("Order №%(n)s: delivery") % {"n": order.number}
        request = NotificationRequest(
            order_id=order.id,
            customer_id=order.customer_id,
            thread_id=order.thread_id,
            status=order.status,
            locale=locale,
            channel_kind=channel_kind(None),
            text=texts["messenger"],
            texts=texts,
            idempotency_key=key,
            email_subject=subject,
            data={"order_number": order.number, "tracking_url": order.tracking_url},
        )
        await queue_notification(session, fx, order, request)
    return new


def fx_now() -> object:
    from inbox.models import utcnow

    return utcnow()


async def order_events(session: AsyncSession, order_id: int) -> list[dict[str, object]]:
    """The order's parcel events, oldest first (the API's ``tracking.events``)."""
    rows = (
        await session.execute(
            select(TrackingEvent, Shipment.track)
            .join(Shipment, Shipment.id == TrackingEvent.shipment_id)
            .where(TrackingEvent.order_id == order_id)
            .order_by(TrackingEvent.happened_at, TrackingEvent.id)
        )
    ).all()
    return [
        {"track": track, "code": ev.code, "name": ev.name, "city": ev.city, "at": ev.happened_at.isoformat()}
        for ev, track in rows
    ]
