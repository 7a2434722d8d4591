"""Cart and checkout through the orders service: the cart is a draft order (same reservations as a
manager's), checkout collects name, phone, delivery and address, and confirming submits the order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from inbox.bots import delivery
from inbox.bots.config import DeliveryMethod
from inbox.bots.payloads import Action
from inbox.bots.shop import main_rows
from inbox.bots.turn import Option, Rows, Turn
from inbox.core.kinds import capabilities
from inbox.core.meta import ContactMeta, meta_of
from inbox.core.phones import try_normalize_phone
from inbox.i18n import _
from inbox.models import DRAFT, Order, OrderLine
from inbox.orders import service
from inbox.orders.conversation import Effects, after_status
from inbox.orders.errors import OrdersError, OutOfStock
from inbox.orders.notify import format_rub, plan_notification
from inbox.orders.payments.offers import queue_offer

MAX_LINES = 4  # line buttons in the cart view (the keyboard has room for 6 rows)
STEPS = ("name", "phone", "delivery", "address", "confirm", "pvz_city", "pvz_wait", "pvz")


async def current_cart(turn: Turn) -> Order | None:
    order_id = turn.data.get("cart")
    if not isinstance(order_id, int):
        return None
    order = await turn.session.get(Order, order_id)
    if order is None or order.status != DRAFT or order.customer_id != turn.customer.id:
        turn.data.pop("cart", None)
        return None
    return order


async def _lines(turn: Turn, order: Order) -> list[OrderLine]:
    rows = await turn.session.execute(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.id)
    )
    return list(rows.scalars())


async def add(turn: Turn, product_id: int, qty: int = 1) -> None:
    cart = await current_cart(turn)
    held = 0
    if cart is not None:
        held = sum(ln.qty for ln in await _lines(turn, cart) if ln.product_id == product_id and ln.reserved)
    try:
        async with turn.session.begin_nested():
            order = await current_cart(turn)
            if order is None:
                order = await service.do_create_draft(
                    turn.session,
                    customer_id=turn.customer.id,
                    actor=service.BOT,
                    thread_id=turn.thread.id,
                    source="bot",
                    now=turn.now,
                )
            line = await service.do_add_line(
                turn.session, order, product_id, qty, actor=service.BOT, now=turn.now
            )
    except OutOfStock as exc:
        turn.say(
            _("Sorry, there are only %(count)s pcs. left.") % {"count": held + max(exc.available, 0)},
            [[Option(_("Cart"), Action("cart")), Option(_("Catalog"), Action("cats"))]],
        )
        return
    except OrdersError:
        turn.say(_("This product is no longer on sale."), [[Option(_("Catalog"), Action("cats"))]])
        return
    turn.data["cart"] = order.id
    turn.say(
        _("Added to the cart: %(name)s × %(qty)s.") % {"name": line.name, "qty": line.qty},
        [
            [Option(_("Checkout"), Action("chk")), Option(_("Cart"), Action("cart"))],
            [Option(_("Catalog"), Action("cats"))],
        ],
    )


async def view(turn: Turn, note: str = "") -> None:
    order = await current_cart(turn)
    lines = await _lines(turn, order) if order is not None else []
    if order is None or not lines:
        turn.say(
            (note + "\n" if note else "") + _("Your cart is empty."),
            [[Option(_("Catalog"), Action("cats")), Option(_("My orders"), Action("orders"))]],
        )
        return
    text = [note] if note else []
    text.append(_("Your cart:"))
    text += [f"• {ln.name} × {ln.qty} — {format_rub(ln.qty * ln.unit_price)}" for ln in lines]
    text.append(_("Total: %(total)s.") % {"total": format_rub(order.subtotal)})
    rows: Rows = [[Option(f"{ln.name} × {ln.qty}", Action("line", str(ln.id)))] for ln in lines[:MAX_LINES]]
    rows.append([Option(_("Checkout"), Action("chk")), Option(_("Catalog"), Action("cats"))])
    turn.say("\n".join(text), rows)


async def line_menu(turn: Turn, line_id: int) -> None:
    order = await current_cart(turn)
    line = await turn.session.get(OrderLine, line_id)
    if order is None or line is None or line.order_id != order.id:
        await view(turn)
        return
    turn.say(
        f"{line.name} × {line.qty}",
        [
            [Option("−1", Action("dec", str(line.id))), Option("+1", Action("inc", str(line.id)))],
            [Option(_("Remove"), Action("rm", str(line.id))), Option(_("Cart"), Action("cart"))],
        ],
    )


async def change(turn: Turn, line_id: int, delta: int | None) -> None:
    """``delta`` +1 / -1, or None to remove the line."""
    order = await current_cart(turn)
    line = await turn.session.get(OrderLine, line_id)
    if order is None or line is None or line.order_id != order.id:
        await view(turn)
        return
    old = line.qty
    qty = 0 if delta is None else old + delta
    note = ""
    try:
        async with turn.session.begin_nested():
            await service.do_change_quantity(
                turn.session, order, line.id, max(qty, 0), actor=service.BOT, now=turn.now
            )
    except OutOfStock as exc:
        held = old if line.reserved else 0
        note = _("Sorry, there are only %(count)s pcs. left.") % {"count": held + max(exc.available, 0)}
    except OrdersError as exc:
        note = exc.reason
    await view(turn, note)


# ---- checkout --------------------------------------------------------------------------------------------


def _cancel_row() -> list[Option]:
    return [Option(_("Cancel"), Action("cancel"))]


async def start(turn: Turn) -> None:
    order = await current_cart(turn)
    if order is None or not await _lines(turn, order):
        await view(turn)
        return
    turn.data["checkout"] = {}
    await ask(turn, "name")


async def ask(turn: Turn, step: str) -> None:
    turn.step = step
    checkout = turn.data.setdefault("checkout", {})
    if step == "name":
        rows: Rows = []
        if turn.customer.name:
            rows.append([Option(turn.customer.name, Action("name"))])
        turn.say(_("What name should we put on the order?"), [*rows, _cancel_row()])
    elif step == "phone":
        rows = []
        if turn.customer.phone:
            rows.append([Option(turn.customer.phone, Action("phone"))])
        if capabilities(turn.channel).contact_sharing:
            text = _("Your phone number, please: share your contact (📎 → Contact) or type the number.")
        else:
            text = _("Your phone number, please.")
        turn.say(text, [*rows, _cancel_row()])
    elif step == "delivery":
        rows = [
            [
                Option(
                    f"{m.name(turn.locale)} — {format_rub(m.cost)}" if m.cost else m.name(turn.locale),
                    Action("dlv", m.code),
                )
            ]
            for m in await _methods(turn)
        ]
        turn.say(_("How should we deliver the order?"), [*rows, _cancel_row()])
    elif step == "address":
        turn.say(_("The delivery address, please (city, street, house, flat)."), [_cancel_row()])
    elif step == "confirm":
        await _summary(turn, checkout)
    elif step == "pvz_city":
        delivery.ask_city(turn)
    elif step == "pvz_wait":
        turn.say(_("Still looking for pickup points…"), [_cancel_row()])
    elif step == "pvz":
        turn.step = "pvz_city"  # the offered points are not kept as buttons: ask again
        delivery.ask_city(turn)


async def _methods(turn: Turn) -> list[DeliveryMethod]:
    """The shop's delivery methods, and the СДЭК pickup point when СДЭК is connected."""
    pvz = await delivery.pvz_method(turn)
    return [*turn.cfg.delivery, *([pvz] if pvz else [])]


