"""A local Telegram Bot API emulator (aiohttp) for tests, driven by the real aiogram client.

Wire format as documented at https://core.telegram.org/bots/api:
``POST|GET /bot{token}/{method}`` with query string, ``application/x-www-form-urlencoded``,
``multipart/form-data`` (aiogram: nested values JSON-encoded, files as ``attach://name``) or JSON bodies;
answers ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": N, "description": ...,
"parameters": {...}}``. Files are served at ``GET /file/bot{token}/{file_path}``.

Use in-process (async fixtures)::

    emu = TelegramEmulator()
    base = await emu.start()               # "http://127.0.0.1:PORT"
    emu.queue_update(text_update(42, "привет"))
    emu.fail("sendMessage", "retry_after", retry_after=3)
    ...
    await emu.stop()

or out of process: ``python -m tests.emulators.telegram --port N [--host H] [--token T]`` prints
``READY http://H:N`` on stdout once listening and stops on SIGTERM/SIGINT.

Control API (JSON in, JSON out; ``token`` defaults to the emulator's default token, ``--token``):
- ``POST /_control/updates`` with ``{"update": {...}}``, ``{"updates": [...]}`` or
  ``{"build": "text|photo|document|contact|edited|callback", "args": {...builder kwargs}}``
  (+ optional ``"token"``) -> ``{"queued": [update, ...]}`` (``update_id`` assigned when absent).
  In webhook mode queued updates are POSTed to the webhook URL.
- ``GET /_control/updates?token=`` -> ``{"updates": [...]}`` still unconfirmed.
- ``POST /_control/files`` ``{"content_b64", "filename", "file_id"?, "size"?}``
  -> ``{"file_id", "file_unique_id", "file_path", "size"}`` (``size`` may exceed the bytes given).
- ``POST /_control/faults`` ``{"method": "sendMessage" | "*",
  "kind": "retry_after|blocked|server_error|error|hang", "times": 1 (-1 = until cleared),
  "retry_after": 5, "status": 500, "description": "...", "seconds": 30, "token"?}``
  -> ``{"method", "kind", "times"}``; ``DELETE /_control/faults`` clears them.
- ``GET /_control/requests?method=&token=&wait=SECONDS&min=N&content=0|1`` -> ``{"requests": [{"token",
  "method", "params", "files": {param: {"filename", "content_type", "size", "sha256", "content_b64"}},
  "at", "fault"}]}``; ``wait`` long-polls until ``min`` requests of ``method`` exist.
  ``DELETE /_control/requests`` clears the record.
- ``GET /_control/messages?chat_id=&token=`` -> ``{"messages": [Message, ...]}`` the bot sent (edits applied).
- ``GET /_control/webhook?token=`` -> ``{"url", "secret_token", "pending_update_count",
  "last_error_message"}``.
- ``POST /_control/reset`` clears requests, faults, queued updates and sent messages.
- ``GET /_control/health`` -> ``{"ok": true, "default_token"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

DEFAULT_TOKEN = "123456789:TEST-emulated-bot-token"
MAX_DOWNLOAD = 20 * 1024 * 1024
MAX_TEXT = 4096
MAX_CAPTION = 1024
TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")

INT_FIELDS = {
    "message_id",
    "offset",
    "limit",
    "timeout",
    "reply_to_message_id",
    "max_connections",
    "cache_time",
    "message_thread_id",
    "from_chat_id",
}
BOOL_FIELDS = {
    "drop_pending_updates",
    "disable_notification",
    "protect_content",
    "show_alert",
    "allow_sending_without_reply",
    "has_spoiler",
    "disable_content_type_detection",
    "disable_web_page_preview",
    "ok",
    "need_email",
    "need_phone_number",
}
JSON_FIELDS = {
    "reply_markup",
    "reply_parameters",
    "entities",
    "caption_entities",
    "allowed_updates",
    "link_preview_options",
    "media",
    "prices",
}

FAULT_KINDS = {"retry_after", "blocked", "server_error", "error", "hang"}


def utf16_len(text: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


# ---- realistic update builders (without update_id: queue_update assigns it) ----------------------------

_message_ids = itertools.count(1000)


def user(
    user_id: int = 42,
    first_name: str = "Иван",
    last_name: str | None = "Петров",
    username: str | None = "ivan_petrov",
    language_code: str | None = "ru",
) -> dict[str, Any]:
    u: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if last_name:
        u["last_name"] = last_name
    if username:
        u["username"] = username
    if language_code:
        u["language_code"] = language_code
    return u


def private_chat(sender: dict[str, Any]) -> dict[str, Any]:
    chat = {k: v for k, v in sender.items() if k in {"id", "first_name", "last_name", "username"}}
    chat["type"] = "private"
    return chat


def _message(
    chat_id: int, sender: dict[str, Any] | None, message_id: int | None, date: int | None, **body: Any
) -> dict[str, Any]:
    sender = sender or user(chat_id)
    return {
        "message_id": message_id if message_id is not None else next(_message_ids),
        "from": sender,
        "chat": private_chat(sender) if sender["id"] == chat_id else {"id": chat_id, "type": "private"},
        "date": date if date is not None else int(time.time()),
        **body,
    }


def text_update(
    chat_id: int = 42,
    text: str = "Здравствуйте! Где мой заказ?",
    *,
    sender: dict[str, Any] | None = None,
    message_id: int | None = None,
    date: int | None = None,
    reply_to_message_id: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"text": text}
    if reply_to_message_id is not None:
        body["reply_to_message"] = {
            "message_id": reply_to_message_id,
            "date": int(time.time()) - 60,
            "chat": {"id": chat_id, "type": "private"},
            "text": "…",
        }
    return {"message": _message(chat_id, sender, message_id, date, **body)}


def pre_checkout_update(
    chat_id: int,
    invoice_payload: str,
    total_amount: int,
    *,
    query_id: str | None = None,
    currency: str = "RUB",
    sender: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Telegram Payments: the customer pressed "Pay" in an invoice (the bot must answer within 10 s)."""
    return {
        "pre_checkout_query": {
            "id": query_id or f"pcq{next(_message_ids)}",
            "from": sender or user(chat_id),
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": invoice_payload,
        }
    }


