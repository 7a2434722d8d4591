"""VK's part of ``Message.meta`` (the keys ``events.py`` writes on inbound messages and the adapter's send
answer); the stored JSON is what wave 1 wrote."""

from __future__ import annotations

from typing import Any, TypedDict


class VKMeta(TypedDict, total=False):
    chat: bool  # a community chat, not a private dialogue
    payload: Any  # a keyboard button's payload, decoded
    quotes: list[dict[str, Any]]  # forwarded / replied-to messages
    sticker: dict[str, Any]


class VKSent(TypedDict):
    random_id: int  # derived from the outbox row: VK drops a repeated send
