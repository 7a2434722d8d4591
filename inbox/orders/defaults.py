"""Default configuration seeded by migration 0004 and by ``ensure_defaults``: plain data, no ORM.

Statuses and their transition matrix, carriers with tracking URL templates, the "main" warehouse and the
order number counter (the first order gets number 1001).
"""

from __future__ import annotations

from typing import Any

GROUPS = ("new", "approval", "assembling", "delivery", "complete", "cancel")
CHANNEL_KINDS = ("messenger", "sms", "email")
MAIN_WAREHOUSE: dict[str, Any] = {"code": "main", "name": "Основной склад"}
ORDER_COUNTER: dict[str, Any] = {"name": "order", "value": 1000}
DRAFT_HOLD_MINUTES = 60  # how long a draft keeps its reservations
ON_PAID: dict[str, str] = {"new": "confirmed"}  # seeded by migration 0009: a paid new order is confirmed


def _tpl(ru: str, en: str, ru_subject: str, en_subject: str) -> dict[str, dict[str, str]]:
    """The same text for every channel kind; SMS gets it without the link-heavy tail."""
    return {
        "ru": {"messenger": ru, "sms": ru, "email": ru, "email_subject": ru_subject},
        "en": {"messenger": en, "sms": en, "email": en, "email_subject": en_subject},
    }


STATUSES: list[dict[str, Any]] = [
    {
        "code": "new",
        "group": "new",
        "names": {"ru": "Новый", "en": "New"},
        "transitions": ["confirmed", "cancelled"],
        "time_limit_minutes": 60,
        "notify_customer": True,
        "templates": _tpl(
            "{customer.name}, ваш заказ №{order.number} на сумму {order.total} принят. "
            "Мы скоро свяжемся с вами.",
            "{customer.name}, your order #{order.number} for {order.total} has been received.",
            "Заказ №{order.number} принят",
            "Order #{order.number} received",
        ),
    },
    {
        "code": "confirmed",
        "group": "approval",
        "names": {"ru": "Подтверждён", "en": "Confirmed"},
        "transitions": ["assembling", "cancelled"],
        "time_limit_minutes": 24 * 60,
        "notify_customer": True,
        "templates": _tpl(
            "Заказ №{order.number} подтверждён. Сумма: {order.total}.",
            "Order #{order.number} is confirmed. Total: {order.total}.",
            "Заказ №{order.number} подтверждён",
            "Order #{order.number} confirmed",
        ),
    },
    {
        "code": "assembling",
        "group": "assembling",
        "names": {"ru": "Собирается", "en": "Assembling"},
        "transitions": ["handed_to_delivery", "ready_for_pickup", "cancelled"],
        "time_limit_minutes": 24 * 60,
        "notify_customer": False,
        "templates": {},
    },
    {
        "code": "handed_to_delivery",
        "group": "delivery",
        "names": {"ru": "Передан в доставку", "en": "Handed to delivery"},
        "transitions": ["in_delivery", "delivered", "returned", "cancelled"],
        "time_limit_minutes": 3 * 24 * 60,
        "notify_customer": True,
        "templates": _tpl(
            "Заказ №{order.number} передан в доставку. Отследить: {order.tracking_url}",
            "Order #{order.number} has been handed to delivery. Track it: {order.tracking_url}",
            "Заказ №{order.number} передан в доставку",
            "Order #{order.number} handed to delivery",
        ),
    },
    {
        "code": "in_delivery",
        "group": "delivery",
        "names": {"ru": "В доставке", "en": "In delivery"},
        "transitions": ["delivered", "returned"],
        "time_limit_minutes": 14 * 24 * 60,
        "notify_customer": False,
        "templates": {},
    },
    {
        "code": "ready_for_pickup",
        "group": "delivery",
        "names": {"ru": "Готов к выдаче", "en": "Ready for pickup"},
        "transitions": ["delivered", "returned", "cancelled"],
        "time_limit_minutes": 7 * 24 * 60,
        "notify_customer": True,
        "templates": _tpl(
            "Заказ №{order.number} ждёт вас в пункте выдачи. К оплате: {order.total}.",
            "Order #{order.number} is ready for pickup. Amount due: {order.total}.",
            "Заказ №{order.number} готов к выдаче",
            "Order #{order.number} is ready for pickup",
        ),
    },
    {
        "code": "delivered",
        "group": "complete",
        "names": {"ru": "Доставлен", "en": "Delivered"},
        "transitions": [],
        "notify_customer": True,
        "templates": _tpl(
            "Заказ №{order.number} получен. Спасибо за покупку, {customer.name}!",
            "Order #{order.number} delivered. Thank you, {customer.name}!",
            "Заказ №{order.number} получен",
            "Order #{order.number} delivered",
        ),
    },
    {
        "code": "cancelled",
        "group": "cancel",
        "names": {"ru": "Отменён", "en": "Cancelled"},
        "transitions": [],
        "notify_customer": True,
        "templates": _tpl(
            "Заказ №{order.number} отменён.",
            "Order #{order.number} has been cancelled.",
            "Заказ №{order.number} отменён",
            "Order #{order.number} cancelled",
        ),
    },
    {
        "code": "returned",
        "group": "cancel",
        "names": {"ru": "Возврат", "en": "Returned"},
        "transitions": [],
        "notify_customer": False,
        "templates": {},
    },
]

CARRIERS: list[dict[str, Any]] = [
    {
        "code": "russian_post",
        "name": "Почта России",
        "tracking_url": "https://www.pochta.ru/tracking?barcode={track}",
    },
    {"code": "cdek", "name": "СДЭК", "tracking_url": "https://www.cdek.ru/ru/tracking?order_id={track}"},
    {"code": "boxberry", "name": "Boxberry", "tracking_url": "https://boxberry.ru/tracking-page?id={track}"},
    {
        "code": "dpd",
        "name": "DPD",
        "tracking_url": "https://www.dpd.ru/ru/private/tracking.html?orderNum={track}",
    },
    {"code": "courier", "name": "Курьер магазина", "tracking_url": None},
]


def status_rows() -> list[dict[str, Any]]:
    return [
        {
            "code": s["code"],
            "group": s["group"],
            "position": i,
            "names": s["names"],
            "transitions": s["transitions"],
            "time_limit_minutes": s.get("time_limit_minutes"),
            "auto_target": s.get("auto_target"),
            "notify_customer": s["notify_customer"],
            "templates": s["templates"],
        }
        for i, s in enumerate(STATUSES)
    ]


def carrier_rows() -> list[dict[str, Any]]:
    return [{**c, "active": True} for c in CARRIERS]
