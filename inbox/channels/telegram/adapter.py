"""Telegram adapter: long polling or webhook in, Bot API methods out (``botapi.BotApi``, not aiogram's
``Bot``: aiogram's types cost every process ~150 MB, see botapi's docstring).

Account configuration (``channel_account`` row):
- ``secrets["token"]``: the bot token from @BotFather (``123456:ABC...``).
- ``secrets["webhook_secret"]`` (optional): the ``secret_token`` for setWebhook; when absent one is derived
  from the instance secret key and the account id, so a webhook is never unauthenticated.
- ``settings["mode"]``: ``"polling"`` (default) or ``"webhook"``.
- ``settings["public_url"]``: the shop's public base URL for webhooks (falls back to ``INBOX_PUBLIC_URL``).
- ``settings["api_base"]``: a self-hosted Bot API server (or the test emulator), e.g. ``http://127.0.0.1:8081``.
- ``settings["request_timeout"]`` (seconds, default 30) and ``settings["poll_timeout"]`` (long-poll wait,
  default 25).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import logging
import re
import secrets
from pathlib import Path
from typing import Any, ClassVar

import aiohttp

from inbox import textsafe
from inbox.channels.splitting import split_text, utf16_len
from inbox.channels.telegram.botapi import (
    BadRequest,
    BotApi,
    BotApiError,
    DecodeError,
    EntityTooLarge,
    Forbidden,
    MigrateToChat,
    NotFound,
    RetryAfter,
    Unauthorized,
    Upload,
)
from inbox.channels.telegram.spec import CAPABILITIES
from inbox.channels.telegram.updates import chat_of, message_external_id, parse_update
from inbox.core.types import (
    AccountConfig,
    Attachment,
    Button,
    Capabilities,
    ChannelKind,
    InboundItem,
    InboundSink,
    OutboundMessage,
    PermanentSendError,
    PollState,
    RawEvent,
    SendError,
    SentMessage,
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
    WebhookResult,
)
from inbox.settings import Settings

log = logging.getLogger(__name__)

TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
SECRET_HEADER = "x-telegram-bot-api-secret-token"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024  # getFile limit for bots
MAX_PHOTO_UPLOAD = 10 * 1024 * 1024  # bigger photos go as documents
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
BACKOFF_START = 0.5
BACKOFF_MAX = 30.0


class TelegramConfigError(ValueError):
    """The account cannot work as configured (bad token, mode, missing public URL, token rejected)."""


class AttachmentFetchError(Exception):
    """An inbound attachment could not be downloaded; ``transient`` says whether a retry may help."""

    def __init__(self, reason: str, transient: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class AttachmentTooLarge(AttachmentFetchError):
    """Bots may download files up to 20 MB; bigger ones stay on Telegram's side."""


