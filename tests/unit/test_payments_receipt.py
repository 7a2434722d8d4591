"""54-ФЗ receipt items: the paid amount spread over the lines exactly, YooKassa amounts and notifications."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox.orders.payments.receipt import ReceiptLine, receipt, receipt_items, spread
from inbox.orders.payments.yookassa import kopecks, parse_notification, parse_payment, rub


def _sum(items: list[dict[str, object]]) -> int:
    total = Decimal(0)
    for item in items:
        amount = item["amount"]
        assert isinstance(amount, dict)
        total += Decimal(str(amount["value"])) * Decimal(str(item["quantity"]))
    return int(total * 100)


def test_spread_is_exact_and_proportional() -> None:
    assert spread([100, 100, 100], 100) == [34, 33, 33]
    assert spread([300, 100], 200) == [150, 50]
    assert sum(spread([1999, 1, 7], 1000)) == 1000
    with pytest.raises(ValueError):
        spread([0, 0], 10)


@given(
    st.lists(st.tuples(st.integers(1, 9), st.integers(1, 500_000)), min_size=1, max_size=8),
    st.integers(0, 100),
)
def test_items_always_add_up_to_the_payment(lines: list[tuple[int, int]], percent: int) -> None:
    rows = [ReceiptLine(f"item {i}", qty, price, vat_code=4) for i, (qty, price) in enumerate(lines)]
    whole = sum(r.total for r in rows)
    amount = max(whole * percent // 100, sum(r.qty for r in rows))
    items = receipt_items(rows, amount)
    assert _sum(items) == amount
    assert all(it["vat_code"] == 4 and Decimal(str(it["quantity"])) > 0 for it in items)


def test_discount_splits_a_line_that_does_not_divide() -> None:
    items = receipt_items([ReceiptLine("Кружка", 3, 1000)], 2000)
    assert [(i["quantity"], i["amount"]["value"]) for i in items] == [("1.00", "6.66"), ("2.00", "6.67")]
    both = receipt_items(
        [ReceiptLine("Кружка", 3, 1000), ReceiptLine("Доставка", 1, 500, subject="service")], 3000
    )
    assert _sum(both) == 3000 and both[-1]["payment_subject"] == "service"


def test_receipt_needs_a_contact() -> None:
    lines = [ReceiptLine("Кружка", 1, 1000, vat_code=0)]
    assert receipt(lines, 1000, None, None) is None
    data = receipt(lines, 1000, None, "+79991234567")
    assert data is not None and data["customer"] == {"phone": "79991234567"}
    assert data["items"][0]["vat_code"] == 1  # an unknown code falls back to "без НДС"


def test_amounts_and_objects() -> None:
    assert rub(12345) == "123.45" and rub(5) == "0.05"
    assert kopecks("123.45") == 12345
    for bad in ("1.234", "abc", "-1.00"):
        with pytest.raises(ValueError):
            kopecks(bad)
    info = parse_payment(
        {
            "id": "2d9f5e5a-000f-5000-8000-1b7b6d0d4b6e",
            "status": "succeeded",
            "paid": True,
            "amount": {"value": "10.00", "currency": "RUB"},
            "payment_method": {"type": "sbp", "title": "СБП"},
            "refunded_amount": {"value": "1.00", "currency": "RUB"},
            "metadata": {"order_id": "7"},
        }
    )
    assert (info.amount, info.method, info.refunded, info.metadata) == (
        1000,
        "sbp: СБП",
        100,
        {"order_id": "7"},
    )
    with pytest.raises(ValueError):
        parse_payment({"id": "x", "status": "weird", "amount": {"value": "1.00"}})
    with pytest.raises(ValueError):
        parse_payment({"id": "x", "status": "pending", "amount": {"value": "1.00", "currency": "USD"}})
    note = parse_notification(
        b'{"type": "notification", "event": "refund.succeeded", "object": {"id": "r-1"}}'
    )
    assert (note.event, note.object_id) == ("refund.succeeded", "r-1")
    for body in (b"[]", b'{"type": "notification", "event": "payment.succeeded", "object": {}}', b"\xff"):
        with pytest.raises(ValueError):
            parse_notification(body)
