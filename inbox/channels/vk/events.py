"""VK payloads -> our types, with no network: Callback API verification, raw-event keys, and the parsing of
``message_new`` / ``message_edit`` / ``message_event`` objects (Callback API and Bots Long Poll share them).

Message ids. VK gives a community message two ids: ``id`` (unique per community, but always 0 for messages in
group chats) and ``conversation_message_id`` (present everywhere, stable, but unique only inside one
conversation). Our ``external_message_id`` must be unique per account and the same for a message and its
later ``message_edit``, so it is ``"{peer_id}:{conversation_message_id}"``; ``"{peer_id}:id{id}"`` only when
VK omits the conversation id. Outbound messages sent with ``messages.send`` get the plain message id back
(digits, no colon), so both kinds of ids live in one namespace without clashing.

Callback payloads. Our own callback buttons carry ``{"cmd": "<data>"}``; pressing one gives back ``<data>``
exactly (as Telegram's callback_data). Any other payload comes back as its compact JSON text.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from inbox import textsafe
from inbox.core.types import (
    Attachment,
    ChannelKind,
    ContactHints,
    InboundCallback,
    InboundEdit,
    InboundMessage,
    RawEvent,
    ThreadHints,
    WebhookRejected,
    WebhookRequest,
    WebhookResult,
)

CHAT_PEER_OFFSET = 2_000_000_000  # peer ids of group chats start here
PAYLOAD_KEY = "cmd"  # our callback buttons wrap their data in {"cmd": data}
IGNORED_TYPES = frozenset({"message_reply", "confirmation"})


class VKPayloadError(ValueError):
    """A VK event object lacks what we need to understand it (the reason names the field)."""


# ---- Callback API ----------------------------------------------------------------------------------------


def verify_callback(
    request: WebhookRequest,
    *,
    group_id: int | None,
    secret: str | None,
    confirmation: str | None,
) -> WebhookResult:
    """Check one Callback API call and split it into a raw event (or the confirmation answer)."""
    try:
        body = textsafe.loads(request.body)
    except ValueError as exc:
        raise WebhookRejected(400, f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise WebhookRejected(400, "body must be a JSON object")
    event_type = body.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise WebhookRejected(400, "body has no 'type'")
    if group_id is not None and str(body.get("group_id")) != str(group_id):
        raise WebhookRejected(400, f"event is for group {body.get('group_id')!r}, this account is {group_id}")
    given = body.get("secret")
    if secret:
        # VK sends the secret with every event; a confirmation request may come before it was set up.
        if given is None and event_type != "confirmation":
            raise WebhookRejected(401, "secret is missing")
        if given is not None and not secrets.compare_digest(str(given).encode(), secret.encode()):
            raise WebhookRejected(401, "secret does not match")
    if event_type == "confirmation":
        if not confirmation:
            raise WebhookRejected(400, "no confirmation string is configured for this account")
        return WebhookResult(events=(), body=confirmation)
    payload = {k: v for k, v in body.items() if k != "secret"}  # never store the shared secret
    return WebhookResult(events=(RawEvent(key=event_key(payload), payload=payload),), body="ok")


def event_key(update: Mapping[str, Any]) -> str:
    """VK's ``event_id`` (same in Callback API retries and long poll); a body hash when it is absent."""
    event_id = update.get("event_id")
    if isinstance(event_id, str) and event_id:
        return event_id
    canonical = json.dumps(update, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


# ---- parsing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallbackRef:
    """What ``messages.sendMessageEventAnswer`` needs, packed into ``InboundCallback.callback_id``."""

    event_id: str
    user_id: int
    peer_id: int

    def encode(self) -> str:
        return f"{self.user_id}:{self.peer_id}:{self.event_id}"

    @classmethod
    def decode(cls, callback_id: str) -> CallbackRef:
        parts = callback_id.split(":", 2)
        if len(parts) != 3 or not parts[2]:
            raise ValueError(f"not a VK callback id (user:peer:event): {callback_id!r}")
        try:
            return cls(event_id=parts[2], user_id=int(parts[0]), peer_id=int(parts[1]))
        except ValueError as exc:
            raise ValueError(f"not a VK callback id (user:peer:event): {callback_id!r}") from exc


def message_key(message: Mapping[str, Any]) -> str:
    peer_id = _int(message, "peer_id")
    cmid = message.get("conversation_message_id")
    if isinstance(cmid, int) and cmid > 0:
        return f"{peer_id}:{cmid}"
    msg_id = message.get("id")
    if isinstance(msg_id, int) and msg_id > 0:
        return f"{peer_id}:id{msg_id}"
    raise VKPayloadError("message has neither conversation_message_id nor id")


def decode_payload(payload: Any) -> str:
    """A button payload as our string: ``{"cmd": x}`` -> x, other JSON -> its compact text."""
    value = payload
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return str(payload)
    if isinstance(value, dict) and set(value) == {PAYLOAD_KEY} and isinstance(value[PAYLOAD_KEY], str):
        return str(value[PAYLOAD_KEY])
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode_payload(data: str) -> dict[str, Any]:
    return {PAYLOAD_KEY: data}


def update_object(update: Mapping[str, Any]) -> dict[str, Any]:
    obj = update.get("object")
    if not isinstance(obj, dict):
        raise VKPayloadError(f"{update.get('type')!r} event has no 'object'")
    return obj


def new_message_object(update: Mapping[str, Any]) -> dict[str, Any]:
    """``message_new`` wraps the message in ``{"message": …, "client_info": …}`` (API >= 5.103)."""
    obj = update_object(update)
    message = obj.get("message", obj)
    if not isinstance(message, dict):
        raise VKPayloadError("message_new object has no 'message'")
    return message


def parse_message(
    message: Mapping[str, Any],
    *,
    account_id: int,
    contact: ContactHints,
) -> InboundMessage:
    peer_id = _int(message, "peer_id")
    from_id = _int(message, "from_id") if "from_id" in message else peer_id
    text = message.get("text") or ""
    meta: dict[str, Any] = {"from_id": from_id}
    if peer_id >= CHAT_PEER_OFFSET:
        meta["chat"] = True
    if message.get("payload") is not None:
        meta["payload"] = decode_payload(message["payload"])
    attachments, placeholders, extra = _attachments(message.get("attachments") or [])
    meta.update(extra)
    if not text and placeholders:
        text = " ".join(placeholders)
    quotes = _quotes(message)
    if quotes:
        meta["quotes"] = quotes
    reply = message.get("reply_message")
    reply_key = None
    if isinstance(reply, dict):
        try:
            reply_key = message_key({"peer_id": peer_id, **reply})
        except VKPayloadError:
            reply_key = None
    return InboundMessage(
        kind=ChannelKind.VK,
        account_id=account_id,
        external_user_id=str(peer_id),
        external_message_id=message_key(message),
        sent_at=_when(message.get("date")),
        text=text or None,
        attachments=tuple(attachments),
        contact=contact,
        thread_hints=ThreadHints(reply_to_external_id=reply_key),
        meta=meta,
    )


def parse_edit(message: Mapping[str, Any], *, account_id: int) -> InboundEdit:
    return InboundEdit(
        kind=ChannelKind.VK,
        account_id=account_id,
        external_user_id=str(_int(message, "peer_id")),
        external_message_id=message_key(message),
        edited_at=_when(message.get("update_time") or message.get("date")),
        text=message.get("text") or None,
    )


def parse_callback(
    obj: Mapping[str, Any], *, account_id: int, contact: ContactHints, at: datetime
) -> InboundCallback:
    event_id = obj.get("event_id")
    if not isinstance(event_id, str) or not event_id:
        raise VKPayloadError("message_event has no event_id")
    user_id = _int(obj, "user_id")
    peer_id = _int(obj, "peer_id")
    return InboundCallback(
        kind=ChannelKind.VK,
        account_id=account_id,
        external_user_id=str(peer_id),
        callback_id=CallbackRef(event_id=event_id, user_id=user_id, peer_id=peer_id).encode(),
        payload=decode_payload(obj.get("payload", {})),
        at=at,
        contact=contact,
    )


def largest_photo_url(photo: Mapping[str, Any]) -> str | None:
    sizes = [s for s in photo.get("sizes") or [] if isinstance(s, dict) and s.get("url")]
    if not sizes:
        return None
    best = max(
        sizes,
        key=lambda s: (
            int(s.get("width") or 0) * int(s.get("height") or 0),
            _SIZE_ORDER.get(str(s.get("type")), 0),
        ),
    )
    return str(best["url"])


# Size letters from smallest to largest (https://dev.vk.com/reference/objects/photo-sizes), for sizes
# VK sends without dimensions.
_SIZE_ORDER = {t: i for i, t in enumerate("smxopqryzw")}

_DOC_TYPES = {
    "pdf": "application/pdf",
    "txt": "text/plain",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "zip": "application/zip",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xls": "application/vnd.ms-excel",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _attachments(items: list[Any]) -> tuple[list[Attachment], list[str], dict[str, Any]]:
    out: list[Attachment] = []
    placeholders: list[str] = []
    meta: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        body = item.get(kind) if isinstance(kind, str) else None
        if not isinstance(body, dict):
            continue
        if kind == "photo":
            url = largest_photo_url(body)
            if url is None:
                placeholders.append("[photo]")
                continue
            out.append(
                Attachment(
                    kind="photo",
                    filename=f"photo{body.get('owner_id')}_{body.get('id')}.jpg",
                    content_type="image/jpeg",
                    ref=url,
                )
            )
        elif kind == "doc":
            ext = str(body.get("ext") or "").lower()
            title = str(body.get("title") or f"doc{body.get('owner_id')}_{body.get('id')}")
            if ext and not title.lower().endswith("." + ext):
                title = f"{title}.{ext}"
            out.append(
                Attachment(
                    kind="document",
                    filename=title,
                    content_type=_DOC_TYPES.get(ext, "application/octet-stream"),
                    size=int(body.get("size") or 0),
                    ref=str(body["url"]) if body.get("url") else None,
                )
            )
        elif kind == "audio_message":
            url = body.get("link_ogg") or body.get("link_mp3")
            if url:
                ogg = bool(body.get("link_ogg"))
                out.append(
                    Attachment(
                        kind="voice",
                        filename=f"voice{body.get('owner_id')}_{body.get('id')}.{'ogg' if ogg else 'mp3'}",
                        content_type="audio/ogg" if ogg else "audio/mpeg",
                        ref=str(url),
                    )
                )
            else:
                placeholders.append("[voice message]")
        elif kind == "sticker":
            images = [i for i in body.get("images") or [] if isinstance(i, dict) and i.get("url")]
            best = max(images, key=lambda i: int(i.get("width") or 0), default=None)
            meta["sticker"] = {
                "sticker_id": body.get("sticker_id"),
                "product_id": body.get("product_id"),
                "url": best["url"] if best else None,
            }
            placeholders.append("[sticker]")
        else:
            meta.setdefault("unsupported", []).append(kind)
            placeholders.append(f"[{kind}]")
    return out, placeholders, meta


def _quotes(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    quotes: list[dict[str, Any]] = []
    reply = message.get("reply_message")
    if isinstance(reply, dict):
        quotes.append({"from_id": reply.get("from_id"), "text": reply.get("text") or "", "reply": True})
    for fwd in message.get("fwd_messages") or []:
        if isinstance(fwd, dict):
            quotes.append({"from_id": fwd.get("from_id"), "text": fwd.get("text") or ""})
    return quotes


def _int(obj: Mapping[str, Any], name: str) -> int:
    value = obj.get(name)
    if isinstance(value, bool) or value is None:
        raise VKPayloadError(f"field {name!r} is missing")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise VKPayloadError(f"field {name!r} is not an integer: {value!r}") from exc


def _when(value: Any) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return datetime.now(UTC)
