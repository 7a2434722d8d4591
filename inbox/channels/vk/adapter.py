"""VK community messages through vkbottle's API client: Callback API webhooks, Bots Long Poll, sending.

Account config (one ``channel_account`` row):
  secrets:  token (community token, required), secret (Callback API secret),
            confirmation (the string the Callback API setup asks for)
  settings: group_id, mode ("callback" | "longpoll", default "callback"),
            api_base (default https://api.vk.com; ``/method/`` is appended), api_version,
            rate (API requests per second, default ``settings.vk_rate_per_community``),
            wait (long poll seconds, default 25), backoff (first retry delay in seconds, default 1),
            timeout (API request timeout in seconds, default 30)

The long-poll position (``ts``) is kept through the PollState the worker hands to ``run`` (our database),
never in vkbottle's ``.vkbottle/`` file: we do not use vkbottle's BotPolling.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import math
from collections import OrderedDict, deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
from vkbottle import API
from vkbottle.api.request_rescheduler import ABCRequestRescheduler
from vkbottle.exception_factory import VKAPIError
from vkbottle.http import AiohttpClient
from vkbottle.tools.uploader import DocMessagesUploader, PhotoMessageUploader

from inbox.channels.vk.events import (
    IGNORED_TYPES,
    CallbackRef,
    VKPayloadError,
    event_key,
    new_message_object,
    parse_callback,
    parse_edit,
    parse_message,
    update_object,
    verify_callback,
)
from inbox.channels.vk.outbound import (
    MAX_ATTACHMENTS,
    MAX_TEXT,
    keyboard_json,
    map_http_status,
    map_vk_error,
    random_id,
    reply_params,
)
from inbox.channels.vk.spec import CAPABILITIES
from inbox.core.types import (
    AccountConfig,
    Attachment,
    Capabilities,
    ChannelKind,
    ContactHints,
    InboundItem,
    InboundPermission,
    InboundSink,
    OutboundMessage,
    PermanentSendError,
    PollState,
    RawEvent,
    SendError,
    SentMessage,
    TransientSendError,
    WebhookRequest,
    WebhookResult,
)
from inbox.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.vk.com"
DEFAULT_API_VERSION = "5.199"
NAME_CACHE_SIZE = 10_000
BACKOFF_CAP = 60.0
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=120)
# Errors that retrying cannot fix: bad token, community auth failed, access denied, bad parameters.
FATAL_POLL_CODES = frozenset({5, 15, 27, 100})
PACE_WINDOW = 1.002  # seconds: VK's second plus a margin for clock granularity (as the outbox's windows)


class VKTransportError(Exception):
    """VK (or an upload server) answered with an HTTP error or something that is not JSON."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


class VKChannelError(Exception):
    """The account cannot work as configured (bad token, long poll disabled, bad group id)."""


class AttachmentFetchError(Exception):
    """An inbound attachment could not be downloaded (too large, gone, network)."""


