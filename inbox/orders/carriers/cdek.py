"""СДЭК API v2 client (https://api-docs.cdek.ru): OAuth client credentials, create an order, read it back
(by uuid or by СДЭК number) with its statuses, the label PDF, pickup points; the ORDER_STATUS webhook body.

The base URL is configurable (``--api-base``: the test contour ``https://api.edu.cdek.ru``, an emulator).
Failures are ``ProviderUnavailable`` (network, 5xx, 429, a body that is not the documented JSON) or
``ProviderRefused`` (4xx with СДЭК's ``errors[].message``).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from inbox.orders.carriers.base import ParcelEvent, parse_time
from inbox.orders.payments.errors import ProviderRefused, ProviderUnavailable

DEFAULT_API_BASE = "https://api.cdek.ru"
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
_UUID = re.compile(r"[0-9a-fA-F-]{36}")


@dataclass(frozen=True, slots=True)
class PickupOption:
    code: str
    address: str
    hours: str


@dataclass(frozen=True, slots=True)
class CdekOrder:
    uuid: str
    cdek_number: str | None
    number: str | None
    delivery_point: str | None
    events: list[ParcelEvent]


def _when(value: Any) -> datetime:
    return parse_time(value)


def parse_order(data: Any) -> CdekOrder:
    entity = data.get("entity") if isinstance(data, dict) else None
    if not isinstance(entity, dict) or not isinstance(entity.get("uuid"), str):
        raise ValueError("an order answer needs entity.uuid")
    events = []
    for st in entity.get("statuses") or []:
        if isinstance(st, dict) and isinstance(st.get("code"), str):
            events.append(
                ParcelEvent(st["code"], str(st.get("name") or ""), st.get("city"), _when(st.get("date_time")))
            )
    events.sort(key=lambda e: e.at)
    number = entity.get("cdek_number")
    return CdekOrder(
        uuid=entity["uuid"],
        cdek_number=str(number) if number else None,
        number=str(entity["number"]) if entity.get("number") else None,
        delivery_point=str(entity["delivery_point"]) if entity.get("delivery_point") else None,
        events=events,
    )


@dataclass(frozen=True, slots=True)
class StatusHook:
    uuid: str
    cdek_number: str | None


def parse_webhook(body: bytes) -> StatusHook:
    """An ORDER_STATUS webhook; only the order's uuid is trusted (the order is read back from the API)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise ValueError("the body is not JSON") from exc
    if not isinstance(data, dict) or data.get("type") != "ORDER_STATUS":
        raise ValueError("not a СДЭК ORDER_STATUS webhook")
    uuid = data.get("uuid")
    if not isinstance(uuid, str) or not _UUID.fullmatch(uuid):
        raise ValueError("the webhook has no order uuid")
    attributes = data.get("attributes") if isinstance(data.get("attributes"), dict) else {}
    number = attributes.get("cdek_number") if isinstance(attributes, dict) else None
    return StatusHook(uuid, str(number) if number else None)


