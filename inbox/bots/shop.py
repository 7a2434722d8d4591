"""Flows that read the shop: main menu, order status and tracking, catalog search and browsing,
product cards."""

from __future__ import annotations

from sqlalchemy import select

from inbox.bots.payloads import Action
from inbox.bots.turn import Option, Rows, Turn
from inbox.core.kinds import capabilities
from inbox.i18n import _
from inbox.models import Category, Customer, Order, Product
from inbox.orders.catalog import ProductView, related_products, search_products, stock_levels
from inbox.orders.notify import format_rub
from inbox.orders.statuses import load_statuses, status_name

MAX_LIST = 5


def main_rows() -> Rows:
    return [
        [Option(_("My orders"), Action("orders")), Option(_("Catalog"), Action("cats"))],
        [Option(_("Cart"), Action("cart")), Option(_("Manager"), Action("mgr"))],
    ]


async def greet(turn: Turn) -> None:
    text = turn.cfg.greeting.get(turn.locale) or _(
        "Hello! I am the shop's assistant. I can tell you where your order is, find products, "
        "take an order, or call a manager."
    )
    turn.say(text, main_rows())


async def main_menu(turn: Turn) -> None:
    turn.say(_("What can I do for you?"), main_rows())


# ---- orders ----------------------------------------------------------------------------------------------


async def _customer_ids(turn: Turn) -> list[int]:
    """This customer, and customers sharing the phone number this customer proved (SMS sender, shared
    Telegram contact): an order a manager took by phone shows up for the SMS sender."""
    ids = [turn.customer.id]
    if turn.customer.phone and turn.customer.phone_verified:
        rows = await turn.session.execute(
            select(Customer.id).where(
                Customer.phone == turn.customer.phone,
                Customer.merged_into_id.is_(None),
                Customer.id != turn.customer.id,
            )
        )
        ids += list(rows.scalars())
    return ids


async def order_status(turn: Turn, number: int) -> None:
    ids = await _customer_ids(turn)
    order = (
        await turn.session.execute(select(Order).where(Order.number == number, Order.customer_id.in_(ids)))
    ).scalar_one_or_none()
    if order is None:
        turn.say(
            _("I could not find order #%(number)s among your orders. Check the number or ask a manager.")
            % {"number": number},
            [[Option(_("My orders"), Action("orders")), Option(_("Manager"), Action("mgr"))]],
        )
        return
    statuses = await load_statuses(turn.session)
    status = statuses.get(order.status)
    name = status_name(status, turn.locale) if status is not None else order.status
    lines = [
        _("Order #%(number)s: %(status)s.") % {"number": order.number, "status": name},
        _("Total: %(total)s.") % {"total": format_rub(order.total)},
    ]
    rows: Rows = []
    if order.tracking_number:
        lines.append(_("Tracking number: %(track)s.") % {"track": order.tracking_number})
        if order.tracking_url:
            rows.append([Option(_("Track the parcel"), url=order.tracking_url)])
    rows.append([Option(_("My orders"), Action("orders")), Option(_("Manager"), Action("mgr"))])
    turn.say("\n".join(lines), rows)


async def my_orders(turn: Turn) -> None:
    ids = await _customer_ids(turn)
    orders = list(
        (
            await turn.session.execute(
                select(Order)
                .where(Order.customer_id.in_(ids), Order.number.is_not(None))
                .order_by(Order.id.desc())
                .limit(MAX_LIST)
            )
        ).scalars()
    )
    if not orders:
        text = _("I found no orders for you yet.")
        if capabilities(turn.channel).address == "phone":
            text = _("I found no orders for this phone number.")
        turn.say(
            text + " " + _("Send the order number, like #1042, if you have one."),
            [[Option(_("Catalog"), Action("cats")), Option(_("Manager"), Action("mgr"))]],
        )
        return
    statuses = await load_statuses(turn.session)
    rows: Rows = []
    for o in orders:
        status = statuses.get(o.status)
        name = status_name(status, turn.locale) if status is not None else o.status
        rows.append([Option(f"#{o.number} — {name}", Action("ord", str(o.number)))])
    turn.say(_("Your latest orders:"), rows)


# ---- catalog ---------------------------------------------------------------------------------------------


