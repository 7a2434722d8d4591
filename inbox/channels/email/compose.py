"""Building outgoing letters (pure): headers for threading, a stable Message-ID, text + HTML, files."""

from __future__ import annotations

import hashlib
import mimetypes
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any

from inbox.core.types import OutboundMessage, PermanentSendError

_REPLY_PREFIX = re.compile(r"^\s*(re|отв|ответ|aw|sv)\s*(\[\d+\])?\s*:", re.IGNORECASE)


def message_id_for(idempotency_key: str, domain: str) -> str:
    """``<hash@domain>``: the same outbox row always gets the same Message-ID, so a retry after a timeout
    is recognisable as the same letter by every receiving server and client."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<inbox.{digest}@{domain}>"


def _bracket(mid: str) -> str:
    mid = mid.strip()
    return mid if mid.startswith("<") else f"<{mid.strip('<>')}>"


def reply_subject(subject: str | None, is_reply: bool) -> str:
    value = (subject or "").strip()
    if is_reply and value and not _REPLY_PREFIX.match(value):
        return "Re: " + value
    return value


def _references(meta: Mapping[str, Any]) -> list[str]:
    refs = meta.get("references") or []
    if isinstance(refs, str):
        refs = refs.split()
    result = [_bracket(str(r)) for r in refs if str(r).strip()]
    in_reply_to = meta.get("in_reply_to")
    if in_reply_to and _bracket(str(in_reply_to)) not in result:
        result.append(_bracket(str(in_reply_to)))
    return list(dict.fromkeys(result))


def compose(
    msg: OutboundMessage,
    from_address: str,
    from_name: str = "",
    data_dir: Path | None = None,
    now: datetime | None = None,
) -> EmailMessage:
    """The letter for ``msg``. ``msg.meta``: subject, in_reply_to, references (list), auto (bool),
    cc (list). Attachment ``path`` values are absolute or relative to ``data_dir``."""
    if "@" not in from_address:
        raise PermanentSendError(f"account address {from_address!r} is not an email address")
    if "@" not in msg.chat_id or any(c in msg.chat_id for c in "\r\n"):
        raise PermanentSendError(f"recipient {msg.chat_id!r} is not an email address")
    domain = from_address.rsplit("@", 1)[1]
    meta = msg.meta
    letter = EmailMessage()
    letter["From"] = formataddr((from_name, from_address)) if from_name else from_address
    letter["To"] = msg.chat_id
    cc = meta.get("cc") or []
    if cc:
        letter["Cc"] = ", ".join(str(x) for x in cc)
    in_reply_to = meta.get("in_reply_to")
    letter["Subject"] = reply_subject(meta.get("subject"), bool(in_reply_to))
    letter["Date"] = format_datetime(now or datetime.now(UTC))
    letter["Message-ID"] = message_id_for(msg.idempotency_key, domain)
    if in_reply_to:
        letter["In-Reply-To"] = _bracket(str(in_reply_to))
    refs = _references(meta)
    if refs:
        letter["References"] = " ".join(refs)
    if meta.get("auto"):
        letter["Auto-Submitted"] = "auto-generated"
    unsubscribe = meta.get("list_unsubscribe")
    if unsubscribe and not any(c in str(unsubscribe) for c in "\r\n<>"):
        # RFC 2369 + RFC 8058: mail clients show an "unsubscribe" control and POST to the URL in one click
        letter["List-Unsubscribe"] = f"<{unsubscribe}>"
        letter["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        letter["Precedence"] = "bulk"
    letter["MIME-Version"] = "1.0"
    letter.set_content(msg.text or "")
    if msg.html:
        letter.add_alternative(msg.html, subtype="html")
    for att in msg.attachments:
        data, maintype, subtype = _attachment_payload(
            att.path, att.filename, att.content_type, att.data, data_dir
        )
        letter.add_attachment(data, maintype=maintype, subtype=subtype, filename=att.filename)
    return letter


def _attachment_payload(
    path: str | None, filename: str, content_type: str, data: bytes | None, data_dir: Path | None
) -> tuple[bytes, str, str]:
    if data is None:
        if not path:
            raise PermanentSendError(f"attachment {filename!r} has neither a file nor data")
        file = Path(path)
        if not file.is_absolute() and data_dir is not None:
            file = data_dir / file
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise PermanentSendError(f"attachment file {str(file)!r} cannot be read: {exc.strerror}") from exc
    ctype = content_type if "/" in content_type else "application/octet-stream"
    if ctype == "application/octet-stream":
        ctype = mimetypes.guess_type(filename)[0] or ctype
    maintype, subtype = ctype.split("/", 1)
    return data, maintype, subtype