class TelegramChannel:
    kind: ClassVar[str] = ChannelKind.TELEGRAM
    capabilities: ClassVar[Capabilities] = CAPABILITIES

    def __init__(self, account: AccountConfig, settings: Settings) -> None:
        if account.kind != ChannelKind.TELEGRAM:
            raise TelegramConfigError(f"account {account.name!r} is a {account.kind} account, not telegram")
        token = account.secrets.get("token")
        if not isinstance(token, str) or not TOKEN_RE.match(token):
            raise TelegramConfigError(
                f"telegram account {account.name!r}: secrets.token must look like 123456789:AAE..."
            )
        cfg = account.settings
        mode = cfg.get("mode") or "polling"
        if mode not in {"polling", "webhook"}:
            raise TelegramConfigError(f"telegram account {account.name!r}: mode must be polling or webhook")
        secret = account.secrets.get("webhook_secret") or _derived_secret(settings.secret_key, account.id)
        if not isinstance(secret, str) or not SECRET_RE.match(secret):
            raise TelegramConfigError(
                f"telegram account {account.name!r}: webhook_secret must be 1-256 characters A-Z a-z 0-9 _ -"
            )
        self.account = account
        self.account_id = account.id
        self.settings = settings
        self.mode: str = mode
        self.public_url: str = str(cfg.get("public_url") or settings.public_url or "").rstrip("/")
        self.webhook_secret: str = secret
        # During a key rotation Telegram still sends the secret registered under the old key until the
        # webhook is set again (at start, with the new one).
        self.accepted_secrets: tuple[str, ...] = (secret,)
        if not account.secrets.get("webhook_secret") and settings.secret_key_old:
            self.accepted_secrets += (_derived_secret(settings.secret_key_old, account.id),)
        self.request_timeout = _positive(cfg.get("request_timeout", 30), "request_timeout", account.name)
        self.send_timeout = self.request_timeout  # the outbox starts a send only while its lease covers this
        self.poll_timeout = max(1, int(_positive(cfg.get("poll_timeout", 25), "poll_timeout", account.name)))
        # Pacing the outbox should use: the instance's settings, which may differ from the ClassVar defaults.
        self.rate_per_account: float = settings.telegram_rate_per_bot
        self.rate_per_chat: float = settings.telegram_rate_per_chat
        api_base = cfg.get("api_base")
        self.bot = BotApi(token, str(api_base) if api_base else None, timeout=self.request_timeout)

    @property
    def webhook_url(self) -> str:
        return f"{self.public_url}/webhooks/telegram/{self.account_id}"

    # ---- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Webhook mode: register our URL and secret. Polling mode: remove any webhook so getUpdates works.
        Raises TelegramConfigError (fix the account) or TransientSendError (try again later)."""
        if self.mode == "webhook" and not self.public_url:
            raise TelegramConfigError(
                f"telegram account {self.account.name!r} is in webhook mode but has no public_url "
                "(set settings.public_url or INBOX_PUBLIC_URL)"
            )
        try:
            if self.mode == "webhook":
                params = {"url": self.webhook_url, "secret_token": self.webhook_secret}
                await self.bot.call("setWebhook", params)
            else:
                await self.bot.call("deleteWebhook", {"drop_pending_updates": False})
        except BotApiError as exc:
            error = map_error(exc)
            if isinstance(error, PermanentSendError):
                raise TelegramConfigError(f"telegram refused the {self.mode} setup: {error.reason}") from exc
            raise error from exc

    async def close(self) -> None:
        await self.bot.close()

    # ---- inbound ------------------------------------------------------------------------------------------

    async def run(self, sink: InboundSink, state: PollState) -> None:
        """Long-poll getUpdates forever. Each batch is committed through ``sink`` before the offset is saved,
        so a crash or a failing sink re-fetches the same updates (the core dedups on update_id)."""
        if self.mode != "polling":
            return
        saved = dict(await state.load())
        offset = saved.get("offset")
        if not isinstance(offset, int) or isinstance(offset, bool):
            offset = None
        delay = BACKOFF_START
        while True:
            try:
                answer = await self.bot.call(
                    "getUpdates",
                    {"offset": offset, "timeout": self.poll_timeout},
                    timeout=int(self.request_timeout + self.poll_timeout),
                )
                updates = _updates(answer)
            except RetryAfter as exc:
                log.warning(
                    "telegram %s: getUpdates flood control, waiting %ss", self.account_id, exc.retry_after
                )
                await asyncio.sleep(exc.retry_after)
                continue
            except Unauthorized as exc:
                raise TelegramConfigError(
                    f"telegram account {self.account.name!r}: the bot token was rejected ({exc.message})"
                ) from exc
            except BotApiError as exc:
                log.warning(
                    "telegram %s: getUpdates failed (%s), retrying in %.1fs", self.account_id, exc, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            if not updates:
                delay = BACKOFF_START
                continue
            events = [RawEvent(key=str(u["update_id"]), payload=u, chat=chat_of(u)) for u in updates]
            try:
                await sink(events)
                new_offset = max(int(u["update_id"]) for u in updates) + 1
                saved["offset"] = new_offset
                await state.save(dict(saved))
            except Exception:
                log.exception(
                    "telegram %s: storing %d updates failed; they will be fetched again",
                    self.account_id,
                    len(events),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            offset = new_offset
            delay = BACKOFF_START

    def handle_webhook(self, request: WebhookRequest) -> WebhookResult:
        if request.sub_path:
            raise WebhookRejected(404, f"telegram webhooks have no {request.sub_path!r} endpoint")
        got = request.headers.get(SECRET_HEADER)
        if got is None:
            raise WebhookRejected(401, "missing X-Telegram-Bot-Api-Secret-Token header")
        given = got.encode("utf-8", "replace")
        if not any(secrets.compare_digest(given, known.encode()) for known in self.accepted_secrets):
            raise WebhookRejected(401, "wrong X-Telegram-Bot-Api-Secret-Token")
        if len(request.body) > self.settings.max_webhook_bytes:
            raise WebhookRejected(413, f"update larger than {self.settings.max_webhook_bytes} bytes")
        try:
            payload = textsafe.loads(request.body)
        except ValueError as exc:
            raise WebhookRejected(400, f"body is not valid JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise WebhookRejected(400, "body must be a JSON object (a Telegram Update)")
        update_id = payload.get("update_id")
        if (
            not isinstance(update_id, int)
            or isinstance(update_id, bool)
            or not textsafe.fits_int64(update_id)
        ):
            raise WebhookRejected(400, "update has no integer update_id")
        return WebhookResult(events=(RawEvent(key=str(update_id), payload=payload, chat=chat_of(payload)),))

    async def parse(self, event: RawEvent) -> list[InboundItem]:
        """Raises telegram_updates.TelegramPayloadError (a ValueError) for a malformed update."""
        return parse_update(event.payload, self.account_id, self.settings.default_region)

    async def fetch(self, attachment: Attachment) -> bytes:
        if not attachment.ref:
            raise AttachmentFetchError(f"attachment {attachment.filename!r} has no Telegram file_id")
        if attachment.size > MAX_DOWNLOAD_BYTES:
            raise _too_large(attachment.filename, attachment.size)
        try:
            file = await self.bot.call("getFile", {"file_id": attachment.ref})
        except BadRequest as exc:
            if "too big" in exc.message.lower():
                raise _too_large(attachment.filename, attachment.size) from exc
            raise AttachmentFetchError(f"Telegram refused the file: {exc.message}") from exc
        except BotApiError as exc:
            error = map_error(exc)
            raise AttachmentFetchError(error.reason, transient=isinstance(error, TransientSendError)) from exc
        if not isinstance(file, dict):
            raise AttachmentFetchError("Telegram answered getFile without a file", transient=True)
        file_size = file.get("file_size")
        if isinstance(file_size, int) and file_size > MAX_DOWNLOAD_BYTES:
            raise _too_large(attachment.filename, file_size)
        file_path = file.get("file_path")
        if not file_path or not isinstance(file_path, str):
            raise AttachmentFetchError("Telegram gave no file_path for the file", transient=True)
        url = self.bot.file_url(file_path)
        buf = io.BytesIO()
        try:
            async for chunk in self.bot.stream(url, timeout=int(max(1, self.request_timeout))):
                buf.write(chunk)
                if buf.tell() > MAX_DOWNLOAD_BYTES:
                    raise _too_large(attachment.filename, buf.tell())
        except aiohttp.ClientResponseError as exc:
            raise AttachmentFetchError(
                f"file download failed: HTTP {exc.status}", transient=exc.status >= 500 or exc.status == 429
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AttachmentFetchError(f"file download failed: {type(exc).__name__}", transient=True) from exc
        return buf.getvalue()

    # ---- outbound -----------------------------------------------------------------------------------------

    async def send(self, msg: OutboundMessage) -> SentMessage:
        """Text (split into 4096-unit parts) and attachments; a short text rides as the first file's caption.
        Buttons go on the last part, reply_to on the first. external_id is the first part's
        ``chat_id:message_id``; ``meta["parts"]`` lists all parts. A failure after some parts were delivered
        says so in the error's reason (Telegram has no idempotency key, a retry re-sends those parts)."""
        chat_id = _chat_id(msg.chat_id)
        markup = _keyboard(msg.buttons)
        reply = _reply_parameters(msg.reply_to_external_id, chat_id)
        files = [(a, self._input_file(a)) for a in msg.attachments]
        text = (msg.text or "").strip()
        if not text and not files:
            raise PermanentSendError("nothing to send: empty text and no attachments")
        caption: str | None = None
        chunks: list[str] = []
        if files and utf16_len(text) <= MAX_CAPTION:
            caption = text or None
        else:
            chunks = split_text(text, MAX_TEXT)
        total = len(chunks) + len(files)
        sent: list[str] = []
        try:
            for chunk in chunks:
                m = await self.bot.call(
                    "sendMessage",
                    {
                        "chat_id": chat_id,
                        "text": chunk,
                        "reply_parameters": reply if not sent else None,
                        "reply_markup": markup if len(sent) == total - 1 else None,
                    },
                )
                sent.append(_external_id(m))
            for i, (attachment, input_file) in enumerate(files):
                field = "photo" if _as_photo(attachment) else "document"
                params: dict[str, Any] = {
                    "chat_id": chat_id,
                    "caption": caption if i == 0 else None,
                    "reply_parameters": reply if not sent else None,
                    "reply_markup": markup if len(sent) == total - 1 else None,
                }
                uploads: dict[str, Upload] = {}
                if isinstance(input_file, Upload):
                    uploads[field] = input_file
                else:
                    params[field] = input_file
                method = "sendPhoto" if field == "photo" else "sendDocument"
                m = await self.bot.call(method, params, files=uploads)
                sent.append(_external_id(m))
        except BotApiError as exc:
            error = map_error(exc)
            if sent:
                error.reason = f"{error.reason} (after {len(sent)} of {total} parts were delivered)"
                error.args = (error.reason,)
            raise error from exc
        return SentMessage(external_id=sent[0], meta={"parts": sent})

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        try:
            await self.bot.call("answerCallbackQuery", {"callback_query_id": callback_id, "text": text})
        except BotApiError as exc:
            raise map_error(exc) from exc

    # ---- Telegram Payments ------------------------------------------------------------------------------

    async def send_invoice(
        self,
        chat_id: str,
        *,
        title: str,
        description: str,
        payload: str,
        provider_token: str,
        prices: list[tuple[str, int]],
        currency: str = "RUB",
        provider_data: str | None = None,
    ) -> str:
        """sendInvoice; returns the message's external id. Raises Transient/PermanentSendError."""
        try:
            sent = await self.bot.call(
                "sendInvoice",
                {
                    "chat_id": _chat_id(chat_id),
                    "title": title[:32],
                    "description": description[:255],
                    "payload": payload,
                    "provider_token": provider_token,
                    "currency": currency,
                    "prices": [{"label": label[:64], "amount": amount} for label, amount in prices],
                    "provider_data": provider_data,
                },
            )
        except BotApiError as exc:
            raise map_error(exc) from exc
        return _external_id(sent)

    async def answer_pre_checkout(self, query_id: str, ok: bool, error_message: str | None = None) -> None:
        try:
            await self.bot.call(
                "answerPreCheckoutQuery",
                {"pre_checkout_query_id": query_id, "ok": ok, "error_message": None if ok else error_message},
            )
        except BotApiError as exc:
            raise map_error(exc) from exc

    async def edit_text(self, external_id: str, text: str) -> None:
        """Change the text of a message we sent (``chat_id:message_id``). Raises SendError subclasses."""
        chat, _, message = external_id.partition(":")
        if not message.isdigit():
            raise PermanentSendError(f"not a Telegram message id: {external_id!r}")
        try:
            await self.bot.call(
                "editMessageText", {"text": text, "chat_id": _chat_id(chat), "message_id": int(message)}
            )
        except BadRequest as exc:
            if "message is not modified" in exc.message:
                return
            raise map_error(exc) from exc
        except BotApiError as exc:
            raise map_error(exc) from exc

    def _input_file(self, attachment: Attachment) -> Upload | str:
        if attachment.path:
            path = Path(attachment.path)
            if not path.is_absolute():
                base = self.settings.data_dir.resolve()
                path = (base / path).resolve()
                if not path.is_relative_to(base):
                    raise PermanentSendError(f"attachment path escapes the data dir: {attachment.path!r}")
            if not path.is_file():
                raise PermanentSendError(f"attachment file is missing: {path}")
            size = path.stat().st_size
            if size > MAX_UPLOAD_BYTES:
                raise PermanentSendError(
                    f"attachment {attachment.filename!r} is {size} bytes; bots send up to 50 MB"
                )
            return Upload(filename=attachment.filename or path.name, path=path)
        if attachment.data is not None:
            return Upload(filename=attachment.filename or "file", data=attachment.data)
        if attachment.ref:
            return attachment.ref  # a file Telegram already has
        raise PermanentSendError(f"attachment {attachment.filename!r} has neither a path, data nor a file_id")


