"""A local СДЭК API v2 speaking the documented wire format (api-docs.cdek.ru), for tests and manual runs.

``POST /v2/oauth/token`` (``grant_type=client_credentials``, ``client_id``, ``client_secret``) ->
``{"access_token", "token_type": "bearer", "expires_in", "scope", "jti"}``. With ``Authorization: Bearer``:
``POST /v2/orders`` -> 202 ``{"entity": {"uuid"}, "requests": [{"request_uuid", "type": "CREATE", "state":
"ACCEPTED", "date_time"}]}``; ``GET /v2/orders/{uuid}`` and ``GET /v2/orders?cdek_number=`` -> ``{"entity":
{"uuid", "type", "number", "cdek_number", "tariff_code", "delivery_point", "statuses": [{"code", "name",
"date_time", "city"}]}, "requests": [...]}``; ``POST /v2/print/orders`` -> ``{"entity": {"uuid"}}``, ``GET
/v2/print/orders/{uuid}`` -> ``{"entity": {"uuid", "url", "statuses"}}`` and the PDF at that url;
``GET /v2/deliverypoints?code=`` or ``?city_code=&type=PVZ`` -> ``[{"code", "location": {"city",
"address_full"}, "work_time"}]``; ``GET /v2/location/cities?city=`` -> ``[{"code", "city", "country_code",
"region"}]``. Errors:
``{"requests": [{"state": "INVALID", "errors": [{"code", "message"}]}]}`` / ``{"errors": [...]}``.
``ORDER_STATUS`` webhooks are POSTed unsigned, as СДЭК does:
``{"type": "ORDER_STATUS", "date_time", "uuid", "attributes": {"is_return", "cdek_number", "number", "code",
"status_code", "status_date_time", "city_name", "city_code"}}``.

In process::

    with CdekEmulator() as emu:
        emu.add_status(uuid, "ACCEPTED"); emu.webhook(url, uuid)
"""

from __future__ import annotations

import json
import secrets
import threading
import urllib.error
import urllib.request
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.emulators.threaded_http import ThreadedHTTPEmulator

