"""Telegram's part of ``Message.meta`` (the keys ``updates.py`` writes on inbound messages and the adapter's
send answer); the stored JSON is what wave 1 wrote."""

from __future__ import annotations

from typing import TypedDict

from inbox.core.meta import ContactMeta


class StickerMeta(TypedDict):
    emoji: str | None
    set_name: str | None


class LocationMeta(TypedDict):
    latitude: object
    longitude: object


class TelegramMeta(TypedDict, total=False):
    sticker: StickerMeta
    location: LocationMeta
    contact: ContactMeta  # a shared contact (own: the sender's own number, vouched)
    chat_type: str | None  # group / supergroup (absent in private chats)
    sender_id: int | None  # who wrote in a group chat
    media_group_id: str  # an album's parts share it


class TelegramSent(TypedDict):
    parts: list[str]  # the external ids of every part a long text was split into