# ---- helpers -------------------------------------------------------------------------------------------


def map_error(exc: BotApiError) -> SendError:
    """The Bot API's errors -> our error tree (transient: try again later; permanent: never on this chat)."""
    if isinstance(exc, RetryAfter):
        return TransientSendError(
            f"flood control: retry after {exc.retry_after}s", retry_after=float(exc.retry_after)
        )
    if isinstance(exc, MigrateToChat):
        return PermanentSendError(f"the group moved to supergroup {exc.migrate_to_chat_id}")
    if isinstance(exc, Forbidden | BadRequest | NotFound | EntityTooLarge):
        # blocked by the user, deactivated, chat not found, malformed request: repeating it cannot succeed.
        return PermanentSendError(exc.message)
    if isinstance(exc, Unauthorized):
        # The whole account is broken (token revoked): retry with backoff so messages survive a token fix.
        return TransientSendError(f"the bot token was rejected: {exc.message}")
    if isinstance(exc, DecodeError):
        return TransientSendError(f"unreadable answer from the Bot API: {exc.message}")
    # network errors, timeouts, 5xx, 409 conflicts and anything unexpected
    return TransientSendError(exc.message)


def _derived_secret(secret_key: str, account_id: int) -> str:
    return hmac.new(
        secret_key.encode(), f"telegram-webhook:{account_id}".encode(), hashlib.sha256
    ).hexdigest()


