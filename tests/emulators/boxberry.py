"""A local Boxberry API speaking its JSON wire format (``api.boxberry.ru/json.php``), for tests and by hand.

``GET /json.php?token=…&method=ListStatuses&ImId=…`` -> ``[{"Date": "2024-03-01T10:15:00", "Name": …,
"Comment": …}, …]`` (Moscow time, no offset); ``method=ListStatusesFull`` -> ``{"statuses": [...], "PD": …,
"sum": …, "PaymentMethod": …, "Weight": …, "products": [...]}``. Errors come with HTTP 200:
``[{"err": "…"}]`` (an unknown parcel) or ``{"err": "…"}`` (a bad token or method).

Test knobs: ``down`` (answer 502 to that many requests), ``garbage`` (answer 200 with an HTML page).

    with BoxberryEmulator() as emu:
        emu.add_status("BB123", "Принято к доставке")
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.emulators.threaded_http import ThreadedHTTPEmulator

MSK = timezone(timedelta(hours=3))


@dataclass
class BoxberryEmulator(ThreadedHTTPEmulator):
    token: str = "d6f33e419c16131e5325cbd84d5d6000"
    parcels: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[dict[str, str]] = field(default_factory=list)
    down: int = 0
    garbage: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_status(self, number: str, name: str, comment: str = "") -> None:
        with self._lock:
            statuses = self.parcels.setdefault(number, [])
            when = datetime.now(UTC).astimezone(MSK).replace(microsecond=0, tzinfo=None)
            if statuses and statuses[-1]["at"] >= when:
                when = statuses[-1]["at"] + timedelta(seconds=1)
            statuses.append({"at": when, "Name": name, "Comment": comment})

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self._lock:
            self.requests.append({"path": parts.path, **query})
            if self.down > 0:
                self.down -= 1
                _send(h, 502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
                return
            if self.garbage > 0:
                self.garbage -= 1
                _send(h, 200, b"<html><body>Service temporarily unavailable</body></html>", "text/html")
                return
        if parts.path != "/json.php":
            _send(h, 404, b"not found", "text/plain")
            return
        if query.get("token") != self.token:
            _json(h, {"err": "Ключ интеграции не найден"})
            return
        method = query.get("method")
        if method not in ("ListStatuses", "ListStatusesFull"):
            _json(h, {"err": f"Метод {method} не найден"})
            return
        with self._lock:
            statuses = [
                {"Date": s["at"].isoformat(), "Name": s["Name"], "Comment": s["Comment"]}
                for s in self.parcels.get(query.get("ImId", ""), [])
            ]
        if not statuses:
            _json(h, [{"err": "Посылка не найдена"}])
        elif method == "ListStatuses":
            _json(h, statuses)
        else:
            _json(
                h,
                {
                    "statuses": statuses,
                    "PD": False,
                    "sum": "0",
                    "PaymentMethod": "Предоплата",
                    "Weight": "1.5",
                    "products": [],
                },
            )


def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def _json(h: BaseHTTPRequestHandler, data: Any) -> None:
    _send(h, 200, json.dumps(data, ensure_ascii=False).encode(), "application/json; charset=utf-8")
