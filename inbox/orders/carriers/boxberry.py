"""Boxberry tracking by number: the JSON API ``GET {api base}/json.php?token=…&method=ListStatuses&ImId=…``
(the parcel's tracking code or the shop's order number).

Answer: ``[{"Date": "2024-03-01T10:15:00", "Name": "Принято к доставке", "Comment": ""}, …]`` with Moscow
times without an offset; an error is ``[{"err": "…"}]`` (no such parcel yet: no events) or ``{"err": "…"}``
(a bad token or method: refused) with HTTP 200. The event's code
is its ``Name`` (Boxberry has no status codes in this method), which the status map keys on.
Network errors, 5xx, 429 and bodies that are not that JSON are ``ProviderUnavailable``; ``err`` is
``ProviderRefused``.
"""

from __future__ import annotations

from typing import Any

import httpx

from inbox.orders.carriers.base import MOSCOW, ParcelEvent, parse_time
from inbox.orders.payments.errors import ProviderRefused, ProviderUnavailable

DEFAULT_API_BASE = "https://api.boxberry.ru"
TIMEOUT = httpx.Timeout(20.0, connect=5.0)


def _error(data: Any) -> str | None:
    if isinstance(data, dict) and data.get("err"):
        return str(data["err"])
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict) and data[0].get("err"):
        return str(data[0]["err"])
    return None


def parse_statuses(data: Any) -> list[ParcelEvent]:
    """The events of a ``ListStatuses`` answer: none yet for a parcel Boxberry does not know (``[{"err"}]``:
    a number typed right after handing over), ProviderRefused for ``{"err"}`` (token, method), ValueError for
    anything else."""
    if isinstance(data, list) and _error(data) is not None:
        return []
    error = _error(data)
    if error is not None:
        raise ProviderRefused(error)
    if isinstance(data, dict) and isinstance(data.get("statuses"), list):  # ListStatusesFull
        data = data["statuses"]
    if not isinstance(data, list):
        raise ValueError("a status list was expected")
    events = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str) or not item["Name"].strip():
            raise ValueError("a status without a Name")
        comment = str(item.get("Comment") or "").strip()
        events.append(
            ParcelEvent(
                code=item["Name"].strip(),
                name=item["Name"].strip() + (f" ({comment})" if comment else ""),
                city=None,
                at=parse_time(item.get("Date"), MOSCOW),
            )
        )
    events.sort(key=lambda e: e.at)
    return events


class BoxberryClient:
    def __init__(
        self, token: str, api_base: str | None = None, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.base = (api_base or DEFAULT_API_BASE).rstrip("/")
        self.token = token
        self.transport = transport

    async def call(self, method: str, **params: str) -> Any:
        query = {"token": self.token, "method": method, **params}
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, transport=self.transport) as client:
                answer = await client.get(f"{self.base}/json.php", params=query)
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            if self.token:  # an error that quotes the URL must not carry the token with it
                reason = reason.replace(self.token, "***")
            raise ProviderUnavailable(f"Boxberry is unreachable: {reason}") from exc
        if answer.status_code == 429 or answer.status_code >= 500:
            raise ProviderUnavailable(f"Boxberry answered HTTP {answer.status_code}; retry later")
        try:
            data = answer.json()
        except ValueError as exc:
            raise ProviderUnavailable(
                f"Boxberry answered HTTP {answer.status_code} with a non-JSON body"
            ) from exc
        if answer.status_code >= 400:
            raise ProviderRefused(_error(data) or f"HTTP {answer.status_code}")
        return data

    async def history(self, number: str) -> list[ParcelEvent]:
        data = await self.call("ListStatuses", ImId=number)
        try:
            return parse_statuses(data)
        except ValueError as exc:
            raise ProviderUnavailable(f"Boxberry answered with an unexpected body: {exc}") from exc
