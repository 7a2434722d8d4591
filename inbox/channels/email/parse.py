"""Parsing one raw email (bytes) into a ParsedEmail; pure, never raises anything but EmailRejected.

Headers are read from the raw header lines (``raw_items``) and decoded by our own code, so that 8-bit
headers, unknown charset labels and broken encoded-words still give readable text; the MIME structure
comes from the standard library parser with ``policy.compat32`` (into ``EmailMessage`` objects): the headers
the parser and the MIME walk consult (Content-Type, boundary, Content-Transfer-Encoding, file names) are read
as raw strings, not built into ``policy.default``'s structured header objects, which cost more than a third
of the time of taking a letter in.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import decode_header
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from inbox.channels.email.charset import decode_bytes, fix_surrogates
from inbox.channels.email.html_text import html_to_text, sanitize_html
from inbox.channels.email.quotes import split_visible, unflow

MAX_EMAIL_BYTES = 50 * 1024 * 1024


class EmailRejected(Exception):
    """The bytes are not an email we can take in; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None  # without angle brackets; set for inline (cid:) parts
    inline: bool = False


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    message_id: str | None  # without angle brackets
    in_reply_to: str | None
    references: tuple[str, ...]
    subject: str
    from_address: str  # lower-cased
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: str | None
    date: datetime | None  # aware UTC; from Date, else the newest Received line
    text: str  # visible part: quotes and signature folded
    full_text: str
    html: str | None  # sanitised
    attachments: tuple[ParsedAttachment, ...]
    is_auto: bool
    auto_reason: str | None = None
    defects: tuple[str, ...] = field(default=())


def message_id_of(raw: bytes) -> str | None:
    """The Message-ID (without brackets) read from the header block only; None when absent or unreadable."""
    try:
        headers = _headers(BytesHeaderParser(EmailMessage, policy=policy.compat32).parsebytes(raw))
    except Exception:
        return None
    ids = _msgids(headers.get("message-id", [""])[0])
    return ids[0] if ids else None


MAX_ID_LENGTH = 240  # inbound_event.key and message.external_id are 254 characters wide


def bounded_id(message_id: str) -> str:
    """The Message-ID itself, or ``midhash:<sha256>`` of it when it is too long to be stored as an id."""
    if len(message_id) <= MAX_ID_LENGTH:
        return message_id
    return "midhash:" + hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()


def raw_key(raw: bytes, message_id: str | None) -> str:
    """``mid:<message-id>``, or ``sha256:<hex>`` of the bytes when the letter has no Message-ID."""
    if message_id:
        return "mid:" + bounded_id(message_id)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


# ---- headers ---------------------------------------------------------------------------------------------


def decode_header_value(raw: str) -> str:
    """Unfold and decode a header (encoded-words in any charset, raw 8-bit bytes); never raises."""
    value = re.sub(r"\r?\n[ \t]+", " ", raw).strip()
    value = fix_surrogates(value)
    if "=?" not in value:
        return value
    try:
        chunks = decode_header(value)
    except Exception:
        return value
    out: list[str] = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            out.append(chunk)
        else:
            out.append(decode_bytes(chunk, charset))
    return "".join(out).strip()


def _headers(msg: Message) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    try:
        items = msg.raw_items() if isinstance(msg, EmailMessage) else msg.items()
    except Exception:
        return result
    for name, value in items:
        result.setdefault(str(name).lower(), []).append(str(value))
    return result


_MSGID = re.compile(r"<([^<>\s]+)>")


def _msgids(value: str) -> list[str]:
    ids = _MSGID.findall(value)
    if not ids and value.strip() and " " not in value.strip():
        ids = [value.strip().strip("<>")]
    return [i for i in ids if i]


def _addresses(values: list[str]) -> list[tuple[str, str]]:
    decoded = [decode_header_value(v) for v in values]
    try:
        pairs = getaddresses(decoded)
    except Exception:
        return []
    result: list[tuple[str, str]] = []
    for name, addr in pairs:
        addr = addr.strip().strip("<>").strip()
        if "@" in addr and " " not in addr:
            result.append((name.strip().strip('"').strip(), addr.lower()))
    return result


