"""What ``messages.send`` needs from an OutboundMessage: random_id, keyboard JSON, reply reference, and the
mapping of VK errors to our transient / permanent send errors. No network here."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from vkbottle.tools.keyboard import Callback, Keyboard, OpenLink, Text

from inbox.channels.vk.events import encode_payload
from inbox.core.types import Button, PermanentSendError, SendError, TransientSendError

RANDOM_ID_MAX = 2**31 - 1  # random_id is a signed int32; 0 would switch VK's dedup off
MAX_TEXT = 4096
MAX_ATTACHMENTS = 10
INLINE_MAX_ROWS = 6
INLINE_MAX_PER_ROW = 5
INLINE_MAX_BUTTONS = 10
MAX_LABEL = 40
MAX_PAYLOAD = 255

# https://dev.vk.com/reference/errors: worth retrying later.
TRANSIENT_CODES = frozenset({1, 6, 9, 10, 603})


def random_id(idempotency_key: str) -> int:
    """A stable, non-zero 31-bit ``random_id`` for one outbox row, so a retry can never send twice.

    A decimal key (the outbox row id) maps one-to-one for the first 2**31-1 rows; any other key is hashed.
    """
    if not idempotency_key:
        raise ValueError("an outbound VK message needs an idempotency key")
    if idempotency_key.isascii() and idempotency_key.isdigit():
        return (int(idempotency_key) - 1) % RANDOM_ID_MAX + 1
    digest = hashlib.blake2b(idempotency_key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % RANDOM_ID_MAX + 1


def keyboard_json(rows: tuple[tuple[Button, ...], ...]) -> str | None:
    """An inline keyboard: callback buttons for payloads, link buttons for urls, text buttons otherwise."""
    rows = tuple(row for row in rows if row)
    if not rows:
        return None
    if len(rows) > INLINE_MAX_ROWS:
        raise PermanentSendError(f"VK inline keyboards have at most {INLINE_MAX_ROWS} rows, got {len(rows)}")
    total = sum(len(row) for row in rows)
    if total > INLINE_MAX_BUTTONS:
        raise PermanentSendError(
            f"VK inline keyboards have at most {INLINE_MAX_BUTTONS} buttons, got {total}"
        )
    keyboard = Keyboard(inline=True)
    for row in rows:
        if len(row) > INLINE_MAX_PER_ROW:
            raise PermanentSendError(f"VK keyboard rows hold at most {INLINE_MAX_PER_ROW} buttons")
        keyboard.row()
        for button in row:
            label = button.label if len(button.label) <= MAX_LABEL else button.label[: MAX_LABEL - 1] + "…"
            if button.url:
                keyboard.add(OpenLink(link=button.url, label=label))
            elif button.payload is not None:
                payload = encode_payload(button.payload)
                if len(json.dumps(payload, ensure_ascii=False)) > MAX_PAYLOAD:
                    raise PermanentSendError(f"button payload longer than {MAX_PAYLOAD} characters")
                keyboard.add(Callback(label=label, payload=payload))
            else:
                keyboard.add(Text(label=label))
    return keyboard.get_json()


_CONVERSATION_REF = re.compile(r"^(-?\d+):(\d+)$")


def reply_params(reply_to_external_id: str | None, peer_id: int) -> dict[str, Any]:
    """``reply_to`` for a plain message id; ``forward`` (is_reply) for our ``peer:cmid`` inbound ids."""
    if not reply_to_external_id:
        return {}
    if reply_to_external_id.isascii() and reply_to_external_id.isdigit():
        return {"reply_to": int(reply_to_external_id)}
    match = _CONVERSATION_REF.match(reply_to_external_id)
    if match and int(match.group(1)) == peer_id:
        forward = {"peer_id": peer_id, "conversation_message_ids": [int(match.group(2))], "is_reply": True}
        return {"forward": json.dumps(forward)}
    return {}  # a reference we cannot express (another chat, an id-only key): send without the reply


def map_vk_error(code: int, message: str) -> SendError:
    reason = f"VK error {code}: {message}"
    if code in TRANSIENT_CODES:
        return TransientSendError(reason, retry_after=1.0 if code == 6 else None)
    return PermanentSendError(reason)


def map_http_status(status: int, detail: str) -> SendError:
    reason = f"VK answered HTTP {status}: {detail}"
    if status >= 500 or status in {408, 429}:
        return TransientSendError(reason)
    return PermanentSendError(reason)