def _positive(value: Any, name: str, account: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    if number <= 0:
        raise TelegramConfigError(
            f"telegram account {account!r}: {name} must be a positive number of seconds"
        )
    return number


def _too_large(filename: str, size: int) -> AttachmentTooLarge:
    return AttachmentTooLarge(
        f"{filename!r} is {size} bytes; bots may download at most {MAX_DOWNLOAD_BYTES} bytes (20 MB)"
    )


def _chat_id(raw: str) -> int | str:
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if re.fullmatch(r"@[A-Za-z0-9_]{4,}", raw):
        return raw
    raise PermanentSendError(f"not a Telegram chat id: {raw!r}")


def _external_id(message: Any) -> str:
    """``chat_id:message_id`` of a sent Message (a dict as the Bot API returns it)."""
    try:
        return message_external_id(message["chat"]["id"], message["message_id"])
    except (KeyError, TypeError) as exc:
        reason = f"unreadable answer from the Bot API: no message in {message!r:.200}"
        raise TransientSendError(reason) from exc


def _updates(answer: Any) -> list[dict[str, Any]]:
    """getUpdates' result: the updates as Telegram sent them (those without an integer update_id dropped)."""
    if not isinstance(answer, list):
        raise DecodeError("getUpdates", f"Failed to deserialize object: {answer!r:.200}")
    return [u for u in answer if isinstance(u, dict) and type(u.get("update_id")) is int]


def _as_photo(attachment: Attachment) -> bool:
    return attachment.kind == "photo" and attachment.size <= MAX_PHOTO_UPLOAD


def _reply_parameters(external_id: str | None, chat_id: int | str) -> dict[str, Any] | None:
    if not external_id:
        return None
    chat, _, message = external_id.partition(":")
    if not message.isdigit() or chat != str(chat_id):
        log.warning("telegram: ignoring reply_to %r for chat %s", external_id, chat_id)
        return None
    return {"message_id": int(message), "allow_sending_without_reply": True}


def _keyboard(rows: tuple[tuple[Button, ...], ...]) -> dict[str, Any] | None:
    keyboard: list[list[dict[str, str]]] = []
    for row in rows:
        buttons: list[dict[str, str]] = []
        for b in row:
            if not b.label.strip():
                raise PermanentSendError("a button needs a label")
            if b.payload:
                size = len(b.payload.encode())
                if size > MAX_CALLBACK_DATA:
                    raise PermanentSendError(
                        f"button {b.label!r}: callback data is {size} bytes, at most 64 allowed"
                    )
                buttons.append({"text": b.label, "callback_data": b.payload})
            elif b.url:
                buttons.append({"text": b.label, "url": b.url})
            else:
                raise PermanentSendError(f"button {b.label!r} has neither a payload nor a url")
        if buttons:
            keyboard.append(buttons)
    return {"inline_keyboard": keyboard} if keyboard else None
