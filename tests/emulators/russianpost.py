"""A local Почта России tracking service (single access, https://tracking.pochta.ru/specification) speaking
its SOAP 1.2 wire format, for tests and manual runs.

``POST /rtm34`` with ``Content-Type: application/soap+xml``: a ``getOperationHistory`` envelope
(``OperationHistoryRequest``: ``Barcode``, ``MessageType``, ``Language``; ``AuthorizationHeader`` with
``soapenv:mustUnderstand="1"``: ``login``, ``password``) -> 200 with
``getOperationHistoryResponse/OperationHistoryData/historyRecord*`` (``AddressParameters``,
``OperationParameters``: ``OperType``/``OperAttr`` ``Id`` + ``Name``, ``OperDate``), or HTTP 500 with a SOAP
fault whose ``Detail`` holds ``AuthorizationFaultReason`` / ``OperationHistoryFaultReason``.

Test knobs: ``down`` (answer 502 to that many requests), ``garbage`` (answer 200 with an HTML page).

    with RussianPostEmulator() as emu:
        emu.add_operation("80083577295862", 1, 1)
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any
from xml.sax.saxutils import escape

from tests.emulators.threaded_http import ThreadedHTTPEmulator

OPERATIONS: dict[tuple[int, int], tuple[str, str]] = {
    (1, 1): ("Прием", "Единичный"),
    (8, 0): ("Обработка", "Сортировка"),
    (8, 1): ("Обработка", "Покинуло место приема"),
    (8, 2): ("Обработка", "Прибыло в место вручения"),
    (8, 3): ("Обработка", "Прибыло в сортировочный центр"),
    (2, 1): ("Вручение", "Вручение адресату"),
    (3, 1): ("Возврат", "Истек срок хранения"),
}
MSK = timezone(timedelta(hours=3))
NS = (
    'xmlns:S="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:ns3="http://russianpost.org/operationhistory/data" '
    'xmlns:ns7="http://russianpost.org/operationhistory"'
)


@dataclass
class RussianPostEmulator(ThreadedHTTPEmulator):
    login: str = "hLPVyMoSoCaSxy"
    password: str = "Ti7Hb9uYhz2H"
    parcels: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    down: int = 0
    garbage: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_operation(
        self,
        barcode: str,
        oper_type: int,
        oper_attr: int,
        index: str = "101000",
        place: str = "Москва Почтамт",
    ) -> None:
        """A new operation on the parcel, a second after the last one (Moscow time, as the service gives)."""
        with self._lock:
            records = self.parcels.setdefault(barcode, [])
            when = datetime.now(UTC).astimezone(MSK).replace(microsecond=0)
            if records and records[-1]["at"] >= when:
                when = records[-1]["at"] + timedelta(seconds=1)
            type_name, attr_name = OPERATIONS.get((oper_type, oper_attr), (f"Операция {oper_type}", ""))
            records.append(
                {
                    "type": oper_type,
                    "attr": oper_attr,
                    "type_name": type_name,
                    "attr_name": attr_name,
                    "at": when,
                    "index": index,
                    "place": place,
                }
            )

    def histories(self) -> int:
        return sum(1 for r in self.requests if r.get("barcode"))

    # --- the HTTP side ---

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        record: dict[str, Any] = {"path": h.path, "content_type": h.headers.get("Content-Type", "")}
        with self._lock:
            self.requests.append(record)
            if self.down > 0:
                self.down -= 1
                _send(h, 502, b"<html><body>502 Bad Gateway</body></html>", "text/html")
                return
            if self.garbage > 0:
                self.garbage -= 1
                _send(h, 200, b"<html><body>Technical works</body></html>", "text/html")
                return
        if h.path.split("?")[0] != "/rtm34":
            _send(h, 404, b"not found", "text/plain")
            return
        if not record["content_type"].startswith("application/soap+xml"):
            self._fault(
                h, "S:Sender", None, "Unsupported Content-Type (SOAP 1.2 expects application/soap+xml)"
            )
            return
        try:
            root = ET.fromstring(raw)
            call = root.find("{*}Body/{*}getOperationHistory")
            assert call is not None
            req = call.find("{*}OperationHistoryRequest")
            auth = call.find("{*}AuthorizationHeader")
            assert req is not None and auth is not None
            barcode = (req.findtext("{*}Barcode") or "").strip()
            message_type = (req.findtext("{*}MessageType") or "").strip()
            login = (auth.findtext("{*}login") or "").strip()
            password = (auth.findtext("{*}password") or "").strip()
            must = auth.get("{http://schemas.xmlsoap.org/soap/envelope/}mustUnderstand")
        except (ET.ParseError, AssertionError):
            self._fault(h, "S:Sender", None, "Unmarshalling Error")
            return
        record["barcode"] = barcode
        if must != "1" or login != self.login or password != self.password:
            self._fault(
                h, "S:Receiver", "AuthorizationFaultReason", "Ошибка авторизации: неверный логин или пароль"
            )
            return
        if message_type not in ("0", "1") or not barcode:
            self._fault(h, "S:Receiver", "OperationHistoryFaultReason", "Неверный формат запроса")
            return
        with self._lock:
            records = list(self.parcels.get(barcode, []))
        body = "".join(_record(r) for r in records)
        envelope = (
            f'<?xml version="1.0" encoding="UTF-8"?><S:Envelope {NS}><S:Body>'
            f"<ns7:getOperationHistoryResponse><ns3:OperationHistoryData>{body}"
            "</ns3:OperationHistoryData></ns7:getOperationHistoryResponse></S:Body></S:Envelope>"
        )
        _send(h, 200, envelope.encode(), "application/soap+xml;charset=utf-8")

    def _fault(self, h: BaseHTTPRequestHandler, code: str, reason_tag: str | None, text: str) -> None:
        detail = (
            f"<S:Detail><ns3:{reason_tag}>{escape(text)}</ns3:{reason_tag}></S:Detail>" if reason_tag else ""
        )
        envelope = (
            f'<?xml version="1.0" encoding="UTF-8"?><S:Envelope {NS}><S:Body><S:Fault>'
            f'<S:Code><S:Value>{code}</S:Value></S:Code><S:Reason><S:Text xml:lang="ru">{escape(text)}'
            f"</S:Text></S:Reason>{detail}</S:Fault></S:Body></S:Envelope>"
        )
        _send(h, 500, envelope.encode(), "application/soap+xml;charset=utf-8")


def _record(r: dict[str, Any]) -> str:
    when = r["at"].isoformat(timespec="milliseconds")
    return (
        "<ns3:historyRecord><ns3:AddressParameters>"
        "<ns3:DestinationAddress><ns3:Index>190000</ns3:Index><ns3:Description>Санкт-Петербург</ns3:Description>"
        "</ns3:DestinationAddress>"
        f"<ns3:OperationAddress><ns3:Index>{escape(r['index'])}</ns3:Index>"
        f"<ns3:Description>{escape(r['place'])}</ns3:Description></ns3:OperationAddress>"
        "<ns3:MailDirect><ns3:Id>643</ns3:Id><ns3:Code2A>RU</ns3:Code2A><ns3:Code3A>RUS</ns3:Code3A>"
        "<ns3:NameRU>Российская Федерация</ns3:NameRU><ns3:NameEN>Russian Federation</ns3:NameEN>"
        "</ns3:MailDirect>"
        "</ns3:AddressParameters>"
        "<ns3:FinanceParameters><ns3:Payment>0</ns3:Payment><ns3:Value>0</ns3:Value></ns3:FinanceParameters>"
        "<ns3:ItemParameters><ns3:Barcode/><ns3:ComplexItemName>Посылка</ns3:ComplexItemName></ns3:ItemParameters>"
        "<ns3:OperationParameters>"
        f"<ns3:OperType><ns3:Id>{r['type']}</ns3:Id><ns3:Name>{escape(r['type_name'])}</ns3:Name></ns3:OperType>"
        f"<ns3:OperAttr><ns3:Id>{r['attr']}</ns3:Id><ns3:Name>{escape(r['attr_name'])}</ns3:Name></ns3:OperAttr>"
        f"<ns3:OperDate>{when}</ns3:OperDate></ns3:OperationParameters>"
        "<ns3:UserParameters><ns3:SendCtg><ns3:Id>1</ns3:Id><ns3:Name>Население</ns3:Name></ns3:SendCtg>"
        "<ns3:Rcpn>ИВАНОВ И И</ns3:Rcpn></ns3:UserParameters>"
        "</ns3:historyRecord>"
    )


def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
    h.send_response(status)
    h.send_header("Content-Type", content_type)
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)
