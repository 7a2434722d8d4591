"""The widget's "wire format": the raw events its routes commit for the processor (a visitor's message,
a button press). The adapter's ``parse`` reads them; the contract suite plays the provider with them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from inbox.core.types import RawEvent


def message_event(
    visitor: str,
    client_id: str,
    text: str,
    files: list[dict[str, Any]] | None = None,
    *,
    name: str = "",
    locale: str | None = None,
) -> RawEvent:
    """``client_id`` is the browser's id of the message: a resend after a lost answer is the same event."""
    payload = {
        "type": "message",
        "visitor": visitor,
        "id": client_id,
        "text": text,
        "attachments": list(files or []),
        "at": datetime.now(UTC).isoformat(),
        "name": name,
        "locale": locale,
    }
    return RawEvent(f"{visitor}/{client_id}", payload)


def button_event(visitor: str, client_id: str, payload: str) -> RawEvent:
    data = {
        "type": "button",
        "visitor": visitor,
        "id": client_id,
        "payload": payload,
        "at": datetime.now(UTC).isoformat(),
    }
    return RawEvent(f"{visitor}/b/{client_id}", data)