def _product_rows(views: list[ProductView]) -> Rows:
    return [
        [Option(f"{v.product.name} — {format_rub(v.product.price)}", Action("prod", str(v.product.id)))]
        for v in views[:MAX_LIST]
    ]


def _stems(query: str) -> str:
    """A crude stem for a second try: "кроссовки" → "кроссовк", "shoes" → "shoe"."""
    return " ".join(w[:-2] if len(w) > 5 else w[:-1] if len(w) > 3 else w for w in query.split())


async def search(turn: Turn, query: str) -> None:
    query = query[:100]
    views = await search_products(turn.session, query, limit=MAX_LIST + 1)
    if not views:
        views = await search_products(turn.session, _stems(query), limit=MAX_LIST + 1)
    if not views:
        turn.say(
            _("Sorry, I found nothing for “%(query)s”.") % {"query": query},
            [[Option(_("Catalog"), Action("cats")), Option(_("Manager"), Action("mgr"))]],
        )
        return
    text = _("Here is what I found for “%(query)s”:") % {"query": query}
    turn.say(text, [*_product_rows(views), [Option(_("Catalog"), Action("cats"))]])


async def categories(turn: Turn, parent_id: int | None = None) -> None:
    stmt = select(Category).order_by(Category.name).limit(MAX_LIST)
    stmt = stmt.where(Category.parent_id.is_(None) if parent_id is None else Category.parent_id == parent_id)
    cats = list((await turn.session.execute(stmt)).scalars())
    rows: Rows = [[Option(c.name, Action("cat", str(c.id)))] for c in cats]
    views: list[ProductView] = []
    if parent_id is not None or not cats:
        views = await search_products(turn.session, "", category_id=parent_id, limit=MAX_LIST)
        rows += _product_rows(views)
    if not rows:
        turn.say(_("The catalog is empty for now."), [[Option(_("Manager"), Action("mgr"))]])
        return
    title = _("Catalog:")
    if parent_id is not None:
        category = await turn.session.get(Category, parent_id)
        title = f"{category.name}:" if category is not None else title
        rows.append([Option(_("Catalog"), Action("cats")), Option(_("Cart"), Action("cart"))])
    turn.say(title, rows)


async def product_card(turn: Turn, product_id: int) -> None:
    product = await turn.session.get(Product, product_id)
    if product is None or not product.active:
        turn.say(_("This product is no longer on sale."), [[Option(_("Catalog"), Action("cats"))]])
        return
    available = sum(max(level.available, 0) for level in await stock_levels(turn.session, product.id))
    lines = [product.name, _("Price: %(price)s") % {"price": format_rub(product.price)}]
    if available > 0:
        lines.append(_("In stock: %(count)s pcs.") % {"count": available})
    else:
        lines.append(_("Out of stock."))
    if product.description:
        desc = " ".join(product.description.split())
        lines.append(desc if len(desc) <= 300 else desc[:299] + "…")
    rows: Rows = []
    if available > 0:
        rows.append([Option(_("Add to cart"), Action("add", str(product.id)))])
    related = await related_products(turn.session, product.id)
    if related:
        lines.append(_("You may also like:"))
        rows += [
            [Option(f"{r.name} — {format_rub(r.price)}", Action("prod", str(r.id)))] for r in related[:3]
        ]
    rows.append([Option(_("Cart"), Action("cart")), Option(_("Catalog"), Action("cats"))])
    turn.say("\n".join(lines), rows)


async def loyalty_level(turn: Turn) -> None:
    """The customer's loyalty level, its discount and what is left to the next level."""
    from inbox.sales.loyalty import standing

    now = await standing(turn.session, turn.customer.id)
    if now.level is None:
        text = _("You have no loyalty level yet.")
    else:
        text = _("Your level: %(level)s.") % {"level": _(now.level.name)}
        if now.discount:
            text += " " + _("Your discount: %(pct)s%%.") % {"pct": now.discount}
    text += " " + _("You have bought for %(spent)s.") % {"spent": format_rub(now.spent)}
    if now.next_level is not None and now.left_to_next is not None:
        text += " " + _("%(left)s more to the level %(level)s.") % {
            "left": format_rub(now.left_to_next),
            "level": _(now.next_level.name),
        }
        if now.next_level.discount:
            text += " " + _("It gives a %(pct)s%% discount.") % {"pct": now.next_level.discount}
    turn.say(text, main_rows())
