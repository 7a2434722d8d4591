"""Who is asking and over what: the client address and scheme, believing ``X-Forwarded-For`` /
``X-Forwarded-Proto`` only from the reverse proxies listed in ``INBOX_TRUSTED_PROXIES``."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import cache
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@cache
def _networks(trusted: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in trusted)


def _trusted(address: str, trusted: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in _networks(trusted))


def _header(scope: Any, name: bytes) -> str:
    values = [v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == name]
    return ",".join(values)


def peer(scope: Any) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def client_ip(scope: Any, trusted: Sequence[str]) -> str:
    """The rightmost address in X-Forwarded-For that is not one of our proxies (when the peer is one)."""
    address = peer(scope)
    proxies = tuple(trusted)
    if not proxies or not _trusted(address, proxies):
        return address
    hops = [h.strip() for h in _header(scope, b"x-forwarded-for").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return address
    return address


def is_https(scope: Any, public_url: str | None, trusted: Sequence[str]) -> bool:
    if (public_url or "").lower().startswith("https://") or scope.get("scheme") == "https":
        return True
    proxies = tuple(trusted)
    if proxies and _trusted(peer(scope), proxies):
        proto = _header(scope, b"x-forwarded-proto").split(",")[0].strip().lower()
        return proto == "https"
    return False
