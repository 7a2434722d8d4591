"""Receipt data for 54-ФЗ as YooKassa takes it: one item per order line (plus delivery) with the product's
VAT code, the amount being paid spread over the lines in proportion (a discount, or a partial payment, lowers
every line), and the customer's contact (email, else phone).

YooKassa's ``amount`` of an item is the price of one unit and ``amount × quantity`` of all items must add up
to the payment exactly. A line whose share does not divide by its quantity is split in two items (some units
one kopeck dearer), so the sum is always exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inbox.orders.payments.yookassa import rub

DEFAULT_VAT_CODE = 1  # "без НДС"
VAT_CODES = range(1, 13)


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    description: str
    qty: int
    unit_price: int  # kopecks, before the spread
    vat_code: int = DEFAULT_VAT_CODE
    subject: str = "commodity"  # YooKassa payment_subject: commodity | service

    @property
    def total(self) -> int:
        return self.qty * self.unit_price


def spread(totals: list[int], amount: int) -> list[int]:
    """Split ``amount`` over lines in proportion to ``totals`` (largest remainder): the result adds up to
    ``amount`` exactly and no line gets more than its total when ``amount`` ≤ the sum."""
    whole = sum(totals)
    if whole <= 0:
        raise ValueError("nothing to spread over")
    shares = [t * amount // whole for t in totals]
    rest = amount - sum(shares)
    order = sorted(range(len(totals)), key=lambda i: (-(totals[i] * amount % whole), i))
    for i in order[:rest]:
        shares[i] += 1
    return shares


def _items_for(line: ReceiptLine, share: int) -> list[dict[str, Any]]:
    unit, extra = divmod(share, line.qty)
    parts = [(line.qty - extra, unit), (extra, unit + 1)] if extra else [(line.qty, unit)]
    return [
        {
            "description": line.description[:128] or "-",
            "quantity": f"{qty}.00",
            "amount": {"value": rub(price), "currency": "RUB"},
            "vat_code": line.vat_code if line.vat_code in VAT_CODES else DEFAULT_VAT_CODE,
            "payment_mode": "full_prepayment",
            "payment_subject": line.subject,
        }
        for qty, price in parts
        if qty > 0
    ]


def receipt_items(lines: list[ReceiptLine], amount: int) -> list[dict[str, Any]]:
    """The receipt's items for a payment of ``amount`` kopecks (lines of zero value are left out)."""
    paid = [ln for ln in lines if ln.total > 0]
    if not paid or amount <= 0:
        return []
    shares = spread([ln.total for ln in paid], amount)
    items: list[dict[str, Any]] = []
    for line, share in zip(paid, shares, strict=True):
        items += _items_for(line, share)
    return items


def customer_contact(email: str | None, phone: str | None) -> dict[str, str] | None:
    """``{"email": …}`` or ``{"phone": "79991234567"}`` (E.164 without the plus), None without either."""
    if email:
        return {"email": email}
    if phone:
        return {"phone": phone.lstrip("+")}
    return None


def receipt(
    lines: list[ReceiptLine], amount: int, email: str | None, phone: str | None
) -> dict[str, Any] | None:
    contact = customer_contact(email, phone)
    items = receipt_items(lines, amount)
    if contact is None or not items or len(items) > 100:
        return None
    return {"customer": contact, "items": items}