def _parse_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


_AUTO_PRECEDENCE = {"bulk", "auto_reply", "junk", "list"}


def _auto_reason(headers: dict[str, list[str]], content_type: str) -> str | None:
    first = {name: values[0].strip().lower() for name, values in headers.items() if values}
    if first.get("auto-submitted", "no") not in {"no", ""}:
        return "auto-submitted: " + first["auto-submitted"]
    for name in ("x-autoreply", "x-autorespond", "x-autogenerated"):
        if name in first:
            return name
    if first.get("precedence", "") in _AUTO_PRECEDENCE:
        return "precedence: " + first["precedence"]
    if "list-id" in first or "list-unsubscribe" in first:
        return "mailing list"
    if first.get("return-path", "").replace(" ", "") == "<>" or content_type == "multipart/report":
        return "delivery report"
    return None


# ---- body ------------------------------------------------------------------------------------------------


def _part_headers(part: Message) -> dict[str, str]:
    return {name: values[0] for name, values in _headers(part).items()}


def _param(header: str, name: str) -> str | None:
    match = re.search(rf'(?:^|;)\s*{name}\s*=\s*("([^"]*)"|[^;\s]+)', header, re.IGNORECASE)
    if not match:
        return None
    return match.group(2) if match.group(2) is not None else match.group(1)


