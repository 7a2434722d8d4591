"""Telegram Bot API ``Update`` JSON -> the channel protocol's inbound items. Pure: no network, no aiogram.

Field names follow https://core.telegram.org/bots/api#update. Update types we do not map (channel posts,
polls, chat member changes, ...) give ``[]``: the core keeps the raw event anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from inbox.channels.telegram.meta import TelegramMeta
from inbox.core.meta import ContactMeta
from inbox.core.phones import InvalidPhone, normalize_phone
from inbox.core.types import (
    Attachment,
    ChannelKind,
    ContactHints,
    InboundCallback,
    InboundEdit,
    InboundItem,
    InboundMessage,
    ThreadHints,
)

KIND = ChannelKind.TELEGRAM

# Media fields other than photo/document: (attachment kind, default filename, default content type).
_MEDIA: dict[str, tuple[str, str, str]] = {
    "voice": ("voice", "voice.ogg", "audio/ogg"),
    "audio": ("audio", "audio.mp3", "audio/mpeg"),
    "video": ("video", "video.mp4", "video/mp4"),
    "video_note": ("video", "video_note.mp4", "video/mp4"),
    "animation": ("video", "animation.mp4", "video/mp4"),
}


class TelegramPayloadError(ValueError):
    """An update that does not have the shape the Bot API documents; ``reason`` says what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def message_external_id(chat_id: int | str, message_id: int | str) -> str:
    return f"{chat_id}:{message_id}"


def parse_update(update: Mapping[str, Any], account_id: int, region: str = "RU") -> list[InboundItem]:
    if not isinstance(update.get("update_id"), int) or isinstance(update.get("update_id"), bool):
        raise TelegramPayloadError("update has no integer update_id")
    if "message" in update:
        message = _obj(update, "message")
        if "successful_payment" in message:  # recorded by the payments fast path, not a conversation turn
            return []
        return [_message(message, account_id, region)]
    if "edited_message" in update:
        return [_edit(_obj(update, "edited_message"), account_id)]
    if "callback_query" in update:
        return [_callback(_obj(update, "callback_query"), account_id)]
    return []


def chat_of(update: Mapping[str, Any]) -> str | None:
    """The chat an update belongs to, the same key :func:`parse_update` resolves the customer by (the
    processor applies one chat's updates in order); None for an update it cannot place (kept in account
    order)."""
    try:
        for key in ("message", "edited_message"):
            if key in update:
                return str(_chat_id(_obj(update, key)))
        if "callback_query" in update:
            query = _obj(update, "callback_query")
            message = query.get("message")
            return str(_chat_id(message) if isinstance(message, Mapping) else _int(_obj(query, "from"), "id"))
    except TelegramPayloadError:
        return None
    return None


# ---- pieces -------------------------------------------------------------------------------------------


