"""The audit log and order history name delivery methods and carriers in the manager's language."""

from __future__ import annotations

from inbox import i18n
from inbox.models import OrderHistory
from inbox.team.audit_text import order_change


def test_delivery_and_tracking_lines_read_in_russian() -> None:
    delivery = OrderHistory(action="delivery", to_value="courier; Москва, Тверская, 12; 50000")
    tracking = OrderHistory(action="tracking", from_value=None, to_value="cdek 1098765432")
    typed = OrderHistory(action="delivery", from_value=None, to_value="Самокат; ; 0")
    with i18n.use_locale("ru"):
        line = order_change(delivery, str, {}).replace("\u00a0", " ").replace("\u202f", " ")
        assert line == "Доставка: Курьер, Москва, Тверская, 12, 500 ₽"
        assert order_change(tracking, str, {}) == "Трек-номер: СДЭК 1098765432"
        assert order_change(typed, str, {}).startswith("Доставка: Самокат")  # a typed method stays as typed
