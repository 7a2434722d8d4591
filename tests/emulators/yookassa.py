"""A local YooKassa API v3 speaking the documented wire format, for tests and manual runs.

``POST /v3/payments`` (HTTP Basic ``shop_id:secret_key``, ``Idempotence-Key`` header, JSON body with
``amount {value, currency}``, ``confirmation {type: redirect, return_url}``, ``capture``, ``description``,
``metadata``, ``receipt {customer, items[{description, quantity, amount, vat_code, payment_mode,
payment_subject}]}``) -> the payment object (``id``, ``status: pending``, ``paid``, ``amount``,
``confirmation {type, confirmation_url}``, ``created_at``, ``metadata``, ``recipient``, ``refundable``,
``test``). A repeated key with the same body returns the same object; with another body 400. ``GET
/v3/payments/{id}``, ``GET /v3/refunds/{id}``. Errors: ``{"type": "error", "id", "code", "description",
"parameter"}`` (400 invalid_request, 401 invalid_credentials, 404 not_found, 500 internal_server_error).
Notifications are ``{"type": "notification", "event": "payment.succeeded" | "payment.canceled" |
"refund.succeeded", "object": {...}}`` POSTed to the shop's URL, unsigned (as the real service does).

The confirmation page ``GET /pay/{id}`` shows a "Pay" button; ``POST /pay/{id}`` pays and notifies the
configured ``notify_url`` (what a browser test clicks). The receipt check follows the 54-ФЗ rule YooKassa
enforces: the items' ``amount.value × quantity`` must add up to the payment amount.

In process::

    with YooKassaEmulator() as emu:
        emu.base_url, emu.succeed(pid), emu.refund(pid, "10.00"), emu.notify(url, "payment.succeeded", pid)

Standalone: ``python -m tests.emulators.yookassa --port 8030``.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import re
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.emulators.threaded_http import ThreadedHTTPEmulator

PAYMENT = re.compile(r"^/v3/payments/([0-9a-f-]{36})$")
REFUND = re.compile(r"^/v3/refunds/([0-9a-f-]{36})$")
PAY_PAGE = re.compile(r"^/pay/([0-9a-f-]{36})$")
VALUE = re.compile(r"^\d{1,8}\.\d{2}$")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _payment_id() -> str:
    # YooKassa ids look like 2d9f5e5a-000f-5000-8000-1b7b6d0d4b6e
    raw = uuid.uuid4().hex
    return f"{raw[:8]}-000f-5000-8000-{raw[20:32]}"


@dataclass
class Failure:
    status: int = 500
    garbage: bool = False  # answer 200 with a body that is not JSON


@dataclass
class YooKassaEmulator(ThreadedHTTPEmulator):
    shop_id: str = "100500"
    secret_key: str = "test_secret_key_0123456789"
    notify_url: str | None = None  # where POST /pay/{id} sends payment.succeeded
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)  # every API call: method, path, key, body
    failures: list[Failure] = field(default_factory=list)
    _keys: dict[str, tuple[str, str]] = field(default_factory=dict)  # idempotence key -> (body, payment id)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- lifecycle ---------------------------------------------------------------------------------------

    # --- what tests do -----------------------------------------------------------------------------------

    def fail_next(self, times: int = 1, status: int = 500, garbage: bool = False) -> None:
        with self._lock:
            self.failures.extend(Failure(status, garbage) for _ in range(times))

    def succeed(self, payment_id: str, method: str = "bank_card") -> dict[str, Any]:
        with self._lock:
            p = self.payments[payment_id]
            if p["status"] in ("pending", "waiting_for_capture"):
                p.update(
                    status="succeeded",
                    paid=True,
                    captured_at=_now(),
                    refundable=True,
                    income_amount={
                        "value": str(
                            (Decimal(p["amount"]["value"]) * Decimal("0.965")).quantize(Decimal("0.01"))
                        ),
                        "currency": "RUB",
                    },
                    payment_method={
                        "type": method,
                        "id": payment_id,
                        "saved": False,
                        "title": "Bank card *4444",
                        "card": {
                            "first6": "555555",
                            "last4": "4444",
                            "expiry_month": "12",
                            "expiry_year": "2030",
                            "card_type": "MasterCard",
                        },
                    },
                )
            return dict(p)

    def cancel(self, payment_id: str, reason: str = "expired_on_confirmation") -> dict[str, Any]:
        with self._lock:
            p = self.payments[payment_id]
            if p["status"] in ("pending", "waiting_for_capture"):
                p.update(status="canceled", cancellation_details={"party": "yoo_money", "reason": reason})
            return dict(p)

    def refund(self, payment_id: str, value: str) -> dict[str, Any]:
        with self._lock:
            p = self.payments[payment_id]
            rid = _payment_id().replace("-000f-", "-0015-")
            refund = {
                "id": rid,
                "payment_id": payment_id,
                "status": "succeeded",
                "created_at": _now(),
                "amount": {"value": value, "currency": "RUB"},
            }
            self.refunds[rid] = refund
            done = Decimal(p.get("refunded_amount", {}).get("value", "0")) + Decimal(value)
            p["refunded_amount"] = {"value": f"{done:.2f}", "currency": "RUB"}
            return dict(refund)

    def notification(self, event: str, object_id: str) -> dict[str, Any]:
        obj = self.refunds[object_id] if event.startswith("refund.") else self.payments[object_id]
        return {"type": "notification", "event": event, "object": dict(obj)}

    def notify(self, url: str, event: str, object_id: str) -> int:
        """POST a notification to ``url``; returns the HTTP status the shop answered."""
        return _post(url, self.notification(event, object_id))

    # --- the HTTP side -----------------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        method = h.command
        path = urlsplit(h.path).path
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        if PAY_PAGE.match(path):
            self._pay_page(h, method, PAY_PAGE.match(path).group(1))  # type: ignore[union-attr]
            return
        key = h.headers.get("Idempotence-Key")
        with self._lock:
            self.requests.append(
                {"method": method, "path": path, "key": key, "body": raw.decode("utf-8", "replace")}
            )
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            if failure.garbage:
                _send(h, 200, b"<html>502 Bad Gateway</html>", "text/html")
            else:
                _error(h, failure.status, "internal_server_error", "Internal server error")
            return
        if not self._authorized(h.headers.get("Authorization", "")):
            _error(h, 401, "invalid_credentials", "Basic authentication failed")
            return
        if method == "POST" and path == "/v3/payments":
            self._create(h, raw, key)
        elif method == "GET" and PAYMENT.match(path):
            self._get(h, self.payments, PAYMENT.match(path).group(1))  # type: ignore[union-attr]
        elif method == "GET" and REFUND.match(path):
            self._get(h, self.refunds, REFUND.match(path).group(1))  # type: ignore[union-attr]
        else:
            _error(h, 404, "not_found", f"Unknown endpoint {method} {path}")

    def _authorized(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.shop_id and password == self.secret_key

    def _get(self, h: BaseHTTPRequestHandler, store: dict[str, dict[str, Any]], object_id: str) -> None:
        with self._lock:
            obj = store.get(object_id)
            body = json.dumps(obj) if obj is not None else None
        if body is None:
            _error(h, 404, "not_found", f"Object {object_id} not found")
            return
        _send(h, 200, body.encode(), "application/json")

    def _create(self, h: BaseHTTPRequestHandler, raw: bytes, key: str | None) -> None:
        if not key:
            _error(h, 400, "invalid_request", "Idempotence-Key header is missing", "Idempotence-Key")
            return
        with self._lock:
            seen = self._keys.get(key)
            if seen is not None:
                if seen[0] != raw.decode():
                    _error(h, 400, "invalid_request", "Idempotence key duplicated", "Idempotence-Key")
                    return
                body = json.dumps(self.payments[seen[1]]).encode()
                _send(h, 200, body, "application/json")
                return
        try:
            data = json.loads(raw)
        except ValueError:
            _error(h, 400, "invalid_request", "Request body is not JSON")
            return
        problem = _check_payment_request(data)
        if problem:
            _error(h, 400, "invalid_request", problem[1], problem[0])
            return
        pid = _payment_id()
        payment: dict[str, Any] = {
            "id": pid,
            "status": "pending",
            "paid": False,
            "amount": data["amount"],
            "confirmation": {
                "type": "redirect",
                "return_url": data["confirmation"]["return_url"],
                "confirmation_url": f"{self.base_url}/pay/{pid}",
            },
            "created_at": _now(),
            "description": data.get("description", ""),
            "metadata": data.get("metadata", {}),
            "recipient": {"account_id": self.shop_id, "gateway_id": "100700"},
            "refundable": False,
            "test": True,
        }
        if "receipt" in data:
            payment["receipt_registration"] = "pending"
        with self._lock:
            self.payments[pid] = payment
            self._keys[key] = (raw.decode(), pid)
            out = json.dumps(payment).encode()
        _send(h, 200, out, "application/json")

    def _pay_page(self, h: BaseHTTPRequestHandler, method: str, pid: str) -> None:
        payment = self.payments.get(pid)
        if payment is None:
            _send(h, 404, b"no such payment", "text/plain")
            return
        if method == "POST":
            self.succeed(pid)
            if self.notify_url:
                self.notify(self.notify_url, "payment.succeeded", pid)
            back = self.payments[pid]["confirmation"]["return_url"]
            link = f'<a href="{html.escape(back)}">Вернуться</a>'
            page = f'<html><body><h1 id="paid">Оплачено</h1>{link}</body></html>'
            _send(h, 200, page.encode(), "text/html; charset=utf-8")
            return
        value = html.escape(payment["amount"]["value"])
        page = (
            f"<html><head><meta name='viewport' content='width=device-width'></head><body>"
            f"<h1>ЮKassa (emulator)</h1><p>{html.escape(payment['description'])}</p>"
            f"<p class='amount'>{value} ₽</p><form method='post'><button id='pay'>Заплатить</button></form>"
            f"</body></html>"
        )
        _send(h, 200, page.encode(), "text/html; charset=utf-8")


def _check_payment_request(data: Any) -> tuple[str, str] | None:
    """(parameter, description) of the first problem, as YooKassa's 400 answers name them."""
    if not isinstance(data, dict):
        return "", "Request body must be an object"
    amount = data.get("amount")
    if not isinstance(amount, dict) or not VALUE.match(str(amount.get("value", ""))):
        return "amount.value", "amount.value must be a decimal string with 2 digits after the point"
    if amount.get("currency") != "RUB":
        return "amount.currency", "Unsupported currency"
    conf = data.get("confirmation")
    if not isinstance(conf, dict) or conf.get("type") != "redirect" or not conf.get("return_url"):
        return "confirmation", "Redirect confirmation needs return_url"
    receipt = data.get("receipt")
    if receipt is None:
        return None
    customer = receipt.get("customer") or {}
    if not (customer.get("email") or customer.get("phone")):
        return "receipt.customer", "Receipt needs customer email or phone"
    items = receipt.get("items")
    if not isinstance(items, list) or not items or len(items) > 100:
        return "receipt.items", "Receipt needs 1 to 100 items"
    total = Decimal(0)
    for i, item in enumerate(items):
        try:
            qty = Decimal(str(item["quantity"]))
            value = Decimal(str(item["amount"]["value"]))
        except (KeyError, TypeError, InvalidOperation):
            return f"receipt.items[{i}]", "Item needs quantity and amount.value"
        if not VALUE.match(str(item["amount"]["value"])) or qty <= 0:
            return f"receipt.items[{i}].amount", "Bad item amount or quantity"
        if item.get("vat_code") not in range(1, 13):
            return f"receipt.items[{i}].vat_code", "vat_code must be 1..12"
        if not item.get("description") or len(item["description"]) > 128:
            return f"receipt.items[{i}].description", "description must be 1..128 characters"
        total += qty * value
    if total != Decimal(amount["value"]):
        return "receipt.items", f"Sum of receipt items ({total}) differs from payment amount"
    return None


def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def _error(h: BaseHTTPRequestHandler, status: int, code: str, description: str, parameter: str = "") -> None:
    body: dict[str, Any] = {
        "type": "error",
        "id": str(uuid.uuid4()),
        "code": code,
        "description": description,
    }
    if parameter:
        body["parameter"] = parameter
    _send(h, status, json.dumps(body).encode(), "application/json")


def _post(url: str, payload: dict[str, Any]) -> int:
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def main() -> None:  # pragma: no cover - manual runs
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8030)
    parser.add_argument("--notify-url")
    args = parser.parse_args()
    emu = YooKassaEmulator(port=args.port, notify_url=args.notify_url)
    emu.start()
    print(f"YooKassa emulator on {emu.base_url} (shop {emu.shop_id}, key {emu.secret_key})")
    threading.Event().wait()


if __name__ == "__main__":  # pragma: no cover
    main()