class CdekClient:
    def __init__(
        self,
        client_id: str,
        client_secret: str,
        api_base: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.transport = transport
        self._token: tuple[str, float] | None = None

    async def _raw(self, method: str, url: str, **kw: Any) -> httpx.Response:
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, transport=self.transport) as client:
                answer = await client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"СДЭК is unreachable: {type(exc).__name__}: {exc}") from exc
        if answer.status_code == 429 or answer.status_code >= 500:
            raise ProviderUnavailable(f"СДЭК answered HTTP {answer.status_code}; retry later")
        return answer

    async def token(self) -> str:
        if self._token is not None and self._token[1] > time.monotonic():
            return self._token[0]
        answer = await self._raw(
            "POST",
            f"{self.base}/v2/oauth/token",
            params={"grant_type": "client_credentials"},
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            },
        )
        data = _json(answer)
        if (
            answer.status_code >= 400
            or not isinstance(data, dict)
            or not isinstance(data.get("access_token"), str)
        ):
            raise ProviderRefused(f"СДЭК refused the credentials ({answer.status_code})")
        expires = data.get("expires_in")
        ttl = float(expires) if isinstance(expires, int | float) else 600.0
        self._token = (data["access_token"], time.monotonic() + max(ttl - 60, 30))
        return self._token[0]

    async def _authorized(self, method: str, url: str, **kw: Any) -> httpx.Response:
        """A request with the bearer token. The token is reused until shortly before it expires; when СДЭК
        answers 401 to a reused token (revoked, or its clock differs), one fresh token is fetched and the
        request sent again."""
        reused = self._token is not None and self._token[1] > time.monotonic()
        answer = await self._raw(method, url, headers={"Authorization": f"Bearer {await self.token()}"}, **kw)
        if answer.status_code == 401:
            self._token = None
            if not reused:
                raise ProviderUnavailable("СДЭК did not accept a fresh token; retry later")
            answer = await self._raw(
                method, url, headers={"Authorization": f"Bearer {await self.token()}"}, **kw
            )
            if answer.status_code == 401:
                self._token = None
                raise ProviderUnavailable("СДЭК did not accept a fresh token; retry later")
        return answer

    async def call(
        self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        answer = await self._authorized(method, f"{self.base}{path}", json=body, params=params)
        data = _json(answer)
        if answer.status_code >= 400:
            errors = data.get("errors") if isinstance(data, dict) else None
            text = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict)) if errors else ""
            raise ProviderRefused(f"СДЭК refused ({answer.status_code}): {text or answer.text[:200]}")
        return data

    async def create_order(self, body: dict[str, Any]) -> str:
        """POST /v2/orders; returns the order's uuid (registration goes on asynchronously at СДЭК)."""
        data = await self.call("POST", "/v2/orders", body)
        entity = data.get("entity") if isinstance(data, dict) else None
        if not isinstance(entity, dict) or not isinstance(entity.get("uuid"), str):
            raise ProviderUnavailable("СДЭК answered without an order uuid")
        for request in data.get("requests") or []:
            if isinstance(request, dict) and request.get("state") == "INVALID":
                errors = "; ".join(
                    str(e.get("message")) for e in request.get("errors") or [] if isinstance(e, dict)
                )
                raise ProviderRefused(f"СДЭК refused the order: {errors}")
        return str(entity["uuid"])

    async def order(self, uuid: str) -> CdekOrder:
        try:
            return parse_order(await self.call("GET", f"/v2/orders/{uuid}"))
        except ValueError as exc:
            raise ProviderUnavailable(f"СДЭК answered with an unexpected order: {exc}") from exc

    async def order_by_number(self, cdek_number: str) -> CdekOrder:
        try:
            return parse_order(await self.call("GET", "/v2/orders", params={"cdek_number": cdek_number}))
        except ValueError as exc:
            raise ProviderUnavailable(f"СДЭК answered with an unexpected order: {exc}") from exc

    async def find_by_im_number(self, number: str) -> CdekOrder | None:
        """The order with the shop's number ``number``, None when СДЭК has none (404)."""
        answer = await self._authorized("GET", f"{self.base}/v2/orders", params={"im_number": number})
        if answer.status_code == 404:
            return None
        data = _json(answer)
        if answer.status_code >= 400:
            raise ProviderRefused(f"СДЭК refused ({answer.status_code}): {answer.text[:200]}")
        try:
            return parse_order(data)
        except ValueError as exc:
            raise ProviderUnavailable(f"СДЭК answered with an unexpected order: {exc}") from exc

    async def label(self, uuid: str, attempts: int = 20) -> bytes:
        """The waybill PDF (POST /v2/print/orders, then GET until READY, then the file)."""
        data = await self.call(
            "POST", "/v2/print/orders", {"orders": [{"order_uuid": uuid}], "copy_count": 1}
        )
        print_uuid = (data.get("entity") or {}).get("uuid") if isinstance(data, dict) else None
        if not isinstance(print_uuid, str):
            raise ProviderUnavailable("СДЭК answered without a print uuid")
        for _ in range(attempts):
            info = await self.call("GET", f"/v2/print/orders/{print_uuid}")
            entity = info.get("entity") if isinstance(info, dict) else {}
            url = entity.get("url") if isinstance(entity, dict) else None
            if isinstance(url, str):
                answer = await self._authorized("GET", url)
                if answer.status_code == 200 and answer.content.startswith(b"%PDF"):
                    return answer.content
                raise ProviderUnavailable("СДЭК gave a label that is not a PDF")
            await asyncio.sleep(0.5)
        raise ProviderUnavailable("the СДЭК label is not ready yet; retry")

    async def tariff(
        self, tariff_code: int, to_address: str, weight: int, from_address: str | None = None
    ) -> tuple[int, int | None, int | None]:
        """POST /v2/calculator/tariff: (cost in kopecks, days min, days max) to ``to_address``."""
        body: dict[str, Any] = {
            "tariff_code": tariff_code,
            "to_location": {"address": to_address},
            "packages": [{"weight": max(weight, 1)}],
        }
        if from_address:
            body["from_location"] = {"address": from_address}
        data = await self.call("POST", "/v2/calculator/tariff", body)
        total = data.get("total_sum", data.get("delivery_sum")) if isinstance(data, dict) else None
        if not isinstance(total, int | float) or total < 0:
            raise ProviderUnavailable("СДЭК answered without a delivery sum")
        low, high = data.get("period_min"), data.get("period_max")
        return (
            round(total * 100),
            low if isinstance(low, int) else None,
            high if isinstance(high, int) else None,
        )

    async def city_code(self, city: str) -> int | None:
        """GET /v2/location/cities?city=…: СДЭК's code of the city, None when it knows no such city."""
        data = await self.call("GET", "/v2/location/cities", params={"city": city, "size": "1"})
        if not isinstance(data, list):
            raise ProviderUnavailable("СДЭК answered the city search without a list")
        first = data[0] if data and isinstance(data[0], dict) else {}
        code = first.get("code")
        return code if isinstance(code, int) else None

    async def pickup_points(self, city_code: int, limit: int = 5) -> list[PickupOption]:
        """GET /v2/deliverypoints?city_code=…&type=PVZ: the city's pickup points (code, address, hours)."""
        data = await self.call(
            "GET", "/v2/deliverypoints", params={"city_code": str(city_code), "type": "PVZ"}
        )
        if not isinstance(data, list):
            raise ProviderUnavailable("СДЭК answered the pickup points without a list")
        points = []
        for point in data:
            if not isinstance(point, dict) or not isinstance(point.get("code"), str):
                continue
            raw = point.get("location")
            location: dict[str, Any] = raw if isinstance(raw, dict) else {}
            address = str(location.get("address_full") or location.get("address") or "")
            if address:
                points.append(PickupOption(point["code"], address, str(point.get("work_time") or "")))
            if len(points) >= limit:
                break
        return points

    async def tariff_to_city(self, tariff_code: int, city_code: int, weight: int) -> int:
        """POST /v2/calculator/tariff to a city (a pickup point's): the cost in kopecks."""
        data = await self.call(
            "POST",
            "/v2/calculator/tariff",
            {
                "tariff_code": tariff_code,
                "to_location": {"code": city_code},
                "packages": [{"weight": max(weight, 1)}],
            },
        )
        total = data.get("total_sum", data.get("delivery_sum")) if isinstance(data, dict) else None
        if not isinstance(total, int | float) or total < 0:
            raise ProviderUnavailable("СДЭК answered without a delivery sum")
        return round(total * 100)

    async def delivery_point(self, code: str) -> tuple[str, str] | None:
        """(address, working hours) of a pickup point."""
        data = await self.call("GET", "/v2/deliverypoints", params={"code": code})
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            return None
        point = data[0]
        raw_location = point.get("location")
        location: dict[str, Any] = raw_location if isinstance(raw_location, dict) else {}
        address = str(location.get("address_full") or location.get("address") or "")
        return address, str(point.get("work_time") or "")


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError as exc:
        raise ProviderUnavailable(f"СДЭК answered HTTP {answer.status_code} with a non-JSON body") from exc