class _HTTPClient(AiohttpClient):
    """vkbottle's aiohttp client, but HTTP errors raise instead of being parsed as VK answers, and calls to
    the API methods are paced to the community's rate.

    The pacing is a sliding window (at most ``rate`` calls started in any ``PACE_WINDOW`` seconds), not one
    call per 1/rate seconds: the outbox already paces sends with its own windows (shared by the cluster,
    counted from each send's end), and a strict spacing under them stretched each of its bursts, capping a
    single process at (N-1)/rate seconds for N sends, 0.93x of what VK allows for 300 sends. The window
    never holds back a send the outbox let through (its slot counts from the end of the send before it,
    which began earlier still); it still paces calls nothing else paces (uploads, users.get, the long-poll
    server) in this process."""

    def __init__(self, api_url: str, rate: float, timeout: float) -> None:
        super().__init__(timeout=aiohttp.ClientTimeout(total=timeout))
        self._api_url = api_url
        self._count = max(1, math.floor(rate)) if rate > 0 else 0
        self._window = self._count / rate * PACE_WINDOW if rate > 0 else 0.0
        self._starts: deque[float] = deque(maxlen=max(self._count, 1))
        self._lock = asyncio.Lock()

    async def _pace(self, url: str) -> None:
        if not self._count or not url.startswith(self._api_url):
            return
        async with self._lock:
            loop = asyncio.get_running_loop()
            if len(self._starts) == self._count:
                free_at = self._starts[0] + self._window
                if free_at > loop.time():
                    await asyncio.sleep(free_at - loop.time())
            self._starts.append(loop.time())

    async def request_text(  # type: ignore[override]
        self, url: str, method: str = "GET", data: dict[str, Any] | None = None, **kwargs: Any
    ) -> str:
        await self._pace(url)
        async with self.request(url, method, data, **kwargs) as response:
            text = await response.text(encoding="UTF-8")
            if response.status >= 400:
                raise VKTransportError(response.status, text[:200])
            return text

    async def request_json(  # type: ignore[override]
        self, url: str, method: str = "GET", data: dict[str, Any] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        text = await self.request_text(url, method, data, **kwargs)
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise VKTransportError(200, f"not JSON: {text[:200]!r}") from exc
        if not isinstance(value, dict):
            raise VKTransportError(200, f"not a JSON object: {text[:200]!r}")
        return value


class _NoReschedule(ABCRequestRescheduler):
    """vkbottle's default rescheduler retries a non-JSON answer forever; our outbox does the retrying."""

    async def reschedule(self, ctx_api: Any, method: str, data: dict[str, Any], recent_response: Any) -> Any:
        raise VKTransportError(
            200, f"{method} answered something that is not JSON: {str(recent_response)[:200]!r}"
        )


class VKChannel:
    kind: ClassVar[str] = ChannelKind.VK
    capabilities: ClassVar[Capabilities] = CAPABILITIES

    def __init__(self, account: AccountConfig, settings: Settings) -> None:
        token = account.secrets.get("token")
        if not token or not isinstance(token, str):
            raise VKChannelError(f"VK account {account.id} has no community token (secrets.token)")
        self.account = account
        self.account_id = account.id
        self.settings = settings
        opts = account.settings
        group_id = opts.get("group_id")
        try:
            self.group_id: int | None = int(group_id) if group_id not in (None, "") else None
        except (TypeError, ValueError) as exc:
            raise VKChannelError(
                f"VK account {account.id}: group_id must be a number, got {group_id!r}"
            ) from exc
        self.mode: str = str(opts.get("mode") or "callback")
        if self.mode not in {"callback", "longpoll"}:
            raise VKChannelError(
                f"VK account {account.id}: mode must be callback or longpoll, got {self.mode!r}"
            )
        self.secret: str | None = account.secrets.get("secret") or None
        self.confirmation: str | None = account.secrets.get("confirmation") or None
        self.rate_per_account = float(opts.get("rate") or settings.vk_rate_per_community)
        self.rate_per_chat = self.capabilities.rate_per_chat
        self.wait = int(opts.get("wait") or 25)
        self.backoff = float(opts.get("backoff") or 1.0)
        self.max_fetch_bytes = settings.max_upload_bytes
        base = str(opts.get("api_base") or DEFAULT_API_BASE).rstrip("/")
        api_url = base if base.endswith("/method") else base + "/method"
        self.send_timeout = float(
            opts.get("timeout") or 30
        )  # the outbox starts a send only while its lease covers this
        self.http = _HTTPClient(api_url + "/", self.rate_per_account, timeout=self.send_timeout)
        self.api = API(token, http_client=self.http, request_rescheduler=_NoReschedule())
        self.api.API_URL = api_url + "/"
        self.api.API_VERSION = str(opts.get("api_version") or DEFAULT_API_VERSION)
        self._names: OrderedDict[int, ContactHints] = OrderedDict()

    # ---- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Resolve the community id from the token when the account does not name it."""
        if self.group_id is None:
            groups = (await self.api.request("groups.getById", {}))["response"]
            items = groups.get("groups", groups) if isinstance(groups, dict) else groups
            if not items:
                raise VKChannelError("the token is not a community token (groups.getById is empty)")
            self.group_id = int(items[0]["id"])

    async def close(self) -> None:
        await self.http.close()
        atexit.unregister(self.http.close_connector)  # vkbottle's client registers it per instance

    # ---- inbound -----------------------------------------------------------------------------------------

    def handle_webhook(self, request: WebhookRequest) -> WebhookResult:
        return verify_callback(
            request, group_id=self.group_id, secret=self.secret, confirmation=self.confirmation
        )

    async def run(self, sink: InboundSink, state: PollState) -> None:
        """Bots Long Poll: commit each batch through ``sink``, then save ``ts``.

        Callback mode returns at once."""
        if self.mode != "longpoll":
            return
        saved = await state.load()
        ts: str | None = str(saved["ts"]) if saved.get("ts") is not None else None
        server: dict[str, Any] | None = None
        delay = self.backoff
        while True:
            try:
                if server is None:
                    if self.group_id is None:
                        await self.start()
                    server = await self._poll_server()
                    if ts is None:
                        ts = str(server["ts"])  # first start: from now on (VK keeps little history)
                answer = await self.http.request_json(
                    str(server["server"]),
                    method="GET",
                    params={"act": "a_check", "key": server["key"], "ts": ts, "wait": self.wait},
                    timeout=aiohttp.ClientTimeout(total=self.wait + 10),
                )
            except VKAPIError as exc:
                if exc.code in FATAL_POLL_CODES:
                    raise VKChannelError(
                        f"VK long poll for account {self.account_id}: {exc.error_msg}"
                    ) from exc
                log.warning(
                    "vk %s: long poll server: VK error %s %s", self.account_id, exc.code, exc.error_msg
                )
                server = None
                delay = await self._sleep(delay)
                continue
            except (aiohttp.ClientError, TimeoutError, VKTransportError, KeyError, TypeError) as exc:
                log.warning("vk %s: long poll network error or odd answer: %r", self.account_id, exc)
                server = None if isinstance(exc, KeyError | TypeError) else server
                delay = await self._sleep(delay)
                continue
            failed = answer.get("failed")
            if failed is not None:
                if failed == 1:  # history lost in part: carry on from the ts VK gives
                    ts = str(answer.get("ts", ts))
                    saved = await self._save(state, saved, ts)
                elif failed == 2:  # key expired: new key, same ts
                    server = None
                elif failed == 3:  # everything lost: new key and ts
                    server = None
                    ts = None
                else:
                    log.warning("vk %s: long poll failed=%r", self.account_id, failed)
                    server = None
                    delay = await self._sleep(delay)
                continue
            updates = answer.get("updates") or []
            new_ts = str(answer.get("ts", ts))
            if updates:
                events = [RawEvent(key=event_key(u), payload=u) for u in updates if isinstance(u, dict)]
                try:
                    await sink(events)
                except Exception:
                    # Not committed: keep ts, ask again (VK still has the events), duplicates dedup by key.
                    log.exception("vk %s: storing %d long poll events failed", self.account_id, len(events))
                    delay = await self._sleep(delay)
                    continue
            if new_ts != ts:
                ts = new_ts
                saved = await self._save(state, saved, ts)
            delay = self.backoff

    async def _save(self, state: PollState, saved: dict[str, Any], ts: str) -> dict[str, Any]:
        """Persist ``ts``. A failed save only means replaying a few events later (they dedup by key)."""
        new = {**saved, "ts": ts}
        try:
            await state.save(new)
        except Exception:
            log.exception("vk %s: saving long poll ts %s failed", self.account_id, ts)
        return new

    async def _poll_server(self) -> dict[str, Any]:
        response = await self.api.request("groups.getLongPollServer", {"group_id": self.group_id})
        server: dict[str, Any] = response["response"]
        return server

    async def _sleep(self, delay: float) -> float:
        await asyncio.sleep(delay)
        return min(delay * 2, BACKOFF_CAP)

    async def parse(self, event: RawEvent) -> list[InboundItem]:
        update = event.payload
        event_type = update.get("type")
        if event_type in IGNORED_TYPES:
            return []
        if event_type == "message_new":
            message = new_message_object(update)
            from_id = int(message.get("from_id") or message.get("peer_id") or 0)
            contact = await self.contact(from_id)
            return [parse_message(message, account_id=self.account_id, contact=contact)]
        if event_type == "message_edit":
            return [parse_edit(update_object(update), account_id=self.account_id)]
        if event_type == "message_event":
            obj = update_object(update)
            contact = await self.contact(int(obj.get("user_id") or 0))
            return [parse_callback(obj, account_id=self.account_id, contact=contact, at=datetime.now(UTC))]
        if event_type in ("message_allow", "message_deny"):  # the user allowed / forbade our messages
            obj = update_object(update)
            user_id = int(obj.get("user_id") or 0)
            if user_id <= 0:
                raise VKPayloadError(f"{event_type} has no user_id")
            return [
                InboundPermission(
                    kind=ChannelKind.VK,
                    account_id=self.account_id,
                    external_user_id=str(user_id),
                    allowed=event_type == "message_allow",
                    at=datetime.now(UTC),
                    contact=await self.contact(user_id),
                )
            ]
        return []

    async def contact(self, user_id: int) -> ContactHints:
        """Name and screen name from ``users.get``, cached per adapter. Failures give an empty name."""
        if user_id <= 0:
            return ContactHints()
        cached = self._names.get(user_id)
        if cached is not None:
            self._names.move_to_end(user_id)
            return cached
        try:
            users = (await self.api.request("users.get", {"user_ids": user_id, "fields": "screen_name"}))[
                "response"
            ]
        except (VKAPIError, VKTransportError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning("vk %s: users.get %s failed: %r", self.account_id, user_id, exc)
            return ContactHints()
        if not users:
            return ContactHints()
        user = users[0]
        name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p)
        hints = ContactHints(display_name=name, username=user.get("screen_name") or None)
        self._names[user_id] = hints
        if len(self._names) > NAME_CACHE_SIZE:
            self._names.popitem(last=False)
        return hints

    async def fetch(self, attachment: Attachment) -> bytes:
        if not attachment.ref:
            raise AttachmentFetchError(f"attachment {attachment.filename!r} has no URL")
        limit = self.max_fetch_bytes
        try:
            async with self.http.request(attachment.ref, "GET", timeout=FETCH_TIMEOUT) as response:
                if response.status != 200:
                    raise AttachmentFetchError(
                        f"{attachment.filename!r}: download answered HTTP {response.status}"
                    )
                if response.content_length is not None and response.content_length > limit:
                    raise AttachmentFetchError(
                        f"{attachment.filename!r} is {response.content_length} bytes, the limit is {limit}"
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise AttachmentFetchError(
                            f"{attachment.filename!r} is larger than the limit of {limit} bytes"
                        )
                    chunks.append(chunk)
                return b"".join(chunks)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise AttachmentFetchError(f"{attachment.filename!r}: download failed: {exc!r}") from exc

    # ---- outbound ----------------------------------------------------------------------------------------

    async def send(self, msg: OutboundMessage) -> SentMessage:
        try:
            peer_id = int(msg.chat_id)
        except ValueError as exc:
            raise PermanentSendError(f"VK chat id must be a peer id, got {msg.chat_id!r}") from exc
        if len(msg.text) > MAX_TEXT:
            raise PermanentSendError(f"text is {len(msg.text)} characters, VK allows {MAX_TEXT}")
        if len(msg.attachments) > MAX_ATTACHMENTS:
            raise PermanentSendError(f"VK allows {MAX_ATTACHMENTS} attachments per message")
        if not msg.text and not msg.attachments:
            raise PermanentSendError("message has neither text nor attachments")
        params: dict[str, Any] = {"peer_id": peer_id, "random_id": random_id(msg.idempotency_key)}
        if msg.text:
            params["message"] = msg.text
        keyboard = keyboard_json(msg.buttons)
        if keyboard:
            params["keyboard"] = keyboard
        params.update(reply_params(msg.reply_to_external_id, peer_id))
        async with self._mapped_errors():
            refs = [await self._upload(peer_id, a) for a in msg.attachments]
            if refs:
                params["attachment"] = ",".join(refs)
            response = await self.api.request("messages.send", params)
        message_id = response["response"]
        return SentMessage(external_id=str(message_id), meta={"random_id": params["random_id"]})

    async def _upload(self, peer_id: int, attachment: Attachment) -> str:
        data = self._read(attachment)
        if attachment.kind == "photo" or (
            attachment.kind == "inline" and attachment.content_type.startswith("image/")
        ):
            photo = await PhotoMessageUploader(self.api).raw_upload(file_source=data, peer_id=peer_id)
            return PhotoMessageUploader.generate_attachment_string(
                "photo", photo["owner_id"], photo["id"], photo.get("access_key")
            )
        return await DocMessagesUploader(self.api).upload(
            data, peer_id=peer_id, title=attachment.filename or "file", type="doc"
        )

    def _read(self, attachment: Attachment) -> bytes:
        if attachment.data is not None:
            return attachment.data
        if not attachment.path:
            raise PermanentSendError(f"attachment {attachment.filename!r} has neither data nor a stored file")
        path = Path(attachment.path)
        if not path.is_absolute():
            path = self.settings.data_dir / path
        try:
            return path.read_bytes()
        except OSError as exc:
            raise PermanentSendError(
                f"attachment {attachment.filename!r}: cannot read {path}: {exc}"
            ) from exc

    def _mapped_errors(self) -> _ErrorMap:
        return _ErrorMap()

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        try:
            ref = CallbackRef.decode(callback_id)
        except ValueError as exc:
            raise PermanentSendError(str(exc)) from exc
        params: dict[str, Any] = {"event_id": ref.event_id, "user_id": ref.user_id, "peer_id": ref.peer_id}
        if text:
            params["event_data"] = json.dumps(
                {"type": "show_snackbar", "text": text[:90]}, ensure_ascii=False
            )
        async with self._mapped_errors():
            await self.api.request("messages.sendMessageEventAnswer", params)


class _ErrorMap:
    """Turns whatever the VK call raised into TransientSendError / PermanentSendError."""

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> bool:
        if exc is None or isinstance(exc, SendError | asyncio.CancelledError):
            return False
        if isinstance(exc, VKAPIError):
            raise map_vk_error(int(exc.code), exc.error_msg) from exc
        if isinstance(exc, VKTransportError):
            raise map_http_status(exc.status, exc.detail) from exc
        if isinstance(exc, aiohttp.ClientError | TimeoutError | ConnectionError):
            raise TransientSendError(f"VK network error: {exc!r}") from exc
        if isinstance(exc, KeyError | TypeError | ValueError):
            raise TransientSendError(f"VK answered something unexpected: {exc!r}") from exc
        return False
