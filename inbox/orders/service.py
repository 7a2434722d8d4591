"""Order services (Zulip style): ``check_*`` validate and raise, ``do_*`` change state, write history and
emit events (queued on the session, published after commit: ``inbox.core.events``).

Every ``do_*`` takes the session of the caller's transaction and never commits: the caller commits, then
publishes the events and, for a ``StatusChange``, plans the notification (``notify.plan_notification``)
inside the same transaction as the change.

Lines can be edited while the order is a draft or in a "new"/"approval" group status. A line holds its
reservation from the moment it is added. Drafts keep reservations for ``hold`` (default 60 min, extended by
every line change); ``expire_drafts`` gives them back, and ``do_submit`` reserves again what has expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from inbox import i18n
from inbox.core.events import Event, emit
from inbox.i18n import _
from inbox.models import (
    DRAFT,
    Counter,
    Customer,
    Manager,
    Order,
    OrderHistory,
    OrderLine,
    OrderStatus,
    Product,
    Thread,
)
from inbox.models.base import utcnow
from inbox.orders import stock
from inbox.orders.defaults import DRAFT_HOLD_MINUTES, ORDER_COUNTER
from inbox.orders.errors import InvalidInput, NotFound, OrderError, TransitionRefused
from inbox.orders.sql import insert_ignore, table
from inbox.orders.statuses import cancel_status, initial_status, load_statuses, status_name
from inbox.orders.tracking import check_track_number, get_carrier, tracking_url
from inbox.sales.loyalty import loyalty_price

SOURCES = ("chat", "api", "bot")
ACTORS = ("manager", "api", "bot", "system")
PAYMENT_STATES = ("unpaid", "paid")
EDITABLE_GROUPS = ("new", "approval")
DEFAULT_HOLD = timedelta(minutes=DRAFT_HOLD_MINUTES)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: a manager (with id), the REST API, a bot, or the system (timers)."""

    kind: str
    manager_id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ACTORS:
            raise OrderError(f"actor must be one of {', '.join(ACTORS)}")
        if (self.kind == "manager") != (self.manager_id is not None):
            raise OrderError("a manager actor needs a manager id, other actors none")

    @classmethod
    def manager(cls, manager_id: int) -> Actor:
        return cls("manager", manager_id)


SYSTEM = Actor("system")
API = Actor("api")
BOT = Actor("bot")


@dataclass(frozen=True, slots=True)
class StatusChange:
    """Result of a status change. ``changed`` is False when the order already had that status."""

    order: Order
    from_status: str
    status: OrderStatus
    changed: bool


# --- reading ---------------------------------------------------------------------------------------------


async def get_order(session: AsyncSession, order_id: int, *, lock: bool = False) -> Order:
    """The order, re-read from the database; ``lock`` takes a row lock (PostgreSQL) for a change."""
    stmt = select(Order).where(Order.id == order_id).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.with_for_update()
    order = (await session.execute(stmt)).scalar_one_or_none()
    if order is None:
        raise NotFound(f"order {order_id} does not exist")
    return order


async def get_order_by_number(session: AsyncSession, number: int) -> Order:
    order = (await session.execute(select(Order).where(Order.number == number))).scalar_one_or_none()
    if order is None:
        raise NotFound(f"order №{number} does not exist")
    return order


async def _lines_in_lock_order(session: AsyncSession, order_id: int) -> list[OrderLine]:
    """Lines sorted by stock row, so that concurrent multi-line changes lock stock rows in one order
    (no deadlocks on PostgreSQL)."""
    lines = await order_lines(session, order_id)
    return sorted(lines, key=lambda ln: (ln.product_id, ln.warehouse_id))


async def order_lines(session: AsyncSession, order_id: int) -> list[OrderLine]:
    rows = await session.execute(
        select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id)
    )
    return list(rows.scalars())


async def order_history(session: AsyncSession, order_id: int) -> list[OrderHistory]:
    rows = await session.execute(
        select(OrderHistory).where(OrderHistory.order_id == order_id).order_by(OrderHistory.id)
    )
    return list(rows.scalars())


def is_overdue(order: Order, status: OrderStatus | None, now: datetime) -> bool:
    """Past the time limit of its current status (drafts and statuses without a limit never are)."""
    if status is None or status.time_limit_minutes is None or order.status != status.code:
        return False
    return now >= order.status_changed_at + timedelta(minutes=status.time_limit_minutes)