def _obj(parent: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if not isinstance(value, Mapping):
        raise TelegramPayloadError(f"{key} must be an object, got {type(value).__name__}")
    return value


def _int(parent: Mapping[str, Any], key: str) -> int:
    value = parent.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TelegramPayloadError(f"{key} must be an integer, got {value!r}")
    return value


def _size(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _str(parent: Mapping[str, Any], key: str) -> str | None:
    value = parent.get(key)
    return value if isinstance(value, str) else None


def _when(message: Mapping[str, Any], key: str = "date") -> datetime:
    return datetime.fromtimestamp(_int(message, key), UTC)


def _contact_hints(sender: Mapping[str, Any] | None) -> ContactHints:
    if not sender:
        return ContactHints()
    name = " ".join(p for p in (_str(sender, "first_name"), _str(sender, "last_name")) if p).strip()
    username = _str(sender, "username")
    return ContactHints(
        display_name=name or (f"@{username}" if username else ""),
        username=username,
        locale=_str(sender, "language_code"),
    )


def _chat_id(message: Mapping[str, Any]) -> int:
    return _int(_obj(message, "chat"), "id")


def _sender(message: Mapping[str, Any]) -> Mapping[str, Any] | None:
    sender = message.get("from")
    return sender if isinstance(sender, Mapping) else None


def _largest_photo(sizes: Any) -> Mapping[str, Any]:
    if not isinstance(sizes, list) or not sizes or not all(isinstance(s, Mapping) for s in sizes):
        raise TelegramPayloadError("photo must be a non-empty list of PhotoSize objects")
    return max(sizes, key=lambda s: (_size(s, "width") * _size(s, "height"), _size(s, "file_size")))


def _file_id(obj: Mapping[str, Any], what: str) -> str:
    ref = _str(obj, "file_id")
    if not ref:
        raise TelegramPayloadError(f"{what} has no file_id")
    return ref


def _attachments(message: Mapping[str, Any]) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    if "photo" in message:
        best = _largest_photo(message["photo"])
        unique = _str(best, "file_unique_id") or _file_id(best, "photo")[-12:]
        found.append(
            Attachment(
                kind="photo",
                filename=f"photo_{unique}.jpg",
                content_type="image/jpeg",
                size=_size(best, "file_size"),
                ref=_file_id(best, "photo"),
            )
        )
    if "document" in message:
        doc = _obj(message, "document")
        found.append(
            Attachment(
                kind="document",
                filename=_str(doc, "file_name") or "document",
                content_type=_str(doc, "mime_type") or "application/octet-stream",
                size=_size(doc, "file_size"),
                ref=_file_id(doc, "document"),
            )
        )
    for key, (kind, filename, ctype) in _MEDIA.items():
        if key in message:
            media = _obj(message, key)
            found.append(
                Attachment(
                    kind=kind,
                    filename=_str(media, "file_name") or filename,
                    content_type=_str(media, "mime_type") or ctype,
                    size=_size(media, "file_size"),
                    ref=_file_id(media, key),
                )
            )
    return tuple(found)


def _placeholder(message: Mapping[str, Any], meta: TelegramMeta) -> str | None:
    """Readable text for messages that carry no text of their own."""
    if "sticker" in message:
        sticker = _obj(message, "sticker")
        meta["sticker"] = {"emoji": _str(sticker, "emoji"), "set_name": _str(sticker, "set_name")}
        emoji = _str(sticker, "emoji")
        return f"[sticker {emoji}]" if emoji else "[sticker]"
    if "location" in message:
        loc = _obj(message, "location")
        meta["location"] = {"latitude": loc.get("latitude"), "longitude": loc.get("longitude")}
        return f"[location {loc.get('latitude')}, {loc.get('longitude')}]"
    return None


def _shared_contact(
    message: Mapping[str, Any], hints: ContactHints, region: str, meta: TelegramMeta
) -> tuple[ContactHints, str]:
    contact = _obj(message, "contact")
    raw = _str(contact, "phone_number") or ""
    sender = _sender(message)
    own = (
        sender is not None
        and contact.get("user_id") is not None
        and contact.get("user_id") == sender.get("id")
    )
    name = " ".join(p for p in (_str(contact, "first_name"), _str(contact, "last_name")) if p)
    shared: ContactMeta = {"phone_number": raw, "name": name, "user_id": contact.get("user_id"), "own": own}
    meta["contact"] = shared
    try:
        phone: str | None = normalize_phone(raw, region)
    except InvalidPhone as exc:
        shared["error"] = str(exc)
        phone = None
    if own and phone:
        hints = ContactHints(
            display_name=hints.display_name, username=hints.username, locale=hints.locale, phone=phone
        )
    elif phone:
        hints = ContactHints(
            display_name=hints.display_name,
            username=hints.username,
            locale=hints.locale,
            phone_unverified=phone,
        )
    return hints, f"[contact] {name} {phone or raw}".replace("  ", " ").strip()


def _message(message: Mapping[str, Any], account_id: int, region: str) -> InboundMessage:
    chat_id = _chat_id(message)
    message_id = _int(message, "message_id")
    chat = _obj(message, "chat")
    hints = _contact_hints(_sender(message) or chat)
    meta: TelegramMeta = {}
    if chat.get("type") != "private":
        meta["chat_type"] = chat.get("type")
        sender = _sender(message)
        if sender is not None:
            meta["sender_id"] = sender.get("id")
    if isinstance(message.get("media_group_id"), str):
        meta["media_group_id"] = message["media_group_id"]
    text = _str(message, "text") or _str(message, "caption")
    if "contact" in message:
        hints, placeholder = _shared_contact(message, hints, region, meta)
        text = text or placeholder
    text = text or _placeholder(message, meta)
    reply = message.get("reply_to_message")
    thread = ThreadHints()
    if isinstance(reply, Mapping) and isinstance(reply.get("message_id"), int):
        thread = ThreadHints(reply_to_external_id=message_external_id(chat_id, reply["message_id"]))
    return InboundMessage(
        kind=KIND,
        account_id=account_id,
        external_user_id=str(chat_id),
        external_message_id=message_external_id(chat_id, message_id),
        sent_at=_when(message),
        text=text,
        attachments=_attachments(message),
        contact=hints,
        thread_hints=thread,
        meta=meta,
    )


def _edit(message: Mapping[str, Any], account_id: int) -> InboundEdit:
    chat_id = _chat_id(message)
    edited = _when(message, "edit_date") if "edit_date" in message else _when(message)
    return InboundEdit(
        kind=KIND,
        account_id=account_id,
        external_user_id=str(chat_id),
        external_message_id=message_external_id(chat_id, _int(message, "message_id")),
        edited_at=edited,
        text=_str(message, "text") or _str(message, "caption"),
    )


def _callback(query: Mapping[str, Any], account_id: int) -> InboundCallback:
    callback_id = _str(query, "id")
    if not callback_id:
        raise TelegramPayloadError("callback_query has no id")
    sender = _obj(query, "from")
    message = query.get("message")
    chat_id = _chat_id(message) if isinstance(message, Mapping) else _int(sender, "id")
    # A callback query carries no date of its own: the press is "now" (parse runs right after the commit).
    at = datetime.now(UTC)
    return InboundCallback(
        kind=KIND,
        account_id=account_id,
        external_user_id=str(chat_id),
        callback_id=callback_id,
        payload=_str(query, "data") or "",
        at=at,
        contact=_contact_hints(sender),
    )