NAMES = {
    "CREATED": "Создан",
    "ACCEPTED": "Принят",
    "RECEIVED_AT_SHIPMENT_WAREHOUSE": "Принят на склад отправителя",
    "SENT_TO_TRANSIT_CITY": "Отправлен в г. транзит",
    "ACCEPTED_IN_RECIPIENT_CITY": "Принят на склад доставки",
    "ACCEPTED_AT_PICK_UP_POINT": "Принят на склад до востребования",
    "DELIVERED": "Вручен",
}
CITIES = [
    {"code": 44, "city": "Москва", "country_code": "RU", "region": "Москва"},
    {"code": 137, "city": "Санкт-Петербург", "country_code": "RU", "region": "Санкт-Петербург"},
]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@dataclass
class CdekEmulator(ThreadedHTTPEmulator):
    client_id: str = "EMscd6r9JnFiQ3bLoyjJY6eM78JrJceI"
    client_secret: str = "PjLZkKBHEiLK3YsjtNrt3TGNG0ahs3kG"
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    prints: dict[str, str] = field(default_factory=dict)
    points: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    down: int = 0  # answer 502 to that many requests
    _tokens: set[str] = field(default_factory=set)
    _next_number: int = 1106207236
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def revoke_tokens(self) -> None:
        """Every token issued so far stops working (as when СДЭК revokes them early)."""
        with self._lock:
            self._tokens.clear()

    def token_requests(self) -> int:
        return sum(1 for r in self.requests if r["path"] == "/v2/oauth/token")

    def __post_init__(self) -> None:
        self.points.setdefault(
            "SPB7",
            {
                "code": "SPB7",
                "name": "На Невском",
                "location": {
                    "city": "Санкт-Петербург",
                    "address": "Невский пр., 28",
                    "address_full": "Санкт-Петербург, Невский пр., 28",
                },
                "work_time": "Пн-Вс 09:00-21:00",
            },
        )
        self.points.setdefault(
            "MSK123",
            {
                "code": "MSK123",
                "name": "На Тверской",
                "location": {
                    "city": "Москва",
                    "address": "ул. Тверская, 1",
                    "address_full": "Москва, ул. Тверская, 1",
                },
                "work_time": "Пн-Пт 10:00-21:00, Сб-Вс 10:00-18:00",
            },
        )

    # --- what tests do ---

    def add_status(self, order_uuid: str, code: str, city: str = "Москва") -> dict[str, Any]:
        with self._lock:
            status = {"code": code, "name": NAMES.get(code, code), "date_time": _now(), "city": city}
            statuses = self.orders[order_uuid]["entity"]["statuses"]
            if statuses and statuses[-1]["date_time"] >= status["date_time"]:  # keep them strictly ordered
                last = datetime.strptime(statuses[-1]["date_time"], "%Y-%m-%dT%H:%M:%S%z")
                status["date_time"] = datetime.fromtimestamp(last.timestamp() + 1, UTC).strftime(
                    "%Y-%m-%dT%H:%M:%S+0000"
                )
            statuses.append(status)
            return status

    def webhook_body(self, order_uuid: str) -> dict[str, Any]:
        entity = self.orders[order_uuid]["entity"]
        last = entity["statuses"][-1]
        return {
            "type": "ORDER_STATUS",
            "date_time": last["date_time"],
            "uuid": order_uuid,
            "attributes": {
                "is_return": False,
                "cdek_number": entity["cdek_number"],
                "number": entity["number"],
                "code": last["code"],
                "status_code": "1",
                "status_date_time": last["date_time"],
                "city_name": last["city"],
                "city_code": "44",
            },
        }

    def webhook(self, url: str, order_uuid: str) -> int:
        req = urllib.request.Request(
            url,
            data=json.dumps(self.webhook_body(order_uuid), ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    # --- the HTTP side ---

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        method = h.command
        parts = urlsplit(h.path)
        path, query = parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        with self._lock:
            self.requests.append(
                {"method": method, "path": path, "query": query, "body": raw.decode("utf-8", "replace")}
            )
            if self.down > 0:
                self.down -= 1
                _send(h, 502, b"<html>502 Bad Gateway</html>", "text/html")
                return
        if path == "/v2/oauth/token" and method == "POST":
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            creds = {**query, **form}
            if creds.get("client_id") != self.client_id or creds.get("client_secret") != self.client_secret:
                _json(h, 401, {"error": "invalid_client", "error_description": "Bad credentials"})
                return
            token = secrets.token_hex(16)
            self._tokens.add(token)
            _json(
                h,
                200,
                {
                    "access_token": token,
                    "token_type": "bearer",
                    "expires_in": 3599,
                    "scope": "order:all",
                    "jti": token[:8],
                },
            )
            return
        if path.endswith(".pdf") and path.startswith("/v2/print/orders/"):
            _send(h, 200, PDF, "application/pdf")
            return
        auth = h.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self._tokens:
            _json(
                h,
                401,
                {
                    "requests": [
                        {"state": "INVALID", "errors": [{"code": "v2_token_expired", "message": "token"}]}
                    ]
                },
            )
            return
        if path == "/v2/orders" and method == "POST":
            self._create(h, raw)
        elif path.startswith("/v2/orders/") and method == "GET":
            found = self.orders.get(path.rsplit("/", 1)[1])
            _json(h, 200, found) if found else _json(
                h, 404, {"errors": [{"code": "v2_entity_not_found", "message": "Order not found"}]}
            )
        elif path == "/v2/orders" and method == "GET":
            number = query.get("cdek_number") or query.get("im_number")
            found = next(
                (
                    o
                    for o in self.orders.values()
                    if number in (o["entity"]["cdek_number"], o["entity"]["number"])
                ),
                None,
            )
            _json(h, 200, found) if found else _json(
                h, 404, {"errors": [{"code": "v2_entity_not_found", "message": "Order not found"}]}
            )
        elif path == "/v2/print/orders" and method == "POST":
            print_uuid = str(uuidlib.uuid4())
            self.prints[print_uuid] = raw.decode()
            _json(
                h,
                202,
                {"entity": {"uuid": print_uuid}, "requests": [{"type": "CREATE", "state": "ACCEPTED"}]},
            )
        elif path.startswith("/v2/print/orders/") and method == "GET":
            print_uuid = path.rsplit("/", 1)[1]
            url = f"{self.base_url}/v2/print/orders/{print_uuid}.pdf"
            _json(h, 200, {"entity": {"uuid": print_uuid, "url": url, "statuses": [{"code": "READY"}]}})
        elif path == "/v2/calculator/tariff" and method == "POST":
            try:
                body = json.loads(raw)
                weight = sum(int(p["weight"]) for p in body["packages"])
                assert isinstance(body["tariff_code"], int) and body["to_location"]
            except (ValueError, KeyError, TypeError, AssertionError):
                _json(
                    h,
                    400,
                    {"errors": [{"code": "v2_bad_request", "message": "tariff_code, to_location, packages"}]},
                )
                return
            cost = 350.0 + 50.0 * (weight // 1000)  # a flat tariff: 350 ₽ + 50 ₽ a kilogram
            if (body["to_location"] or {}).get("code") == 137:  # Санкт-Петербург is farther
                cost += 100.0
            _json(
                h,
                200,
                {
                    "delivery_sum": cost,
                    "period_min": 2,
                    "period_max": 3,
                    "currency": "RUB",
                    "total_sum": cost,
                },
            )
        elif path == "/v2/deliverypoints" and method == "GET":
            if "code" in query:
                point = self.points.get(query["code"])
                _json(h, 200, [point] if point else [])
            else:
                city = next((c for c in CITIES if str(c["code"]) == query.get("city_code")), None)
                _json(
                    h,
                    200,
                    [p for p in self.points.values() if city and p["location"]["city"] == city["city"]],
                )
        elif path == "/v2/location/cities" and method == "GET":
            wanted = (query.get("city") or "").strip().casefold()
            _json(h, 200, [c for c in CITIES if c["city"].casefold() == wanted])
        else:
            _json(h, 404, {"errors": [{"code": "not_found", "message": f"{method} {path}"}]})

    def _create(self, h: BaseHTTPRequestHandler, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            _json(
                h,
                400,
                {
                    "requests": [
                        {"state": "INVALID", "errors": [{"code": "v2_bad_request", "message": "JSON"}]}
                    ]
                },
            )
            return
        problems = []
        if not isinstance(body.get("tariff_code"), int):
            problems.append("tariff_code is required")
        recipient = body.get("recipient") or {}
        if not recipient.get("name") or not recipient.get("phones"):
            problems.append("recipient.name and recipient.phones are required")
        packages = body.get("packages") or []
        if not packages or not all(p.get("number") and isinstance(p.get("weight"), int) for p in packages):
            problems.append("packages[].number and weight are required")
        if not body.get("to_location") and not body.get("delivery_point"):
            problems.append("to_location or delivery_point is required")
        order_uuid = str(uuidlib.uuid4())
        if problems:
            errors = [{"code": "v2_field_is_empty", "message": p} for p in problems]
            _json(
                h,
                400,
                {
                    "entity": {"uuid": order_uuid},
                    "requests": [{"type": "CREATE", "state": "INVALID", "errors": errors}],
                },
            )
            return
        with self._lock:
            self._next_number += 1
            entity = {
                "uuid": order_uuid,
                "type": body.get("type", 1),
                "number": body.get("number"),
                "cdek_number": str(self._next_number),
                "tariff_code": body["tariff_code"],
                "delivery_point": body.get("delivery_point") or "MSK123",
                "recipient": recipient,
                "packages": packages,
                "statuses": [{"code": "CREATED", "name": "Создан", "date_time": _now(), "city": "Москва"}],
            }
            request = {
                "request_uuid": str(uuidlib.uuid4()),
                "type": "CREATE",
                "state": "ACCEPTED",
                "date_time": _now(),
            }
            self.orders[order_uuid] = {"entity": entity, "requests": [request]}
        _json(h, 202, {"entity": {"uuid": order_uuid}, "requests": [request]})


def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def _json(h: BaseHTTPRequestHandler, status: int, data: Any) -> None:
    _send(h, status, json.dumps(data, ensure_ascii=False).encode(), "application/json")