# --- helpers ---------------------------------------------------------------------------------------------


def _history(
    session: AsyncSession, order: Order, actor: Actor, action: str, old: Any, new: Any, now: datetime
) -> None:
    session.add(
        OrderHistory(
            order_id=order.id,
            actor=actor.kind,
            manager_id=actor.manager_id,
            action=action,
            from_value=None if old is None else str(old),
            to_value=None if new is None else str(new),
            at=now,
        )
    )


def _updated(session: AsyncSession, order: Order, what: str) -> None:
    emit(
        session,
        Event(
            type="order.updated",
            thread_id=order.thread_id,
            customer_id=order.customer_id,
            data={"order_id": order.id, "what": what},
        ),
    )


async def _recalc(session: AsyncSession, order: Order) -> None:
    subtotal = (
        await session.execute(
            select(func.coalesce(func.sum(OrderLine.qty * OrderLine.unit_price), 0)).where(
                OrderLine.order_id == order.id
            )
        )
    ).scalar_one()
    order.subtotal = int(subtotal)
    order.total = order.subtotal + order.delivery_cost


async def next_order_number(session: AsyncSession) -> int:
    """The next readable order number, race-free on both databases (one row, UPDATE ... RETURNING)."""
    counter = table(Counter)
    stmt = (
        update(counter)
        .where(counter.c.name == ORDER_COUNTER["name"])
        .values(value=counter.c.value + 1)
        .returning(counter.c.value)
    )
    value = (await session.execute(stmt)).scalar_one_or_none()
    if value is None:
        await session.execute(insert_ignore(session, Counter, ORDER_COUNTER))
        value = (await session.execute(stmt)).scalar_one()
    return int(value)


def check_editable(order: Order, statuses: dict[str, OrderStatus]) -> None:
    if order.status == DRAFT:
        return
    status = statuses.get(order.status)
    if status is None or status.group not in EDITABLE_GROUPS:
        raise OrderError(_("the lines of this order can no longer be changed"))


def check_quantity(qty: int) -> None:
    if isinstance(qty, bool) or not isinstance(qty, int) or qty <= 0 or qty > 1_000_000:
        raise InvalidInput(
            "qty", _("quantity must be a whole number from 1 to 1000000, got {qty}").format(qty=repr(qty))
        )


MAX_MONEY = 10**13  # kopecks: far above any order, far below what a BIGINT column holds