def _has_8bit(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _filename(part: Message, headers: dict[str, str]) -> str | None:
    name: str | None = None
    raw_cd, raw_ct = headers.get("content-disposition", ""), headers.get("content-type", "")
    if _has_8bit(raw_cd) or _has_8bit(raw_ct):
        # raw 8-bit file names (1C, old webmail): the library would turn the bytes into U+FFFD
        name = _param(raw_cd, "filename") or _param(raw_ct, "name")
    if not name:
        try:
            name = part.get_filename() or part.get_param("name")  # type: ignore[assignment]
        except Exception:
            name = None
    if isinstance(name, tuple):  # RFC 2231 triple when collapsing failed
        name = decode_bytes(str(name[2]).encode("latin-1", errors="replace"), name[0])
    if not name:
        name = _param(headers.get("content-disposition", ""), "filename") or _param(
            headers.get("content-type", ""), "name"
        )
    if not name:
        return None
    name = decode_header_value(str(name))
    name = name.replace("/", "_").replace("\\", "_").replace("\x00", "").strip()
    return name or None


def _payload(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", errors="surrogateescape")
    return b""


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "application/octet-stream"


@dataclass
class _Body:
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[ParsedAttachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)


def _walk(msg: Message, body: _Body, depth: int = 0) -> None:
    if depth > 30:
        body.defects.append("MIME nesting too deep")
        return
    ctype = _content_type(msg)
    if msg.is_multipart():
        payload = msg.get_payload()
        parts = [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
        for sub in parts:
            _walk(sub, body, depth + 1)
        return
    headers = _part_headers(msg)
    disposition = headers.get("content-disposition", "").split(";")[0].strip().lower()
    filename = _filename(msg, headers)
    cid_raw = headers.get("content-id")
    content_id = _msgids(cid_raw)[0] if cid_raw and _msgids(cid_raw) else None
    is_attachment = disposition == "attachment" or (filename is not None and not ctype.startswith("text/"))
    if ctype == "message/rfc822":
        is_attachment = True
    if not is_attachment and ctype in {"text/plain", "text/html"}:
        content_type = headers.get("content-type", "")
        charset = _param(content_type, "charset")
        text = decode_bytes(_payload(msg), charset)
        if ctype == "text/plain" and (_param(content_type, "format") or "").lower() == "flowed":
            text = unflow(text, delsp=(_param(content_type, "delsp") or "").lower() == "yes")
        (body.plain if ctype == "text/plain" else body.html).append(text)
        return
    if ctype.startswith("multipart/"):
        return
    data = _payload(msg)
    if ctype == "message/rfc822" and not data:
        try:
            inner = msg.get_payload(0)
            data = inner.as_bytes() if isinstance(inner, Message) else b""
        except Exception:
            data = b""
    if filename is None:
        ext = {"message/rfc822": ".eml", "text/plain": ".txt", "text/html": ".html"}.get(ctype, "")
        if not ext and "/" in ctype:
            ext = "." + ctype.split("/", 1)[1][:10]
        filename = (content_id or "attachment") + ext if not content_id else "inline" + ext
    inline = content_id is not None and disposition != "attachment"
    body.attachments.append(
        ParsedAttachment(
            filename=filename, content_type=ctype, data=data, content_id=content_id, inline=inline
        )
    )


# ---- entry point -----------------------------------------------------------------------------------------


def parse_email(raw: bytes) -> ParsedEmail:
    """Parse ``raw``. Raises EmailRejected(reason) for input that is not a usable email."""
    if not isinstance(raw, bytes | bytearray):
        raise EmailRejected("not bytes")
    if not raw.strip():
        raise EmailRejected("empty message")
    if len(raw) > MAX_EMAIL_BYTES:
        raise EmailRejected(f"message larger than {MAX_EMAIL_BYTES} bytes")
    try:
        return _parse(bytes(raw))
    except EmailRejected:
        raise
    except RecursionError as exc:
        raise EmailRejected("MIME structure too deep") from exc
    except Exception as exc:  # the stdlib parser has corner cases; the letter is refused with a reason
        raise EmailRejected(f"unparseable message: {type(exc).__name__}: {exc}") from exc


def _parse(raw: bytes) -> ParsedEmail:
    msg = BytesParser(EmailMessage, policy=policy.compat32).parsebytes(raw)
    headers = _headers(msg)
    if not headers:
        raise EmailRejected("no headers")
    senders = _addresses(headers.get("from", [])) or _addresses(headers.get("sender", []))
    if not senders:
        senders = _addresses(headers.get("reply-to", []))
    if not senders:
        raise EmailRejected("no sender address (From)")
    from_name, from_address = senders[0]

    mids = _msgids(headers.get("message-id", [""])[0])
    message_id = mids[0] if mids else None
    irt = _msgids(headers.get("in-reply-to", [""])[0])
    refs = tuple(dict.fromkeys(_msgids(" ".join(headers.get("references", [])))))
    in_reply_to = irt[0] if irt else (refs[-1] if refs else None)
    subject = decode_header_value(headers.get("subject", [""])[0])
    date = _parse_date(decode_header_value(headers["date"][0])) if "date" in headers else None
    if date is None:
        for received in headers.get("received", []):
            date = _parse_date(received.rsplit(";", 1)[-1])
            if date is not None:
                break
    content_type = _content_type(msg)

    body = _Body()
    _walk(msg, body)
    html_raw = "\n".join(body.html) if body.html else None
    full_text = "\n\n".join(t.strip("\n") for t in body.plain if t.strip())
    if not full_text and html_raw:
        full_text = html_to_text(html_raw)
    full_text = full_text.replace("\r\n", "\n").replace("\x00", "")
    reason = _auto_reason(headers, content_type)
    reply_to = _addresses(headers.get("reply-to", []))
    return ParsedEmail(
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=refs,
        subject=subject,
        from_address=from_address,
        from_name=from_name,
        to=tuple(a for _, a in _addresses(headers.get("to", []))),
        cc=tuple(a for _, a in _addresses(headers.get("cc", []))),
        reply_to=reply_to[0][1] if reply_to else None,
        date=date,
        text=split_visible(full_text) if full_text else "",
        full_text=full_text.strip(),
        html=sanitize_html(html_raw) if html_raw else None,
        attachments=tuple(body.attachments),
        is_auto=reason is not None,
        auto_reason=reason,
        defects=tuple(body.defects),
    )