def successful_payment_update(
    chat_id: int,
    invoice_payload: str,
    total_amount: int,
    *,
    charge_id: str | None = None,
    currency: str = "RUB",
    sender: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Telegram Payments: the service message a bot gets once the payment went through."""
    charge = charge_id or f"tg_charge_{next(_message_ids)}"
    body = {
        "successful_payment": {
            "currency": currency,
            "total_amount": total_amount,
            "invoice_payload": invoice_payload,
            "telegram_payment_charge_id": charge,
            "provider_payment_charge_id": f"yk_{charge}",
        }
    }
    return {"message": _message(chat_id, sender, None, None, **body)}


def photo_update(
    chat_id: int = 42,
    file_id: str = "AgACAgIAAxkBAAIBZ2VfPhoto",
    caption: str | None = "Вот фото товара",
    *,
    sender: dict[str, Any] | None = None,
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    sizes = [
        {"file_id": f"{file_id}-s", "file_unique_id": "AQADs", "file_size": 1200, "width": 90, "height": 67},
        {
            "file_id": f"{file_id}-m",
            "file_unique_id": "AQADm",
            "file_size": 15800,
            "width": 320,
            "height": 240,
        },
        {"file_id": file_id, "file_unique_id": "AQADx", "file_size": 81234, "width": 1280, "height": 960},
    ]
    body: dict[str, Any] = {"photo": sizes}
    if caption is not None:
        body["caption"] = caption
    return {"message": _message(chat_id, sender, message_id, date, **body)}


def document_update(
    chat_id: int = 42,
    file_id: str = "BQACAgIAAxkBAAIBaGVfDocument",
    file_name: str = "счёт-1024.pdf",
    mime_type: str = "application/pdf",
    file_size: int = 34567,
    caption: str | None = None,
    *,
    sender: dict[str, Any] | None = None,
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    doc = {
        "file_id": file_id,
        "file_unique_id": "AgADdoc",
        "file_name": file_name,
        "mime_type": mime_type,
        "file_size": file_size,
    }
    body: dict[str, Any] = {"document": doc}
    if caption is not None:
        body["caption"] = caption
    return {"message": _message(chat_id, sender, message_id, date, **body)}


def contact_update(
    chat_id: int = 42,
    phone_number: str = "79991234567",
    *,
    own: bool = True,
    sender: dict[str, Any] | None = None,
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A shared contact; ``own`` = the sender shared their own number (contact.user_id == from.id)."""
    sender = sender or user(chat_id)
    contact: dict[str, Any] = {"phone_number": phone_number, "first_name": sender["first_name"]}
    if own:
        contact["user_id"] = sender["id"]
        if "last_name" in sender:
            contact["last_name"] = sender["last_name"]
    else:
        contact["first_name"] = "Мария"
        contact["user_id"] = sender["id"] + 1000
    return {"message": _message(chat_id, sender, message_id, date, contact=contact)}


def edited_update(
    chat_id: int = 42,
    message_id: int = 1000,
    text: str = "Исправленный текст",
    *,
    sender: dict[str, Any] | None = None,
    date: int | None = None,
    edit_date: int | None = None,
) -> dict[str, Any]:
    msg = _message(
        chat_id, sender, message_id, date if date is not None else int(time.time()) - 30, text=text
    )
    msg["edit_date"] = edit_date if edit_date is not None else int(time.time())
    return {"edited_message": msg}


def callback_update(
    chat_id: int = 42,
    data: str = "order:1024:status",
    *,
    message_id: int = 1000,
    sender: dict[str, Any] | None = None,
    callback_id: str | None = None,
) -> dict[str, Any]:
    sender = sender or user(chat_id)
    bot_user = {"id": 123456789, "is_bot": True, "first_name": "Shop", "username": "shop_bot"}
    return {
        "callback_query": {
            "id": callback_id or str(4382000000000000000 + next(_message_ids)),
            "from": sender,
            "message": {
                "message_id": message_id,
                "from": bot_user,
                "chat": private_chat(sender),
                "date": int(time.time()) - 60,
                "text": "Выберите действие",
            },
            "chat_instance": "-5392837466528374653",
            "data": data,
        }
    }


BUILDERS: dict[str, Callable[..., dict[str, Any]]] = {
    "text": text_update,
    "photo": photo_update,
    "document": document_update,
    "contact": contact_update,
    "edited": edited_update,
    "callback": callback_update,
}


# ---- state --------------------------------------------------------------------------------------------


@dataclass
class UploadedFile:
    filename: str
    content_type: str
    data: bytes

    def to_json(self, with_content: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "filename": self.filename,
            "content_type": self.content_type,
            "size": len(self.data),
            "sha256": hashlib.sha256(self.data).hexdigest(),
        }
        if with_content:
            out["content_b64"] = base64.b64encode(self.data).decode()
        return out


@dataclass
class RecordedRequest:
    token: str
    method: str  # as called (case preserved)
    params: dict[str, Any]
    files: dict[str, UploadedFile]  # keyed by the parameter that referenced them (photo, document)
    at: float
    fault: str | None = None  # the injected fault that answered it, if any

    def to_json(self, with_content: bool = True) -> dict[str, Any]:
        return {
            "token": self.token,
            "method": self.method,
            "params": self.params,
            "files": {k: f.to_json(with_content) for k, f in self.files.items()},
            "at": self.at,
            "fault": self.fault,
        }


@dataclass
class Fault:
    method: str  # lower-cased method name, or "*"
    kind: str
    times: int = 1  # -1: until cleared
    retry_after: int = 5
    status: int = 500
    description: str | None = None
    seconds: float = 30.0  # hang duration
    token: str | None = None


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    data: bytes
    size: int  # may be declared bigger than data, to test the 20 MB limit cheaply


@dataclass
class BotState:
    token: str
    updates: list[dict[str, Any]] = field(default_factory=list)  # unconfirmed, ordered by update_id
    next_update_id: int = 100_000
    webhook_url: str = ""
    webhook_secret: str | None = None
    webhook_last_error: str | None = None
    webhook_last_error_date: int | None = None
    webhook_task: asyncio.Task[None] | None = None
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    sent: list[dict[str, Any]] = field(default_factory=list)  # Message objects the bot sent (latest state)
    next_message_id: int = 5000

    @property
    def bot_id(self) -> int:
        return int(self.token.split(":", 1)[0])


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


# ---- the emulator -------------------------------------------------------------------------------------


class TelegramEmulator:
    def __init__(self, default_token: str = DEFAULT_TOKEN, webhook_retry_delay: float = 0.2) -> None:
        self.default_token = default_token
        self.webhook_retry_delay = webhook_retry_delay
        self.bots: dict[str, BotState] = {}
        self.recorded: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self.files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_seq = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._recorded_changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self.base_url = ""
        self.app = self._build_app()
        # Provider limits (off unless enforce_limits() is called): accepted send times per bot and per chat.
        self.limit_per_bot: int | None = None
        self.limit_per_chat: int | None = None
        self.send_times: dict[str, list[float]] = {}
        self.chat_send_times: dict[tuple[str, str], list[float]] = {}
        self.rate_limited = 0  # 429 answers given for exceeding a limit

    # -- lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        real_port = int(self._runner.addresses[0][1])
        self.base_url = f"http://{host}:{real_port}"
        return self.base_url

    async def stop(self) -> None:
        self._stopping.set()
        for bot in self.bots.values():
            await self._stop_webhook(bot)
            async with bot.changed:  # wake long polls so the server can shut down at once
                bot.changed.notify_all()
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- test-facing API

    def bot(self, token: str | None = None) -> BotState:
        token = token or self.default_token
        if token not in self.bots:
            self.bots[token] = BotState(token=token)
        return self.bots[token]

    def queue_update(self, update: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        """Queue an inbound update (assigns ``update_id`` when absent); returns it."""
        bot = self.bot(token)
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = bot.next_update_id
        bot.next_update_id = max(bot.next_update_id, int(update["update_id"])) + 1
        bot.updates.append(update)
        bot.updates.sort(key=lambda u: int(u["update_id"]))
        self._notify(bot)
        return update

    def add_file(
        self,
        data: bytes,
        filename: str = "file.bin",
        *,
        file_id: str | None = None,
        size: int | None = None,
        folder: str = "documents",
    ) -> StoredFile:
        """Register a downloadable file; ``size`` may declare a larger size than ``data`` (limit tests)."""
        n = next(self._file_seq)
        file_id = file_id or f"EMU{n:06d}" + hashlib.sha1(data).hexdigest()[:16]
        ext = filename.rsplit(".", 1)[1] if "." in filename else "bin"
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=f"U{n:06d}",
            file_path=f"{folder}/file_{n}.{ext}",
            data=data,
            size=len(data) if size is None else size,
        )
        self.files[file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def fail(
        self, method: str, kind: str, *, times: int = 1, token: str | None = None, **options: Any
    ) -> Fault:
        """Make the next ``times`` calls of ``method`` ("*" = any) fail. Kinds: retry_after (429),
        blocked (403), server_error (``status``, default 500), error (any ``status`` + ``description``),
        hang (``seconds``, then answers normally)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if times == 0 or times < -1:
            raise ValueError("times must be a positive count, or -1 for 'until cleared'")
        fault = Fault(method=method.lower(), kind=kind, times=times, token=token, **options)
        self.faults.append(fault)
        return fault

    def enforce_limits(self, per_bot: int = 30, per_chat: int = 1) -> None:
        """Answer 429 (retry_after 1) to a send that would make more than ``per_bot`` sends of a bot, or
        ``per_chat`` to one chat, within one second (a rolling window, as Telegram counts)."""
        self.limit_per_bot, self.limit_per_chat = per_bot, per_chat

    def max_in_window(self, window: float = 1.0) -> tuple[int, int]:
        """The most accepted sends seen in any ``window`` seconds: (of one bot, to one chat)."""
        return (
            max((_max_in_window(t, window) for t in self.send_times.values()), default=0),
            max((_max_in_window(t, window) for t in self.chat_send_times.values()), default=0),
        )

    def _over_limit(self, token: str, method: str, params: dict[str, Any]) -> bool:
        if self.limit_per_bot is None or not method.lower().startswith("send"):
            return False
        now = time.monotonic()
        bot_times = self.send_times.setdefault(token, [])
        chat_times = self.chat_send_times.setdefault((token, str(params.get("chat_id"))), [])
        if _count_since(bot_times, now - 1.0) >= self.limit_per_bot or (
            self.limit_per_chat is not None and _count_since(chat_times, now - 1.0) >= self.limit_per_chat
        ):
            self.rate_limited += 1
            return True
        bot_times.append(now)
        chat_times.append(now)
        return False

    def requests(self, method: str | None = None, token: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.recorded
            if (method is None or r.method.lower() == method.lower()) and (token is None or r.token == token)
        ]

    async def wait_for_requests(
        self, method: str, count: int = 1, timeout: float = 5.0
    ) -> list[RecordedRequest]:
        """Wait until at least ``count`` requests of ``method`` were recorded; raises TimeoutError."""
        async with asyncio.timeout(timeout):
            while len(found := self.requests(method)) < count:
                self._recorded_changed.clear()
                await self._recorded_changed.wait()
        return found

    def reset(self) -> None:
        self.recorded.clear()
        self.faults.clear()
        self.send_times.clear()
        self.chat_send_times.clear()
        self.rate_limited = 0
        for bot in self.bots.values():
            bot.updates.clear()
            bot.sent.clear()

    # -- internals

    def _notify(self, bot: BotState) -> None:
        async def _wake() -> None:
            async with bot.changed:
                bot.changed.notify_all()

        with contextlib.suppress(RuntimeError):  # no running loop: nobody can be waiting yet
            task = asyncio.get_running_loop().create_task(_wake())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if bot.webhook_url:
            self._ensure_webhook_task(bot)

    def _take_fault(self, token: str, method: str) -> Fault | None:
        for fault in self.faults:
            if fault.method not in {"*", method.lower()} or (fault.token and fault.token != token):
                continue
            if fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
            return fault
        return None

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._control_routes(app)
        return app

    async def _read_params(self, request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
        raw: dict[str, Any] = dict(request.query)
        uploads: dict[str, UploadedFile] = {}
        ctype = request.content_type
        if request.method == "POST" and ctype == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ApiError(400, "Bad Request: request body must be a JSON object")
            raw.update(body)
        elif request.method == "POST" and ctype in {
            "multipart/form-data",
            "application/x-www-form-urlencoded",
        }:
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    uploads[key] = UploadedFile(
                        filename=value.filename,
                        content_type=value.content_type or "application/octet-stream",
                        data=value.file.read(),
                    )
                else:
                    raw[key] = value
        params: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        for key, value in raw.items():
            params[key] = _coerce(key, value)
            if isinstance(value, str) and value.startswith("attach://") and value[9:] in uploads:
                files[key] = uploads.pop(value[9:])
        files.update(uploads)  # files posted directly under the parameter name
        for key in files:
            params.setdefault(key, f"attach://{key}")
        return params, files

    async def _api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        try:
            params, files = await self._read_params(request)
        except (ValueError, ApiError) as exc:
            return _error(ApiError(400, f"Bad Request: {exc}"))
        record = RecordedRequest(token=token, method=method, params=params, files=files, at=time.time())
        self.recorded.append(record)
        self._recorded_changed.set()
        if not TOKEN_RE.match(token):
            return _error(ApiError(401, "Unauthorized"))
        fault = self._take_fault(token, method)
        if fault is not None:
            record.fault = fault.kind
            if fault.kind == "hang":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), fault.seconds)
            else:
                return _error(_fault_error(fault))
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return _error(ApiError(404, "Not Found"))
        if self._over_limit(token, method, params):
            record.fault = "rate_limited"
            return _error(ApiError(429, "Too Many Requests: retry after 1", {"retry_after": 1}))
        bot = self.bot(token)
        try:
            result = await handler(bot, params, files)
        except ApiError as exc:
            return _error(exc)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.StreamResponse:
        stored = self._files_by_path.get(request.match_info["path"])
        if stored is None or not TOKEN_RE.match(request.match_info["token"]):
            return _error(ApiError(404, "Not Found"))
        return web.Response(body=stored.data, content_type="application/octet-stream")

    # -- Bot API methods

    async def _m_getme(self, bot: BotState, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        return {
            "id": bot.bot_id,
            "is_bot": True,
            "first_name": "Emulated Shop Bot",
            "username": f"emulated_{bot.bot_id}_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _m_getupdates(
        self, bot: BotState, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        if bot.webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = max(0, int(params.get("timeout") or 0))
        if offset < 0:
            bot.updates = bot.updates[offset:]
        elif offset > 0:
            bot.updates = [u for u in bot.updates if int(u["update_id"]) >= offset]
        if not bot.updates and timeout:
            async with bot.changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        bot.changed.wait_for(lambda: bool(bot.updates) or self._stopping.is_set()), timeout
                    )
        return bot.updates[:limit]

    async def _m_setwebhook(
        self, bot: BotState, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        url = str(params.get("url") or "")
        if url and not url.startswith(("http://", "https://")):
            raise ApiError(
                400, "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443"
            )
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            bot.updates.clear()
        await self._stop_webhook(bot)
        bot.webhook_url = url
        bot.webhook_secret = str(secret) if secret is not None else None
        if url:
            self._ensure_webhook_task(bot)
        return True

    async def _m_deletewebhook(
        self, bot: BotState, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        if params.get("drop_pending_updates"):
            bot.updates.clear()
        await self._stop_webhook(bot)
        bot.webhook_url = ""
        bot.webhook_secret = None
        return True

    async def _m_getwebhookinfo(
        self, bot: BotState, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        info: dict[str, Any] = {
            "url": bot.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(bot.updates),
            "max_connections": 40,
        }
        if bot.webhook_last_error:
            info["last_error_date"] = bot.webhook_last_error_date
            info["last_error_message"] = bot.webhook_last_error
        return info

    def _new_message(self, bot: BotState, params: dict[str, Any], **body: Any) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            chat: dict[str, Any] = {"id": int(chat_id), "type": "private"}
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: chat not found") from None
        bot.next_message_id += 1
        msg: dict[str, Any] = {
            "message_id": bot.next_message_id,
            "from": {
                "id": bot.bot_id,
                "is_bot": True,
                "first_name": "Emulated Shop Bot",
                "username": f"emulated_{bot.bot_id}_bot",
            },
            "chat": chat,
            "date": int(time.time()),
            **body,
        }
        markup = params.get("reply_markup")
        if markup:
            if not isinstance(markup, dict):
                raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
            _check_inline_keyboard(markup)
            msg["reply_markup"] = markup
        reply = params.get("reply_parameters")
        reply_id = reply.get("message_id") if isinstance(reply, dict) else params.get("reply_to_message_id")
        if reply_id:
            original = next(
                (m for m in bot.sent if m["chat"]["id"] == chat["id"] and m["message_id"] == int(reply_id)),
                None,
            )
            msg["reply_to_message"] = original or {
                "message_id": int(reply_id),
                "date": msg["date"],
                "chat": chat,
            }
        bot.sent.append(msg)
        return msg

    async def _m_sendmessage(
        self, bot: BotState, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: message is too long")
        return self._new_message(bot, params, text=text)

    async def _m_sendinvoice(
        self, bot: BotState, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        """As core.telegram.org/bots/api#sendinvoice: title 1-32, description 1-255, payload 1-128 bytes,
        currency, prices (LabeledPrice list, amounts in minor units); provider_token for real currencies."""
        title, description = str(params.get("title") or ""), str(params.get("description") or "")
        payload = str(params.get("payload") or "")
        if not 1 <= len(title) <= 32:
            raise ApiError(400, "Bad Request: INVOICE_TITLE_INVALID")
        if not 1 <= len(description) <= 255:
            raise ApiError(400, "Bad Request: INVOICE_DESCRIPTION_INVALID")
        if not 1 <= len(payload.encode()) <= 128:
            raise ApiError(400, "Bad Request: INVOICE_PAYLOAD_INVALID")
        if params.get("currency") != "XTR" and not params.get("provider_token"):
            raise ApiError(400, "Bad Request: PAYMENT_PROVIDER_INVALID")
        prices = params.get("prices")
        if not isinstance(prices, list) or not prices:
            raise ApiError(400, "Bad Request: prices must be a non-empty array")
        total = 0
        for price in prices:
            if (
                not isinstance(price, dict)
                or not isinstance(price.get("amount"), int)
                or not price.get("label")
            ):
                raise ApiError(400, "Bad Request: can't parse prices JSON object")
            total += int(price["amount"])
        if total <= 0:
            raise ApiError(400, "Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID")
        invoice = {
            "title": title,
            "description": description,
            "start_parameter": str(params.get("start_parameter") or ""),
            "currency": str(params.get("currency")),
            "total_amount": total,
        }
        return self._new_message(bot, params, invoice=invoice)

    async def _m_answerprecheckoutquery(
        self, bot: BotState, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        ok = params.get("ok")
        if not params.get("pre_checkout_query_id"):
            raise ApiError(400, "Bad Request: QUERY_ID_INVALID")
        if not ok and not params.get("error_message"):
            raise ApiError(400, "Bad Request: error_message is required when ok is false")
        return True

    def _media(self, params: dict[str, Any], files: dict[str, UploadedFile], name: str) -> StoredFile:
        if name in files:
            up = files[name]
            return self.add_file(up.data, up.filename, folder="photos" if name == "photo" else "documents")
        ref = params.get(name)
        if isinstance(ref, str) and ref in self.files:
            return self.files[ref]
        raise ApiError(400, f"Bad Request: wrong file identifier/HTTP URL specified ({name})")

    def _caption(self, params: dict[str, Any]) -> dict[str, Any]:
        caption = params.get("caption")
        if not caption:
            return {}
        if utf16_len(str(caption)) > MAX_CAPTION:
            raise ApiError(400, "Bad Request: message caption is too long")
        return {"caption": str(caption)}

    async def _m_sendphoto(
        self, bot: BotState, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        stored = self._media(params, files, "photo")
        size = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "width": 800,
            "height": 600,
        }
        return self._new_message(bot, params, photo=[size], **self._caption(params))

    async def _m_senddocument(
        self, bot: BotState, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        stored = self._media(params, files, "document")
        up = files.get("document")
        doc = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_name": up.filename if up else stored.file_path.rsplit("/", 1)[-1],
            "mime_type": up.content_type if up else "application/octet-stream",
        }
        return self._new_message(bot, params, document=doc, **self._caption(params))

    async def _m_getfile(self, bot: BotState, params: dict[str, Any], files: dict[str, UploadedFile]) -> Any:
        stored = self.files.get(str(params.get("file_id") or ""))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if stored.size > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    async def _m_editmessagetext(
        self, bot: BotState, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        text = str(params.get("text") or "")
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(text) > MAX_TEXT:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        try:
            chat_id, message_id = int(params.get("chat_id") or 0), int(params.get("message_id") or 0)
        except ValueError:
            raise ApiError(400, "Bad Request: chat not found") from None
        for msg in bot.sent:
            if msg["chat"]["id"] == chat_id and msg["message_id"] == message_id:
                if msg.get("text") == text and "reply_markup" not in params:
                    raise ApiError(
                        400,
                        "Bad Request: message is not modified: specified new message content "
                        "and reply markup are exactly the same as a current content and reply "
                        "markup of the message",
                    )
                msg["text"] = text
                msg["edit_date"] = int(time.time())
                if isinstance(params.get("reply_markup"), dict):
                    msg["reply_markup"] = params["reply_markup"]
                return msg
        raise ApiError(400, "Bad Request: message to edit not found")

    async def _m_answercallbackquery(
        self, bot: BotState, params: dict[str, Any], files: dict[str, UploadedFile]
    ) -> Any:
        if not params.get("callback_query_id"):
            raise ApiError(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        return True

    # -- webhook delivery

    def _ensure_webhook_task(self, bot: BotState) -> None:
        if bot.webhook_task is None or bot.webhook_task.done():
            bot.webhook_task = asyncio.get_running_loop().create_task(self._deliver(bot))

    async def _stop_webhook(self, bot: BotState) -> None:
        task, bot.webhook_task = bot.webhook_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver(self, bot: BotState) -> None:
        """POST pending updates one by one to the webhook; an update is confirmed only by a 2xx answer."""
        if self._client is None:
            self._client = ClientSession(timeout=ClientTimeout(total=10))
        while bot.webhook_url and not self._stopping.is_set():
            if not bot.updates:
                async with bot.changed:
                    await bot.changed.wait_for(lambda: bool(bot.updates) or not bot.webhook_url)
                continue
            update = bot.updates[0]
            headers = {"Content-Type": "application/json"}
            if bot.webhook_secret:
                headers["X-Telegram-Bot-Api-Secret-Token"] = bot.webhook_secret
            try:
                async with self._client.post(
                    bot.webhook_url, data=json.dumps(update), headers=headers
                ) as resp:
                    ok = 200 <= resp.status < 300
                    error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
            except Exception as exc:  # any transport failure is reported like Telegram does
                ok, error = False, f"Connection error: {type(exc).__name__}"
            if ok:
                if bot.updates and bot.updates[0] is update:
                    bot.updates.pop(0)
            else:
                bot.webhook_last_error, bot.webhook_last_error_date = error, int(time.time())
                await asyncio.sleep(self.webhook_retry_delay)

    # -- control API (for out-of-process tests) ------------------------------------------------------------

    def _control_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/_control/updates", self._c_queue_updates)
        r.add_get("/_control/updates", self._c_pending_updates)
        r.add_post("/_control/files", self._c_add_file)
        r.add_post("/_control/faults", self._c_add_fault)
        r.add_delete("/_control/faults", self._c_clear_faults)
        r.add_get("/_control/requests", self._c_requests)
        r.add_delete("/_control/requests", self._c_clear_requests)
        r.add_get("/_control/messages", self._c_messages)
        r.add_get("/_control/webhook", self._c_webhook)
        r.add_post("/_control/reset", self._c_reset)
        r.add_get("/_control/health", self._c_health)

    @staticmethod
    async def _json_body(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError as exc:
            raise web.HTTPBadRequest(text=f"body must be JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="body must be a JSON object")
        return body

    async def _c_queue_updates(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        token = body.get("token") or request.query.get("token")
        items: list[Any] = body.get("updates") or ([body["update"]] if "update" in body else [])
        if "build" in body:
            builder = BUILDERS.get(str(body["build"]))
            if builder is None:
                raise web.HTTPBadRequest(text=f"unknown builder {body['build']!r}; one of {sorted(BUILDERS)}")
            try:
                items.append(builder(**(body.get("args") or {})))
            except TypeError as exc:
                raise web.HTTPBadRequest(text=f"bad builder args: {exc}") from exc
        if not items or not all(isinstance(u, dict) for u in items):
            raise web.HTTPBadRequest(text="give 'update', 'updates' or 'build' (+ 'args')")
        queued = [self.queue_update(u, token) for u in items]
        return web.json_response({"queued": queued})

    async def _c_pending_updates(self, request: web.Request) -> web.Response:
        bot = self.bot(request.query.get("token"))
        return web.json_response({"updates": bot.updates})

    async def _c_add_file(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        try:
            data = base64.b64decode(str(body.get("content_b64") or ""), validate=True)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=f"content_b64 is not base64: {exc}") from exc
        stored = self.add_file(
            data, str(body.get("filename") or "file.bin"), file_id=body.get("file_id"), size=body.get("size")
        )
        return web.json_response(
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_path": stored.file_path,
                "size": stored.size,
            }
        )

    async def _c_add_fault(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        options = {k: body[k] for k in ("retry_after", "status", "description", "seconds") if k in body}
        try:
            fault = self.fail(
                str(body.get("method") or "*"),
                str(body.get("kind")),
                times=int(body.get("times", 1)),
                token=body.get("token"),
                **options,
            )
        except (TypeError, ValueError) as exc:
            raise web.HTTPBadRequest(text=str(exc)) from exc
        return web.json_response({"method": fault.method, "kind": fault.kind, "times": fault.times})

    async def _c_clear_faults(self, request: web.Request) -> web.Response:
        self.faults.clear()
        return web.json_response({"ok": True})

    async def _c_requests(self, request: web.Request) -> web.Response:
        method, token = request.query.get("method"), request.query.get("token")
        wait, minimum = float(request.query.get("wait", 0)), int(request.query.get("min", 1))
        if wait and method:
            with contextlib.suppress(TimeoutError):
                await self.wait_for_requests(method, minimum, wait)
        with_content = request.query.get("content", "1") not in {"0", "false"}
        found = [r.to_json(with_content) for r in self.requests(method, token)]
        return web.json_response({"requests": found})

    async def _c_clear_requests(self, request: web.Request) -> web.Response:
        self.recorded.clear()
        return web.json_response({"ok": True})

    async def _c_messages(self, request: web.Request) -> web.Response:
        bot = self.bot(request.query.get("token"))
        chat = request.query.get("chat_id")
        msgs = [m for m in bot.sent if chat is None or str(m["chat"]["id"]) == chat]
        return web.json_response({"messages": msgs})

    async def _c_webhook(self, request: web.Request) -> web.Response:
        bot = self.bot(request.query.get("token"))
        return web.json_response(
            {
                "url": bot.webhook_url,
                "secret_token": bot.webhook_secret,
                "pending_update_count": len(bot.updates),
                "last_error_message": bot.webhook_last_error,
            }
        )

    async def _c_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _c_health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "default_token": self.default_token})


def _count_since(times: list[float], since: float) -> int:
    n = 0
    for t in reversed(times):
        if t <= since:
            break
        n += 1
    return n


def _max_in_window(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def _coerce(key: str, value: Any) -> Any:
    """Form values arrive as strings; give them the Bot API's types for assertions."""
    if not isinstance(value, str):
        return value
    if key in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            raise ValueError(f"can't parse {key} JSON object") from None
    if key in INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"field {key} must be an integer") from None
    if key in BOOL_FIELDS:
        return value.lower() in {"true", "1"}
    if key == "chat_id":
        return int(value) if re.fullmatch(r"-?\d+", value) else value
    return value


def _check_inline_keyboard(markup: dict[str, Any]) -> None:
    rows = markup.get("inline_keyboard")
    if rows is None:
        return
    for row in rows:
        for button in row:
            if not button.get("text"):
                raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if data is None and not button.get("url"):
                raise ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: Text buttons are unallowed "
                    "in the inline keyboard",
                )


def _fault_error(fault: Fault) -> ApiError:
    if fault.kind == "retry_after":
        return ApiError(
            429, f"Too Many Requests: retry after {fault.retry_after}", {"retry_after": fault.retry_after}
        )
    if fault.kind == "blocked":
        return ApiError(403, "Forbidden: bot was blocked by the user")
    if fault.kind == "server_error":
        return ApiError(fault.status, fault.description or "Internal Server Error")
    return ApiError(fault.status, fault.description or "Bad Request")


def _error(exc: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
    if exc.parameters:
        body["parameters"] = exc.parameters
    return web.json_response(body, status=exc.code)


async def _serve(host: str, port: int, token: str) -> None:
    emu = TelegramEmulator(default_token=token)
    base = await emu.start(host, port)
    print(f"READY {base}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await emu.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Telegram Bot API emulator for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="bot token the control API uses by default")
    args = parser.parse_args()
    asyncio.run(_serve(args.host, args.port, args.token))


if __name__ == "__main__":
    main()
