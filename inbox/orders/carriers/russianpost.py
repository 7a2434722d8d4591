"""Почта России tracking by barcode (https://tracking.pochta.ru/specification, single access): the SOAP 1.2
method ``getOperationHistory`` at ``{api base}/rtm34``.

Request: ``OperationHistoryRequest`` (``Barcode``, ``MessageType`` 0, ``Language`` RUS) and
``AuthorizationHeader`` (``login``, ``password``, ``soapenv:mustUnderstand="1"``). Answer:
``getOperationHistoryResponse/OperationHistoryData/historyRecord*``, each with ``AddressParameters/
OperationAddress`` (``Index``, ``Description``) and ``OperationParameters`` (``OperType`` / ``OperAttr`` with
``Id`` and ``Name``, ``OperDate``). Errors are SOAP faults whose ``Detail`` holds
``OperationHistoryFaultReason`` / ``AuthorizationFaultReason`` / ``LanguageFaultReason``.

An event's code is ``"<OperType>.<OperAttr>"`` (``"8.2"``: arrived at the place of delivery); the status map
falls back to the operation type alone (``"8"``). Network errors, 5xx, 429 and bodies that are not the
documented XML are ``ProviderUnavailable``; faults are ``ProviderRefused``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import httpx

from inbox.orders.carriers.base import ParcelEvent, parse_time
from inbox.orders.payments.errors import ProviderRefused, ProviderUnavailable

DEFAULT_API_BASE = "https://tracking.russianpost.ru"
TIMEOUT = httpx.Timeout(20.0, connect=5.0)
SOAP = "http://www.w3.org/2003/05/soap-envelope"
OPER = "http://russianpost.org/operationhistory"
DATA = "http://russianpost.org/operationhistory/data"
FAULTS = ("OperationHistoryFaultReason", "AuthorizationFaultReason", "LanguageFaultReason")

_REQUEST = """<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" \
xmlns:oper="http://russianpost.org/operationhistory" \
xmlns:data="http://russianpost.org/operationhistory/data" \
xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
<soap:Header/>
<soap:Body>
<oper:getOperationHistory>
<data:OperationHistoryRequest>
<data:Barcode>{barcode}</data:Barcode>
<data:MessageType>0</data:MessageType>
<data:Language>RUS</data:Language>
</data:OperationHistoryRequest>
<data:AuthorizationHeader soapenv:mustUnderstand="1">
<data:login>{login}</data:login>
<data:password>{password}</data:password>
</data:AuthorizationHeader>
</oper:getOperationHistory>
</soap:Body>
</soap:Envelope>"""


def request_body(barcode: str, login: str, password: str) -> bytes:
    return _REQUEST.format(barcode=escape(barcode), login=escape(login), password=escape(password)).encode()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(node: ET.Element | None, *names: str) -> ET.Element | None:
    """The first descendant path by local names (namespace prefixes vary between answers)."""
    for name in names:
        if node is None:
            return None
        node = next((c for c in node if _local(c.tag) == name), None)
    return node


def _text(node: ET.Element | None, *names: str) -> str:
    found = _child(node, *names)
    return (found.text or "").strip() if found is not None else ""


def parse_history(body: bytes) -> list[ParcelEvent]:
    """The events of a ``getOperationHistory`` answer; ProviderRefused for a fault, ValueError for garbage."""
    if b"<!DOCTYPE" in body[:2048] or b"<!ENTITY" in body:
        raise ValueError("a document type declaration is not allowed")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ValueError(f"not XML: {exc}") from exc
    if _local(root.tag) != "Envelope":
        raise ValueError("not a SOAP envelope")
    soap_body = _child(root, "Body")
    if soap_body is None:
        raise ValueError("a SOAP envelope without a body")
    fault = _child(soap_body, "Fault")
    if fault is not None:
        detail = _child(fault, "Detail")
        reason = next((_text(detail, name) for name in FAULTS if _text(detail, name)), "")
        raise ProviderRefused(reason or _text(fault, "Reason", "Text") or "SOAP fault")
    answer = _child(soap_body, "getOperationHistoryResponse")
    data = _child(answer, "OperationHistoryData")
    if answer is None:
        raise ValueError("no getOperationHistoryResponse")
    events = []
    for record in list(data) if data is not None else []:
        if _local(record.tag) != "historyRecord":
            continue
        params = _child(record, "OperationParameters")
        type_id = _text(params, "OperType", "Id")
        if not type_id:
            raise ValueError("a history record without OperType/Id")
        attr_id = _text(params, "OperAttr", "Id")
        type_name, attr_name = _text(params, "OperType", "Name"), _text(params, "OperAttr", "Name")
        index = _text(record, "AddressParameters", "OperationAddress", "Index")
        place = _text(record, "AddressParameters", "OperationAddress", "Description")
        events.append(
            ParcelEvent(
                code=f"{type_id}.{attr_id}" if attr_id else type_id,
                name=f"{type_name}: {attr_name}" if type_name and attr_name else (attr_name or type_name),
                city=place or None,
                at=parse_time(_text(params, "OperDate")),
                place=", ".join(p for p in (index, place) if p) or None,
            )
        )
    events.sort(key=lambda e: e.at)
    return events


class RussianPostClient:
    def __init__(
        self,
        login: str,
        password: str,
        api_base: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self.login = login
        self.password = password
        self.transport = transport

    async def history(self, number: str) -> list[ParcelEvent]:
        body = request_body(number, self.login, self.password)
        headers = {"Content-Type": "application/soap+xml;charset=UTF-8"}
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, transport=self.transport) as client:
                answer = await client.post(f"{self.base}/rtm34", content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"Почта России is unreachable: {type(exc).__name__}: {exc}") from exc
        if answer.status_code == 429 or (answer.status_code >= 500 and b"Fault" not in answer.content):
            raise ProviderUnavailable(f"Почта России answered HTTP {answer.status_code}; retry later")
        try:
            return parse_history(answer.content)
        except ValueError as exc:
            raise ProviderUnavailable(f"Почта России answered with an unexpected body: {exc}") from exc