async def _method(turn: Turn, code: str) -> DeliveryMethod | None:
    return next((m for m in await _methods(turn) if m.code == code), None)


def _cost(method: DeliveryMethod, checkout: dict[str, Any]) -> int:
    """The quoted cost for a pickup point, the method's fixed cost otherwise."""
    if method.code == delivery.CDEK_PVZ:
        return int(checkout.get("cost") or 0)
    return method.cost


async def _summary(turn: Turn, checkout: dict[str, str]) -> None:
    order = await current_cart(turn)
    if order is None:
        turn.step = ""
        await view(turn)
        return
    method = await _method(turn, str(checkout.get("delivery", "")))
    cost = _cost(method, checkout) if method else 0
    text = [_("Please check your order:")]
    text += [
        f"• {ln.name} × {ln.qty} — {format_rub(ln.qty * ln.unit_price)}" for ln in await _lines(turn, order)
    ]
    if method is not None:
        text.append(
            _("Delivery: %(method)s, %(cost)s.")
            % {"method": method.name(turn.locale), "cost": format_rub(cost)}
        )
    if checkout.get("address"):
        text.append(_("Address: %(address)s.") % {"address": checkout["address"]})
    text.append(
        _("Name: %(name)s. Phone: %(phone)s.")
        % {"name": checkout.get("name"), "phone": checkout.get("phone")}
    )
    text.append(_("Total: %(total)s.") % {"total": format_rub(order.subtotal + cost)})
    turn.say("\n".join(text), [[Option(_("Confirm"), Action("ok")), Option(_("Cancel"), Action("cancel"))]])


