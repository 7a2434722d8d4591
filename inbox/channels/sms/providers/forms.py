"""Form bodies of provider webhooks: ``application/x-www-form-urlencoded`` or ``multipart/form-data``.

Kept as an ordered list of pairs, because signatures (Twilio) cover repeated names and SMS.ru numbers its
``data[N]`` fields. No web framework involved: the core hands us the raw bytes.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qsl

from inbox.core.types import WebhookRejected

FormPairs = list[tuple[str, str]]


def parse_form(content_type: str, body: bytes) -> FormPairs:
    """Decode a form body; raises WebhookRejected(400) with the reason when it cannot be read."""
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype == "multipart/form-data":
        return _parse_multipart(content_type, body)
    if ctype not in ("", "application/x-www-form-urlencoded"):
        raise WebhookRejected(415, f"expected a form post, got content type {ctype!r}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookRejected(400, "form body is not UTF-8") from exc
    try:
        return parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise WebhookRejected(400, f"unreadable form body: {exc}") from exc


def _parse_multipart(content_type: str, body: bytes) -> FormPairs:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise WebhookRejected(400, "unreadable multipart body")
    pairs: FormPairs = []
    for part in message.iter_parts():
        if not isinstance(part, EmailMessage):
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else b""
        try:
            pairs.append((name, raw.decode(part.get_content_charset() or "utf-8")))
        except (UnicodeDecodeError, LookupError) as exc:
            raise WebhookRejected(400, f"form field {name!r} is not text") from exc
    return pairs
