"""Logging: one line per event (tracebacks folded into it), JSON with ``INBOX_LOG_FORMAT=json``, the request
id of the HTTP request being served, and secrets masked before anything is written.

Secrets are masked twice: by shape (Telegram bot tokens in URLs, bearer tokens, ``password=``/``token=``
pairs) and by value (the secret key and every channel account's credentials register themselves here).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id: ContextVar[str | None] = ContextVar("inbox_request_id", default=None)

_known: set[str] = set()
_SHAPES = (
    (re.compile(r"bot\d{3,}:[A-Za-z0-9_-]{10,}"), "bot<redacted>"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 <redacted>"),
    (
        re.compile(
            r"(?i)\b(password|passwd|token|access_token|auth_token|secret|api_id|api_key|webhook_token)"
            r"(['\"]?\s*[=:]\s*['\"]?)([^\s&'\",}]+)"
        ),
        r"\1\2<redacted>",
    ),
)
RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def register_secret(value: object) -> None:
    """Never write this value to a log (short values would mask ordinary words: they are ignored)."""
    if isinstance(value, str) and len(value) >= 8:
        _known.add(value)


def redact(text: str) -> str:
    for value in sorted(_known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, "<redacted>")
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def new_request_id() -> str:
    return secrets.token_hex(8)


class _Base(logging.Formatter):
    def event(self, record: logging.LogRecord) -> dict[str, Any]:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            out["request_id"] = rid
        for key, value in vars(record).items():
            if key not in RESERVED and key != "request_id" and not key.startswith("_"):
                out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        return out


class JsonFormatter(_Base):
    def format(self, record: logging.LogRecord) -> str:
        return redact(json.dumps(self.event(record), ensure_ascii=False, default=str))


class TextFormatter(_Base):
    """``time level logger [request id] message`` with the traceback on the same line."""

    def format(self, record: logging.LogRecord) -> str:
        ev = self.event(record)
        rid = f" [{ev['request_id']}]" if "request_id" in ev else ""
        line = f"{ev['time']} {ev['level']} {ev['logger']}{rid}: {ev['message']}"
        if "exception" in ev:
            line += " | " + ev["exception"]
        return redact(line.replace("\r", "").replace("\n", " ⏎ "))


def configure(fmt: str = "text", *, verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("aiogram.event", "httpx", "httpcore", "aiosqlite", "uvicorn.access", "alembic", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):  # uvicorn's own handlers would print a second format
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