async def answer(turn: Turn, text: str) -> bool:
    """Typed input for the current checkout step; False when this step does not take text."""
    checkout = turn.data.setdefault("checkout", {})
    step = turn.step
    text = text.strip()
    if step == "name":
        if not text or len(text) > 100:
            turn.say(_("Please type a name (up to 100 characters)."), [_cancel_row()])
            return True
        checkout["name"] = text
        await ask(turn, "phone")
        return True
    if step == "phone":
        contact: ContactMeta = (meta_of(turn.message).get("contact") if turn.message else None) or {}
        raw = str(contact.get("phone_number") or "") or text
        phone = try_normalize_phone(raw, turn.settings.default_region)
        if phone is None:
            turn.say(_("That does not look like a phone number. Example: +7 999 123-45-67."), [_cancel_row()])
            return True
        checkout["phone"] = phone
        await ask(turn, "delivery")
        return True
    if step == "pvz_city":
        await delivery.got_city(turn, text, await current_cart(turn))
        return True
    if step in ("pvz_wait", "pvz"):
        await ask(turn, step)
        return True
    if step == "delivery":
        wanted = text.casefold()
        for m in await _methods(turn):
            if wanted in (m.code, m.name(turn.locale).casefold()):
                await choose_delivery(turn, m.code)
                return True
        await ask(turn, "delivery")
        return True
    if step == "address":
        if len(text) < 5 or len(text) > 500:
            turn.say(_("Please type the full address (5 to 500 characters)."), [_cancel_row()])
            return True
        checkout["address"] = text
        await ask(turn, "confirm")
        return True
    return False


async def keep_known(turn: Turn, what: str) -> None:
    """The "use the name / phone we know" buttons."""
    checkout = turn.data.setdefault("checkout", {})
    if what == "name" and turn.step == "name" and turn.customer.name:
        checkout["name"] = turn.customer.name
        await ask(turn, "phone")
    elif what == "phone" and turn.step == "phone" and turn.customer.phone:
        checkout["phone"] = turn.customer.phone
        await ask(turn, "delivery")
    else:
        await resume(turn)


async def choose_delivery(turn: Turn, code: str) -> None:
    method = await _method(turn, code)
    if turn.step != "delivery" or method is None:
        await resume(turn)
        return
    checkout = turn.data.setdefault("checkout", {})
    checkout["delivery"] = method.code
    for key in ("address", "point", "pvz", "cost"):
        checkout.pop(key, None)
    if method.code == delivery.CDEK_PVZ:
        await ask(turn, "pvz_city")
        return
    await ask(turn, "address" if method.needs_address else "confirm")


async def choose_point(turn: Turn, code: str) -> None:
    if delivery.choose_point(turn, code):
        await ask(turn, "confirm")
    else:
        await resume(turn)


async def resume(turn: Turn) -> None:
    """A stale button: show the current step again, or the main menu."""
    if turn.step in STEPS:
        await ask(turn, turn.step)
    else:
        turn.say(_("What can I do for you?"), main_rows())


async def cancel(turn: Turn) -> None:
    turn.step = ""
    turn.data.pop("checkout", None)
    turn.say(_("Checkout cancelled; your cart is kept."), main_rows())


async def confirm(turn: Turn) -> None:
    checkout = turn.data.get("checkout") or {}
    order = await current_cart(turn)
    method = await _method(turn, str(checkout.get("delivery", "")))
    if turn.step != "confirm" or order is None or method is None or not checkout.get("phone"):
        await resume(turn)
        return
    try:
        async with turn.session.begin_nested():
            await service.do_set_delivery(
                turn.session,
                order,
                method=method.code,
                address=checkout.get("address"),
                cost=_cost(method, checkout),
                actor=service.BOT,
                now=turn.now,
            )
            comment = f"{checkout.get('name', '')}, {checkout['phone']}"
            await service.do_set_comment(turn.session, order, comment, actor=service.BOT, now=turn.now)
            change = await service.do_submit(turn.session, order, actor=service.BOT, now=turn.now)
            # The same follow-ups as a manager's order: "order placed" in the thread, the shop's webhook.
            effects = Effects(turn.settings)
            await after_status(turn.session, effects, change, notify=False)
            turn.events.extend(effects.events)
            # The confirmation below is the customer's notice of the new order: record the status entry
            # as notified so that it is not announced twice.
            await plan_notification(turn.session, change.order, change.status, default_locale=turn.locale)
            # Payment is offered right after (a Telegram invoice or the link), outside this transaction.
            offered = await queue_offer(turn.session, change.order)
    except OutOfStock:
        turn.step = ""
        await view(turn, _("Sorry, some items sold out while you were ordering."))
        return
    except OrdersError as exc:
        turn.step = ""
        await view(turn, exc.reason)
        return
    if not turn.customer.name and checkout.get("name"):
        turn.customer.name = str(checkout["name"])[:200]
    if not turn.customer.phone:
        turn.customer.phone = str(checkout["phone"])
    turn.step = ""
    turn.data.pop("checkout", None)
    turn.data.pop("cart", None)
    thanks = (
        _("Thank you! Your order #%(number)s is placed. You can pay for it online now: the link follows.")
        if offered
        else _("Thank you! Your order #%(number)s is placed. We will contact you to confirm it.")
    )
    turn.say(
        thanks % {"number": change.order.number},
        [[Option(_("Order status"), Action("ord", str(change.order.number)))]],
    )