def check_money(name: str, value: int, field: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MONEY:
        raise InvalidInput(
            field,
            _("{name} must be a non-negative amount in kopecks, got {value}").format(
                name=name, value=repr(value)
            ),
        )


def _extend_hold(order: Order, now: datetime, hold: timedelta) -> None:
    if order.status == DRAFT:
        order.reserved_until = now + hold


# --- drafts and lines ------------------------------------------------------------------------------------


async def do_create_draft(
    session: AsyncSession,
    *,
    customer_id: int,
    actor: Actor,
    thread_id: int | None = None,
    source: str = "chat",
    now: datetime | None = None,
    hold: timedelta = DEFAULT_HOLD,
) -> Order:
    now = now or utcnow()
    if source not in SOURCES:
        raise OrderError(f"source must be one of {', '.join(SOURCES)}")
    if await session.get(Customer, customer_id) is None:
        raise NotFound(f"customer {customer_id} does not exist")
    if thread_id is not None:
        thread = await session.get(Thread, thread_id)
        if thread is None or thread.customer_id != customer_id:
            raise OrderError(f"thread {thread_id} is not the thread of customer {customer_id}")
    order = Order(
        customer_id=customer_id,
        thread_id=thread_id,
        source=source,
        manager_id=actor.manager_id,
        status=DRAFT,
        reserved_until=now + hold,
        status_changed_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    await session.flush()
    _history(session, order, actor, "created", None, DRAFT, now)
    emit(
        session,
        Event(
            type="order.created", thread_id=thread_id, customer_id=customer_id, data={"order_id": order.id}
        ),
    )
    return order


async def do_add_line(
    session: AsyncSession,
    order: Order,
    product_id: int,
    qty: int,
    *,
    actor: Actor,
    warehouse: str = "main",
    now: datetime | None = None,
    hold: timedelta = DEFAULT_HOLD,
) -> OrderLine:
    """Add ``qty`` of a product (or add to its existing line); reserves atomically or raises OutOfStock."""
    now = now or utcnow()
    check_quantity(qty)
    order = await get_order(session, order.id, lock=True)
    check_editable(order, await load_statuses(session))
    product = await session.get(Product, product_id)
    if product is None:
        raise NotFound(f"product {product_id} does not exist")
    if not product.active:
        raise OrderError(_("product {sku} is not on sale").format(sku=product.sku))
    wh = await stock.warehouse_by_code(session, warehouse)
    line = (
        await session.execute(
            select(OrderLine).where(
                OrderLine.order_id == order.id,
                OrderLine.product_id == product_id,
                OrderLine.warehouse_id == wh.id,
            )
        )
    ).scalar_one_or_none()
    await stock.reserve(session, product_id, wh.id, qty)
    if line is None:
        line = OrderLine(
            order_id=order.id,
            product_id=product_id,
            warehouse_id=wh.id,
            sku=product.sku,
            name=product.name,
            qty=qty,
            unit_price=await loyalty_price(session, order.customer_id, product.price),
            reserved=True,
        )
        session.add(line)
    else:
        if not line.reserved:  # an expired draft line: reserve the units it already had as well
            await stock.reserve(session, product_id, wh.id, line.qty)
            line.reserved = True
        line.qty += qty
    await session.flush()
    _extend_hold(order, now, hold)
    await _recalc(session, order)
    _history(session, order, actor, "line.add", None, f"{product.sku} x{qty}", now)
    _updated(session, order, "lines")
    return line


async def _line(session: AsyncSession, order: Order, line_id: int) -> OrderLine:
    line = await session.get(OrderLine, line_id)
    if line is None or line.order_id != order.id:
        raise NotFound(f"order {order.id} has no line {line_id}")
    return line


async def do_change_quantity(
    session: AsyncSession,
    order: Order,
    line_id: int,
    qty: int,
    *,
    actor: Actor,
    now: datetime | None = None,
    hold: timedelta = DEFAULT_HOLD,
) -> OrderLine | None:
    """Set a line's quantity, reserving or releasing the difference; 0 removes the line (returns None)."""
    if qty == 0:
        await do_remove_line(session, order, line_id, actor=actor, now=now)
        return None
    now = now or utcnow()
    check_quantity(qty)
    order = await get_order(session, order.id, lock=True)
    check_editable(order, await load_statuses(session))
    line = await _line(session, order, line_id)
    old = line.qty
    if line.reserved and qty > old:
        await stock.reserve(session, line.product_id, line.warehouse_id, qty - old)
    elif line.reserved and qty < old:
        await stock.release(session, line.product_id, line.warehouse_id, old - qty)
    elif not line.reserved:
        await stock.reserve(session, line.product_id, line.warehouse_id, qty)
        line.reserved = True
    line.qty = qty
    await session.flush()
    _extend_hold(order, now, hold)
    await _recalc(session, order)
    _history(session, order, actor, "line.qty", f"{line.sku} x{old}", f"{line.sku} x{qty}", now)
    _updated(session, order, "lines")
    return line


async def do_remove_line(
    session: AsyncSession, order: Order, line_id: int, *, actor: Actor, now: datetime | None = None
) -> None:
    now = now or utcnow()
    order = await get_order(session, order.id, lock=True)
    check_editable(order, await load_statuses(session))
    line = await _line(session, order, line_id)
    if line.reserved:
        await stock.release(session, line.product_id, line.warehouse_id, line.qty)
    await session.delete(line)
    await session.flush()
    await _recalc(session, order)
    _history(session, order, actor, "line.remove", f"{line.sku} x{line.qty}", None, now)
    _updated(session, order, "lines")


# --- order fields ----------------------------------------------------------------------------------------


def _check_open(order: Order, statuses: dict[str, OrderStatus]) -> None:
    status = statuses.get(order.status)
    if status is not None and status.group in ("complete", "cancel"):
        raise OrderError(_("this order can no longer be changed"))


async def do_set_delivery(
    session: AsyncSession,
    order: Order,
    *,
    method: str | None,
    address: str | None,
    cost: int,
    actor: Actor,
    now: datetime | None = None,
) -> Order:
    now = now or utcnow()
    check_money(_("delivery cost"), cost, "delivery.cost")
    if method is not None and len(method) > 64:
        raise InvalidInput("delivery.method", _("the delivery method is longer than 64 characters"))
    order = await get_order(session, order.id, lock=True)
    _check_open(order, await load_statuses(session))
    old = f"{order.delivery_method}; {order.delivery_address}; {order.delivery_cost}"
    order.delivery_method = method or None
    order.delivery_address = (address or "").strip() or None
    order.delivery_cost = cost
    await _recalc(session, order)
    _history(
        session,
        order,
        actor,
        "delivery",
        old,
        f"{order.delivery_method}; {order.delivery_address}; {cost}",
        now,
    )
    _updated(session, order, "delivery")
    return order


async def do_set_payment(
    session: AsyncSession, order: Order, *, state: str, amount: int, actor: Actor, now: datetime | None = None
) -> Order:
    now = now or utcnow()
    if state not in PAYMENT_STATES:
        raise InvalidInput("payment.state", f"payment state must be one of {', '.join(PAYMENT_STATES)}")
    check_money(_("paid amount"), amount, "payment.amount")
    order = await get_order(session, order.id, lock=True)
    old = f"{order.payment_state} {order.paid_amount}"
    order.payment_state = state
    order.paid_amount = amount
    _history(session, order, actor, "payment", old, f"{state} {amount}", now)
    _updated(session, order, "payment")
    return order


async def do_record_payment(
    session: AsyncSession, order: Order, *, amount: int, actor: Actor, now: datetime | None = None
) -> Order:
    """A provider payment of ``amount`` went through: added to ``paid_amount``; the order turns "paid" once
    that covers the total and is never marked unpaid again by a payment."""
    now = now or utcnow()
    check_money(_("paid amount"), amount, "payment.amount")
    order = await get_order(session, order.id, lock=True)
    old = f"{order.payment_state} {order.paid_amount}"
    order.paid_amount += amount
    if order.paid_amount >= order.total:
        order.payment_state = "paid"
    _history(session, order, actor, "payment", old, f"{order.payment_state} {order.paid_amount}", now)
    _updated(session, order, "payment")
    return order


async def do_record_refund(
    session: AsyncSession, order: Order, *, amount: int, actor: Actor, now: datetime | None = None
) -> Order:
    """A refund went through. ``paid_amount`` keeps what was paid; refunds are listed beside it."""
    now = now or utcnow()
    check_money(_("refund amount"), amount, "refund.amount")
    order = await get_order(session, order.id, lock=True)
    _history(session, order, actor, "refund", None, str(amount), now)
    _updated(session, order, "payment")
    return order


async def do_set_comment(
    session: AsyncSession, order: Order, comment: str, *, actor: Actor, now: datetime | None = None
) -> Order:
    now = now or utcnow()
    if len(comment) > 10_000:
        raise InvalidInput("comment", _("the comment is longer than 10000 characters"))
    order = await get_order(session, order.id, lock=True)
    old = order.comment
    order.comment = comment
    _history(session, order, actor, "comment", old, comment, now)
    _updated(session, order, "comment")
    return order


async def do_assign_manager(
    session: AsyncSession, order: Order, manager_id: int | None, *, actor: Actor, now: datetime | None = None
) -> Order:
    """Make a manager responsible for the order (None: nobody)."""
    now = now or utcnow()
    if manager_id is not None and await session.get(Manager, manager_id) is None:
        raise NotFound(f"manager {manager_id} does not exist")
    order = await get_order(session, order.id, lock=True)
    old = order.manager_id
    order.manager_id = manager_id
    _history(session, order, actor, "manager", old, manager_id, now)
    _updated(session, order, "manager")
    return order


async def do_set_tracking(
    session: AsyncSession,
    order: Order,
    *,
    carrier: str,
    track: str,
    actor: Actor,
    now: datetime | None = None,
) -> Order:
    """Set carrier + tracking number; ``order.tracking_url`` is filled from the carrier's template."""
    now = now or utcnow()
    track = check_track_number(track)
    row = await get_carrier(session, carrier)
    order = await get_order(session, order.id, lock=True)
    if order.status == DRAFT:
        raise OrderError(_("submit the draft before setting tracking"))
    old = f"{order.carrier} {order.tracking_number}" if order.tracking_number else None
    order.carrier = row.code
    order.tracking_number = track
    order.tracking_url = tracking_url(row.tracking_url, track)
    _history(session, order, actor, "tracking", old, f"{row.code} {track}", now)
    _updated(session, order, "tracking")
    return order


# --- status machine --------------------------------------------------------------------------------------


def _status_event(session: AsyncSession, order: Order, old: str) -> None:
    emit(
        session,
        Event(
            type="order.status",
            thread_id=order.thread_id,
            customer_id=order.customer_id,
            data={"order_id": order.id, "number": order.number, "from": old, "to": order.status},
        ),
    )


async def _reserve_missing(session: AsyncSession, order: Order) -> None:
    for line in await _lines_in_lock_order(session, order.id):
        if not line.reserved:
            await stock.reserve(session, line.product_id, line.warehouse_id, line.qty)
            line.reserved = True


async def do_submit(
    session: AsyncSession, order: Order, *, actor: Actor, now: datetime | None = None
) -> StatusChange:
    """Draft → the first "new" group status: the order gets its number; expired reservations are renewed
    (OutOfStock if that is no longer possible)."""
    now = now or utcnow()
    order = await get_order(session, order.id, lock=True)
    if order.status != DRAFT:
        raise TransitionRefused(_("the order is already submitted"))
    lines = await order_lines(session, order.id)
    if not lines:
        raise TransitionRefused(_("an order needs at least one line"))
    await _reserve_missing(session, order)
    statuses = await load_statuses(session)
    first = initial_status(statuses)
    order.number = await next_order_number(session)
    order.status = first.code
    order.status_changed_at = now
    order.submitted_at = now
    order.reserved_until = None
    await session.flush()
    _history(session, order, actor, "status", DRAFT, first.code, now)
    _status_event(session, order, DRAFT)
    return StatusChange(order=order, from_status=DRAFT, status=first, changed=True)


def check_transition(statuses: dict[str, OrderStatus], order: Order, code: str) -> OrderStatus:
    """The target status if the matrix allows ``order.status → code``; TransitionRefused otherwise."""
    if order.status == DRAFT:
        raise TransitionRefused(_("the order is a draft: submit it first"))
    target = statuses.get(code)
    if target is None:
        raise TransitionRefused(_("unknown status {code}").format(code=repr(code)))
    current = statuses.get(order.status)
    if current is None:
        raise TransitionRefused(
            _("the order's status {code} is no longer configured").format(code=repr(order.status))
        )
    if code not in current.transitions:
        locale = i18n.current()
        allowed = ", ".join(
            status_name(statuses[c], locale) if c in statuses else c for c in current.transitions
        ) or _("none (final status)")
        raise TransitionRefused(
            _("{old} → {new} is not allowed; allowed: {allowed}").format(
                old=status_name(current, locale), new=status_name(target, locale), allowed=allowed
            )
        )
    return target


async def _finish_lines(session: AsyncSession, order: Order, group: str) -> None:
    for line in await _lines_in_lock_order(session, order.id):
        if not line.reserved:
            continue
        if group == "cancel":
            await stock.release(session, line.product_id, line.warehouse_id, line.qty)
        else:
            await stock.write_off(session, line.product_id, line.warehouse_id, line.qty)
            line.written_off = True
        line.reserved = False


async def do_change_status(
    session: AsyncSession, order: Order, code: str, *, actor: Actor, now: datetime | None = None
) -> StatusChange:
    """Move along the status matrix. Setting the current status again is a no-op (``changed=False``).
    Entering a "cancel" group status releases reservations; a "complete" one writes stock off."""
    now = now or utcnow()
    order = await get_order(session, order.id, lock=True)
    statuses = await load_statuses(session)
    if order.status == code and code in statuses:
        return StatusChange(order=order, from_status=code, status=statuses[code], changed=False)
    target = check_transition(statuses, order, code)
    old = order.status
    if target.group in ("cancel", "complete"):
        await _finish_lines(session, order, target.group)
    order.status = target.code
    order.status_changed_at = now
    await session.flush()
    _history(session, order, actor, "status", old, target.code, now)
    _status_event(session, order, old)
    return StatusChange(order=order, from_status=old, status=target, changed=True)


async def do_cancel(
    session: AsyncSession, order: Order, *, actor: Actor, code: str | None = None, now: datetime | None = None
) -> StatusChange:
    """Cancel (default: the first "cancel" group status). A draft may always be cancelled; a submitted
    order only where the matrix allows it. Reservations are released."""
    now = now or utcnow()
    order = await get_order(session, order.id, lock=True)
    statuses = await load_statuses(session)
    target = statuses.get(code) if code else cancel_status(statuses)
    if target is None or target.group != "cancel":
        raise TransitionRefused(f"{code!r} is not a cancel status")
    if order.status != DRAFT:
        return await do_change_status(session, order, target.code, actor=actor, now=now)
    await _finish_lines(session, order, "cancel")
    order.status = target.code
    order.status_changed_at = now
    order.reserved_until = None
    await session.flush()
    _history(session, order, actor, "status", DRAFT, target.code, now)
    _status_event(session, order, DRAFT)
    return StatusChange(order=order, from_status=DRAFT, status=target, changed=True)


# --- timers ----------------------------------------------------------------------------------------------


async def expire_drafts(session: AsyncSession, now: datetime | None = None) -> list[int]:
    """Release the reservations of drafts whose hold has passed; returns their ids. The drafts stay
    (lines unreserved) and re-reserve on the next line change or on submit."""
    now = now or utcnow()
    stmt = (
        select(Order)
        .where(Order.status == DRAFT, Order.reserved_until.is_not(None), Order.reserved_until <= now)
        .order_by(Order.id)
        .with_for_update(skip_locked=True)
    )
    expired: list[int] = []
    for order in (await session.execute(stmt)).scalars().all():
        for line in await _lines_in_lock_order(session, order.id):
            if line.reserved:
                await stock.release(session, line.product_id, line.warehouse_id, line.qty)
                line.reserved = False
        order.reserved_until = None
        _history(session, order, SYSTEM, "reservation.expired", None, None, now)
        _updated(session, order, "reservation")
        expired.append(order.id)
    await session.flush()
    return expired


@dataclass(frozen=True, slots=True)
class Overdue:
    order: Order
    status: OrderStatus
    due_at: datetime


async def find_overdue(
    session: AsyncSession, now: datetime | None = None, limit: int = 1000
) -> list[Overdue]:
    """Orders that have stayed in their status longer than its time limit, oldest first."""
    now = now or utcnow()
    statuses = await load_statuses(session)
    limited = [s for s in statuses.values() if s.time_limit_minutes is not None]
    if not limited:
        return []
    cond = or_(
        *(
            and_(
                Order.status == s.code,
                Order.status_changed_at <= now - timedelta(minutes=cast(int, s.time_limit_minutes)),
            )
            for s in limited
        )
    )
    rows = await session.execute(select(Order).where(cond).order_by(Order.status_changed_at).limit(limit))
    out: list[Overdue] = []
    for order in rows.scalars():
        status = statuses[order.status]
        due = order.status_changed_at + timedelta(minutes=cast(int, status.time_limit_minutes))
        out.append(Overdue(order=order, status=status, due_at=due))
    return out


async def apply_auto_transitions(session: AsyncSession, now: datetime | None = None) -> list[StatusChange]:
    """Move overdue orders whose status has an ``auto_target`` (actor "system")."""
    now = now or utcnow()
    changes: list[StatusChange] = []
    for item in await find_overdue(session, now):
        if item.status.auto_target:
            change = await do_change_status(
                session, item.order, item.status.auto_target, actor=SYSTEM, now=now
            )
            changes.append(change)
    return changes


async def count_status_entries(session: AsyncSession, order_id: int, code: str) -> int:
    """How many times the order has entered ``code`` (the n in notification keys)."""
    value = (
        await session.execute(
            select(func.count())
            .select_from(OrderHistory)
            .where(
                OrderHistory.order_id == order_id,
                OrderHistory.action == "status",
                OrderHistory.to_value == code,
            )
        )
    ).scalar_one()
    return int(value)
