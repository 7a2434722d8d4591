"""YooKassa API v3 client (https://yookassa.ru/developers/api): create a payment with an idempotence key, read
a payment or a refund back. HTTP Basic auth ``shop_id:secret_key``; money as decimal strings in rubles.

The base URL is configurable (``--api-base``) so a shop can use a proxy and tests an emulator. Every failure
is one of ``ProviderUnavailable`` (network, timeout, 5xx, 429, 202 "in progress", a body that is not the
documented JSON) or ``ProviderRefused`` (4xx, with YooKassa's ``code``/``description``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from inbox.orders.payments.errors import ProviderRefused, ProviderUnavailable

DEFAULT_API_BASE = "https://api.yookassa.ru"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
STATUSES = ("pending", "waiting_for_capture", "succeeded", "canceled")
REFUND_STATUSES = ("pending", "succeeded", "canceled")
_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
EVENTS = ("payment.succeeded", "payment.canceled", "payment.waiting_for_capture", "refund.succeeded")


def rub(kopecks: int) -> str:
    """12345 → "123.45" (YooKassa's amount.value)."""
    return f"{kopecks // 100}.{kopecks % 100:02d}"


def kopecks(value: Any) -> int:
    """ "123.45" → 12345; raises ValueError on anything else."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    cents = amount * 100
    if cents != cents.to_integral_value() or cents < 0:
        raise ValueError(f"not an amount: {value!r}")
    return int(cents)


@dataclass(frozen=True, slots=True)
class PaymentInfo:
    """What we keep of a YooKassa payment object."""

    id: str
    status: str
    amount: int
    paid: bool
    confirmation_url: str | None
    method: str | None
    refunded: int
    cancel_reason: str | None
    metadata: dict[str, str]
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RefundInfo:
    id: str
    payment_id: str
    status: str
    amount: int
    raw: dict[str, Any]


def _amount(obj: dict[str, Any], key: str, required: bool = True) -> int:
    value = obj.get(key)
    if value is None and not required:
        return 0
    if not isinstance(value, dict) or value.get("currency", "RUB") != "RUB":
        raise ValueError(f"{key} must be an RUB amount")
    return kopecks(value.get("value"))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_payment(obj: Any) -> PaymentInfo:
    """A payment object (API answer or notification ``object``); ValueError when it is not one."""
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not obj["id"]:
        raise ValueError("a payment object needs an id")
    status = obj.get("status")
    if status not in STATUSES:
        raise ValueError(f"unknown payment status {status!r}")
    confirmation = _dict(obj.get("confirmation"))
    method_obj = _dict(obj.get("payment_method"))
    method = None
    if method_obj:
        method = str(method_obj.get("type") or "")
        if method_obj.get("title"):
            method += f": {method_obj['title']}"
    cancel = _dict(obj.get("cancellation_details"))
    metadata = _dict(obj.get("metadata"))
    url = confirmation.get("confirmation_url")
    return PaymentInfo(
        id=obj["id"],
        status=status,
        amount=_amount(obj, "amount"),
        paid=bool(obj.get("paid")),
        confirmation_url=url if isinstance(url, str) else None,
        method=method[:200] if method else None,
        refunded=_amount(obj, "refunded_amount", required=False),
        cancel_reason=str(cancel.get("reason"))[:100] if cancel.get("reason") else None,
        metadata={str(k): str(v) for k, v in metadata.items()},
        raw=obj,
    )


def parse_refund(obj: Any) -> RefundInfo:
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not obj["id"]:
        raise ValueError("a refund object needs an id")
    if obj.get("status") not in REFUND_STATUSES:
        raise ValueError(f"unknown refund status {obj.get('status')!r}")
    if not isinstance(obj.get("payment_id"), str):
        raise ValueError("a refund object needs a payment_id")
    return RefundInfo(obj["id"], obj["payment_id"], obj["status"], _amount(obj, "amount"), obj)


@dataclass(frozen=True, slots=True)
class Notification:
    event: str
    object_id: str


def parse_notification(body: bytes) -> Notification:
    """The notification YooKassa POSTs; ValueError naming what is wrong. Only the event and the object id are
    trusted: notifications are not signed, so the object is read back from the API before use."""
    import json

    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValueError("the body is not JSON") from exc
    if not isinstance(data, dict) or data.get("type") != "notification":
        raise ValueError("not a YooKassa notification (type must be 'notification')")
    event = data.get("event")
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    obj = data.get("object")
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str) or not _ID.fullmatch(obj["id"]):
        raise ValueError("the notification has no valid object id")
    return Notification(str(event), obj["id"])


class YooKassaClient:
    def __init__(
        self,
        shop_id: str,
        secret_key: str,
        api_base: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base = (api_base or DEFAULT_API_BASE).rstrip("/") + "/v3"
        self.auth = httpx.BasicAuth(shop_id, secret_key)
        self.transport = transport

    async def _call(
        self, method: str, path: str, json_body: Any = None, key: str | None = None
    ) -> dict[str, Any]:
        headers = {"Idempotence-Key": key} if key else {}
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, auth=self.auth, transport=self.transport) as client:
                answer = await client.request(method, self.base + path, json=json_body, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"YooKassa is unreachable: {type(exc).__name__}: {exc}") from exc
        if answer.status_code == 202 or answer.status_code == 429 or answer.status_code >= 500:
            raise ProviderUnavailable(f"YooKassa answered HTTP {answer.status_code}; retry later")
        try:
            data = answer.json()
        except ValueError as exc:
            raise ProviderUnavailable(
                f"YooKassa answered HTTP {answer.status_code} with a non-JSON body"
            ) from exc
        if not isinstance(data, dict):
            raise ProviderUnavailable("YooKassa answered with JSON that is not an object")
        if answer.status_code >= 400:
            code = data.get("code", "error")
            description = data.get("description", "")
            raise ProviderRefused(f"YooKassa refused ({answer.status_code} {code}): {description}")
        return data

    async def create_payment(self, body: dict[str, Any], idempotence_key: str) -> PaymentInfo:
        data = await self._call("POST", "/payments", body, idempotence_key)
        try:
            return parse_payment(data)
        except ValueError as exc:
            raise ProviderUnavailable(f"YooKassa answered with an unexpected payment: {exc}") from exc

    async def get_payment(self, payment_id: str) -> PaymentInfo:
        data = await self._call("GET", f"/payments/{payment_id}")
        try:
            return parse_payment(data)
        except ValueError as exc:
            raise ProviderUnavailable(f"YooKassa answered with an unexpected payment: {exc}") from exc

    async def get_refund(self, refund_id: str) -> RefundInfo:
        data = await self._call("GET", f"/refunds/{refund_id}")
        try:
            return parse_refund(data)
        except ValueError as exc:
            raise ProviderUnavailable(f"YooKassa answered with an unexpected refund: {exc}") from exc
