"""Signed button payloads: ``b1:<action>:<arg>:<mac>``, at most 64 bytes (Telegram's callback_data limit).

The MAC (8 characters of an HMAC-SHA256 over the customer, action and argument, keyed with the shop's secret)
means a forged or replayed-for-someone-else payload is refused before anything happens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

PREFIX = "b1"
MAX_BYTES = 64  # Telegram callback_data
_ACTION = re.compile(r"^[a-z]{1,8}$")
_ARG = re.compile(r"^[0-9A-Za-z_.-]{0,32}$")


class BadPayload(ValueError):
    """A payload that is not ours, malformed, or carries a wrong signature."""


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    arg: str = ""

    def __post_init__(self) -> None:
        if not _ACTION.match(self.name):
            raise ValueError(f"bot action must be 1-8 lower-case letters, got {self.name!r}")
        if not _ARG.match(self.arg):
            raise ValueError(f"bot action argument must be up to 32 of [0-9A-Za-z_.-], got {self.arg!r}")

    @property
    def int_arg(self) -> int:
        if not self.arg.isdigit():
            raise BadPayload(f"action {self.name} needs a numeric argument, got {self.arg!r}")
        return int(self.arg)


def _mac(secret: str, customer_id: int, action: Action) -> str:
    digest = hmac.new(
        secret.encode(), f"{customer_id}:{action.name}:{action.arg}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest)[:8].decode()


def sign(secret: str, customer_id: int, action: Action) -> str:
    payload = f"{PREFIX}:{action.name}:{action.arg}:{_mac(secret, customer_id, action)}"
    if len(payload.encode()) > MAX_BYTES:  # pragma: no cover - the patterns above keep it short
        raise ValueError(f"payload {payload!r} is longer than {MAX_BYTES} bytes")
    return payload


def verify(secret: str | tuple[str, ...], customer_id: int, payload: str) -> Action:
    """The action of a payload signed for this customer (with any of the keys: during a key rotation the
    old one still verifies); BadPayload otherwise."""
    parts = payload.split(":")
    if len(parts) != 4 or parts[0] != PREFIX:
        raise BadPayload("not a bot payload")
    try:
        action = Action(parts[1], parts[2])
    except ValueError as exc:
        raise BadPayload(str(exc)) from exc
    keys = (secret,) if isinstance(secret, str) else secret
    if not any(hmac.compare_digest(parts[3], _mac(key, customer_id, action)) for key in keys):
        raise BadPayload("bad payload signature")
    return action
