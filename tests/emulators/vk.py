"""A local VK API emulator: ``/method/*`` the way vkbottle calls it, Bots Long Poll, upload servers, file
downloads, and a Callback API sender. Speaks VK's wire format: ``{"response": …}`` or
``{"error": {"error_code", "error_msg", "request_params"}}`` with HTTP 200.

In process::

    async with VKEmulator(group_id=77) as vk:
        vk.add_user(101, "Иван", "Петров")
        ... VKChannel(settings={"api_base": vk.base_url, ...}) ...
        assert vk.sent[0].text == "…"

Out of process: ``python -m tests.emulators.vk --port N [--group-id 77] [--token T]`` and drive it through
``/_control/*`` (JSON in, JSON out):

    POST /_control/reset                         forget requests, messages, queued updates, failures
    GET  /_control/requests[?method=m]           recorded API calls [{method, params}]
    GET  /_control/sent                          messages.send results [{id, peer_id, random_id, text, ...}]
    GET  /_control/dedup                         sends answered by the (peer_id, random_id) dedup
    GET  /_control/event_answers                 messages.sendMessageEventAnswer calls (params)
    POST /_control/users {"users": [{id, first_name, last_name, screen_name?}]}
    POST /_control/fail {"method", "error_code", "error_msg"?, "times"?: 1, "http_status"?: 500}
    POST /_control/rate_limit {"method", "per_second"}    error 6 beyond that many calls in one second
    POST /_control/limits {"per_token"?: 20}       VK's own limit: error 6 past that many API calls of one
                                  access token in any rolling second (``enforce_limits`` in process)
    GET  /_control/pacing                        {"rate_limited", "most_in_1s", "send_times"}
    POST /_control/block {"peer_id"}              messages.send to it -> error 901
                                  (``deny(user_id)`` / ``allow(user_id)`` in process: the same, and the
                                  ``message_deny`` / ``message_allow`` update VK sends about it)
    POST /_control/longpoll/updates {"updates": [...]}    queue Bots Long Poll updates (builders below)
    POST /_control/longpoll/fail {"failed": 1|2|3}        the next a_check answers that failure
    POST /_control/callback {"url", "update", "secret"?, "max_attempts"?: 1}
                                  POST the event to ``url`` like VK's Callback API, retrying with
                                  X-Retry-Counter until it answers "ok"; -> {"attempts": [...]}

Other routes: ``/lp/{group_id}`` (the long-poll server groups.getLongPollServer hands out; a_check),
``/upload/photo`` and ``/upload/doc`` (upload servers), ``/files/{name}[?chunked=1]`` (uploaded files and
``add_file`` content, for attachment downloads). Uploading then saving yields attachment strings
``photo-{group}_{id}_{access_key}`` / ``doc-{group}_{id}_{access_key}``; messages.send refuses unknown ones.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import time
import uuid
from collections import defaultdict, deque
from dataclasses import asdict, dataclass, field
from typing import Any

from aiohttp import BodyPartReader, ClientSession, ClientTimeout, web

API_VERSION = "5.199"
TS_BASE = 1000  # long-poll ts of the first queued update


# ---- builders: realistic Callback API / long poll update objects -------------------------------------------


def message(
    peer_id: int,
    text: str = "",
    *,
    from_id: int | None = None,
    cmid: int = 1,
    message_id: int | None = None,
    date: int = 1_764_000_000,
    attachments: list[dict[str, Any]] | None = None,
    fwd_messages: list[dict[str, Any]] | None = None,
    reply_message: dict[str, Any] | None = None,
    payload: str | None = None,
    out: int = 0,
) -> dict[str, Any]:
    chat = peer_id >= 2_000_000_000
    msg: dict[str, Any] = {
        "date": date,
        "from_id": from_id if from_id is not None else peer_id,
        "id": 0 if chat else (message_id if message_id is not None else 500 + cmid),
        "out": out,
        "version": 10_000_000 + cmid,
        "attachments": attachments or [],
        "conversation_message_id": cmid,
        "fwd_messages": fwd_messages or [],
        "important": False,
        "is_hidden": False,
        "peer_id": peer_id,
        "random_id": 0,
        "text": text,
    }
    if reply_message is not None:
        msg["reply_message"] = reply_message
    if payload is not None:
        msg["payload"] = payload
    return msg


def _update(group_id: int, kind: str, obj: dict[str, Any], event_id: str | None) -> dict[str, Any]:
    return {
        "group_id": group_id,
        "type": kind,
        "event_id": event_id or hashlib.sha1(uuid.uuid4().bytes).hexdigest(),
        "v": API_VERSION,
        "object": obj,
    }


def message_new(group_id: int, msg: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    client_info = {
        "button_actions": [
            "text",
            "vkpay",
            "open_app",
            "location",
            "open_link",
            "callback",
            "intent_subscribe",
        ],
        "keyboard": True,
        "inline_keyboard": True,
        "carousel": True,
        "lang_id": 0,
    }
    return _update(group_id, "message_new", {"message": msg, "client_info": client_info}, event_id)


def message_edit(group_id: int, msg: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    edited = {**msg, "update_time": msg["date"] + 60}
    return _update(group_id, "message_edit", edited, event_id)


def message_reply(group_id: int, msg: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    return _update(group_id, "message_reply", {**msg, "out": 1, "from_id": -group_id}, event_id)


def message_event(
    group_id: int,
    *,
    user_id: int,
    peer_id: int | None = None,
    payload: Any = None,
    event_id: str | None = None,
    button_event_id: str = "3159dc190b1g",
    cmid: int = 1,
) -> dict[str, Any]:
    obj = {
        "user_id": user_id,
        "peer_id": peer_id if peer_id is not None else user_id,
        "event_id": button_event_id,
        "payload": payload if payload is not None else {},
        "conversation_message_id": cmid,
    }
    return _update(group_id, "message_event", obj, event_id)


def message_allow(
    group_id: int, *, user_id: int, key: str = "", event_id: str | None = None
) -> dict[str, Any]:
    """The user allowed the community to message them (Callback API / Bots Long Poll ``message_allow``:
    ``{"user_id", "key"}``, ``key`` being what the allow widget or link passed along)."""
    return _update(group_id, "message_allow", {"user_id": user_id, "key": key}, event_id)


def message_deny(group_id: int, *, user_id: int, event_id: str | None = None) -> dict[str, Any]:
    """The user forbade the community to message them (``message_deny``: ``{"user_id"}``); VK answers
    error 901 to ``messages.send`` to them from then on."""
    return _update(group_id, "message_deny", {"user_id": user_id}, event_id)


def photo_attachment(
    owner_id: int, photo_id: int, base_url: str = "https://sun9-1.userapi.com"
) -> dict[str, Any]:
    sizes = [
        ("s", 75, 56),
        ("m", 130, 97),
        ("x", 604, 453),
        ("y", 807, 605),
        ("z", 1280, 960),
        ("o", 130, 97),
    ]
    return {
        "type": "photo",
        "photo": {
            "album_id": -3,
            "date": 1_764_000_000,
            "id": photo_id,
            "owner_id": owner_id,
            "access_key": "ak" + str(photo_id),
            "sizes": [
                {"height": h, "width": w, "type": t, "url": f"{base_url}/photo{owner_id}_{photo_id}_{t}.jpg"}
                for t, w, h in sizes
            ],
            "text": "",
            "has_tags": False,
        },
    }


def doc_attachment(owner_id: int, doc_id: int, title: str, ext: str, size: int, url: str) -> dict[str, Any]:
    return {
        "type": "doc",
        "doc": {
            "id": doc_id,
            "owner_id": owner_id,
            "title": title,
            "size": size,
            "ext": ext,
            "date": 1_764_000_000,
            "type": 1,
            "url": url,
            "access_key": "dk" + str(doc_id),
        },
    }


def sticker_attachment(sticker_id: int = 9014, product_id: int = 279) -> dict[str, Any]:
    base = f"https://vk.com/sticker/1-{sticker_id}"
    return {
        "type": "sticker",
        "sticker": {
            "product_id": product_id,
            "sticker_id": sticker_id,
            "images": [{"url": f"{base}-{w}", "width": w, "height": w} for w in (64, 128, 256, 352, 512)],
            "images_with_background": [{"url": f"{base}-{w}b", "width": w, "height": w} for w in (64, 512)],
            "is_allowed": True,
        },
    }


# ---- the emulator ----------------------------------------------------------------------------------------


@dataclass
class Call:
    method: str
    params: dict[str, str]
    http_method: str = "POST"


@dataclass
class Sent:
    id: int
    peer_id: int
    random_id: int
    text: str
    attachment: str = ""
    keyboard: dict[str, Any] | None = None
    forward: dict[str, Any] | None = None
    reply_to: int | None = None
    conversation_message_id: int = 0


@dataclass
class Failure:
    error_code: int
    error_msg: str
    http_status: int | None = None


@dataclass
class Upload:
    kind: str  # photo | doc
    filename: str
    data: bytes
    content_type: str


@dataclass
class _State:
    calls: list[Call] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    dedup_hits: list[dict[str, int]] = field(default_factory=list)
    by_random: dict[tuple[int, int], int] = field(default_factory=dict)
    failures: dict[str, deque[Failure]] = field(default_factory=lambda: defaultdict(deque))
    rate_limits: dict[str, float] = field(default_factory=dict)
    rate_window: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    blocked: set[int] = field(default_factory=set)
    updates: list[dict[str, Any]] = field(default_factory=list)
    lp_failures: deque[int] = field(default_factory=deque)
    uploads: dict[str, Upload] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    event_answers: list[dict[str, str]] = field(default_factory=list)
    call_times: dict[str, list[float]] = field(default_factory=dict)  # accepted API calls per token
    send_times: dict[str, list[float]] = field(default_factory=dict)  # accepted messages.send per token
    rate_limited: int = 0  # error 6 answers given for exceeding the per-token limit


ERRORS = {
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    7: "Permission to perform this action is denied",
    8: "Invalid request: v (version) is required",
    9: "Flood control",
    10: "Internal server error",
    15: "Access denied",
    100: "One of the parameters specified was missing or invalid",
    901: "Can't send messages for users without permission",
    902: "Can't send messages to this user due to their privacy settings",
    911: "Keyboard format is invalid",
    914: "Message is too long",
}


class VKApiError(Exception):
    def __init__(self, code: int, msg: str | None = None) -> None:
        super().__init__(msg or ERRORS.get(code, "Unknown error occurred"))
        self.code = code
        self.msg = msg or ERRORS.get(code, "Unknown error occurred")


class VKEmulator:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        group_id: int = 77,
        token: str | None = None,
        max_wait: float = 25.0,
        echo_replies: bool = True,
    ) -> None:
        if port is None:
            from tests.services import free_port

            port = free_port()
        self.host = host
        self.port = port
        self.group_id = group_id
        self.token = token
        self.max_wait = max_wait
        self.echo_replies = echo_replies
        self.users: dict[int, dict[str, Any]] = {}
        self.s = _State()
        self._key = uuid.uuid4().hex
        self._ids = itertools.count(7001)
        self._cmids: dict[int, int] = defaultdict(lambda: 100)
        self._cond: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self._closing = False
        # VK's limit on API calls per community token (off unless enforce_limits() is called).
        self.limit_per_token: int | None = None

    # -- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/method/{name}", self._method)
        app.router.add_route("*", "/lp/{group_id}", self._long_poll)
        app.router.add_post("/upload/{kind}", self._upload)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_route("*", "/_control/{what:.+}", self._control)
        return app

    async def start(self) -> None:
        self._cond = asyncio.Condition()
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    async def stop(self) -> None:
        self._closing = True
        if self._cond is not None:  # release waiting long polls, so shutdown does not wait for them
            async with self._cond:
                self._cond.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> VKEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- test-side helpers

    def reset(self) -> None:
        self.s = _State()

    def add_user(self, user_id: int, first_name: str, last_name: str, screen_name: str | None = None) -> None:
        self.users[user_id] = {
            "id": user_id,
            "first_name": first_name,
            "last_name": last_name,
            "screen_name": screen_name or f"id{user_id}",
            "can_access_closed": True,
            "is_closed": False,
        }

    def fail(
        self,
        method: str,
        error_code: int,
        error_msg: str | None = None,
        *,
        times: int = 1,
        http_status: int | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` answer this VK error (or this HTTP status)."""
        for _ in range(times):
            self.s.failures[method].append(
                Failure(
                    error_code, error_msg or ERRORS.get(error_code, "Unknown error occurred"), http_status
                )
            )

    def rate_limit(self, method: str, per_second: float) -> None:
        self.s.rate_limits[method] = per_second

    def enforce_limits(self, per_token: int = 20) -> None:
        """VK's documented limit for community tokens: at most ``per_token`` API calls per second of one
        access token; past it VK answers error 6 "Too many requests per second" (in an HTTP 200 JSON body).
        Counted over a rolling second, over every ``/method/*`` call; refused calls do not count."""
        self.limit_per_token = per_token

    @property
    def rate_limited(self) -> int:
        """Error 6 answers given for exceeding ``enforce_limits``."""
        return self.s.rate_limited

    @property
    def send_times(self) -> dict[str, list[float]]:
        """Accepted ``messages.send`` times (monotonic) per access token."""
        return self.s.send_times

    def max_in_window(self, window: float = 1.0) -> int:
        """The most accepted API calls of one token seen in any ``window`` seconds."""
        return max((_max_in_window(t, window) for t in self.s.call_times.values()), default=0)

    def _over_limit(self, token: str) -> bool:
        if self.limit_per_token is None:
            return False
        now = time.monotonic()
        times = self.s.call_times.setdefault(token, [])
        since = now - 1.0
        n = 0
        for t in reversed(times):
            if t <= since:
                break
            n += 1
        if n >= self.limit_per_token:
            self.s.rate_limited += 1
            return True
        times.append(now)
        return False

    def block(self, peer_id: int) -> None:
        self.s.blocked.add(peer_id)

    def deny(self, user_id: int) -> dict[str, Any]:
        """The user forbids the community's messages: sends to them answer 901 from now on; returns the
        ``message_deny`` update VK sends about it."""
        self.s.blocked.add(user_id)
        return message_deny(self.group_id, user_id=user_id)

    def allow(self, user_id: int, key: str = "") -> dict[str, Any]:
        """The user allows the community's messages again; returns the ``message_allow`` update."""
        self.s.blocked.discard(user_id)
        return message_allow(self.group_id, user_id=user_id, key=key)

    def calls(self, method: str | None = None) -> list[Call]:
        return [c for c in self.s.calls if method is None or c.method == method]

    @property
    def sent(self) -> list[Sent]:
        return self.s.sent

    @property
    def dedup_hits(self) -> list[dict[str, int]]:
        return self.s.dedup_hits

    @property
    def uploads(self) -> dict[str, Upload]:
        return self.s.uploads

    def add_file(self, name: str, data: bytes) -> str:
        self.s.files[name] = data
        return f"{self.base_url}/files/{name}"

    def next_cmid(self, peer_id: int) -> int:
        self._cmids[peer_id] += 1
        return self._cmids[peer_id]

    @property
    def lp_ts(self) -> int:
        return TS_BASE + len(self.s.updates)

    async def push(self, *updates: dict[str, Any]) -> None:
        """Queue Bots Long Poll updates and wake the waiting a_check."""
        self.s.updates.extend(updates)
        if self._cond is not None:
            async with self._cond:
                self._cond.notify_all()

    async def lp_fail(self, failed: int) -> None:
        self.s.lp_failures.append(failed)
        if self._cond is not None:
            async with self._cond:
                self._cond.notify_all()

    async def post_callback(
        self, url: str, update: dict[str, Any], *, secret: str | None = None, max_attempts: int = 1
    ) -> list[tuple[int, str]]:
        """Send one Callback API event the way VK does: JSON POST, retries carry ``X-Retry-Counter``."""
        body = dict(update)
        if secret is not None:
            body["secret"] = secret
        attempts: list[tuple[int, str]] = []
        async with ClientSession(timeout=ClientTimeout(total=10)) as session:
            for attempt in range(max_attempts):
                headers = {"Content-Type": "application/json"}
                if attempt:
                    headers["X-Retry-Counter"] = str(attempt)
                async with session.post(
                    url, data=json.dumps(body, ensure_ascii=False).encode(), headers=headers
                ) as r:
                    attempts.append((r.status, await r.text()))
                if attempts[-1] == (200, "ok"):
                    break
        return attempts

    # -- HTTP handlers

    async def _params(self, request: web.Request) -> tuple[dict[str, str], dict[str, Upload]]:
        params: dict[str, str] = dict(request.query)
        files: dict[str, Upload] = {}
        if request.method == "POST" and request.can_read_body:
            ctype = request.content_type
            if ctype.startswith("multipart/"):
                reader = await request.multipart()
                async for part in reader:
                    if not isinstance(part, BodyPartReader):
                        continue  # nested multipart: VK's upload servers do not take it either
                    name = part.name or ""
                    data = await part.read()
                    if part.filename:
                        files[name] = Upload(
                            kind="",
                            filename=part.filename,
                            data=bytes(data),
                            content_type=part.headers.get("Content-Type", "application/octet-stream"),
                        )
                    else:
                        params[name] = bytes(data).decode()
            else:
                form = await request.post()
                params.update({k: str(v) for k, v in form.items()})
        return params, files

    async def _method(self, request: web.Request) -> web.Response:
        method = request.match_info["name"]
        params, _ = await self._params(request)
        self.s.calls.append(
            Call(method, {k: v for k, v in params.items() if k != "access_token"}, request.method)
        )
        request_params = [{"key": "method", "value": method}] + [
            {"key": k, "value": v} for k, v in params.items() if k != "access_token"
        ]
        try:
            failure = self._injected(method)
            if failure is not None:
                if failure.http_status is not None:
                    return web.Response(status=failure.http_status, text="<html>502 Bad Gateway</html>")
                raise VKApiError(failure.error_code, failure.error_msg)
            if self.token is not None and params.get("access_token") != self.token:
                raise VKApiError(5)
            if not params.get("v"):
                raise VKApiError(8)
            handler = getattr(self, "_m_" + method.replace(".", "_"), None)
            if handler is None:
                raise VKApiError(3, "Unknown method passed")
            token = params.get("access_token", "")
            if self._over_limit(token):
                raise VKApiError(6)
            result = await handler(params)
            if method == "messages.send":
                self.s.send_times.setdefault(token, []).append(time.monotonic())
        except VKApiError as exc:
            error = {"error_code": exc.code, "error_msg": exc.msg, "request_params": request_params}
            return web.json_response({"error": error})
        return web.json_response({"response": result})

    def _injected(self, method: str) -> Failure | None:
        queue = self.s.failures.get(method)
        if queue:
            return queue.popleft()
        limit = self.s.rate_limits.get(method)
        if limit is not None:
            now = time.monotonic()
            window = self.s.rate_window[method]
            while window and now - window[0] >= 1.0:
                window.popleft()
            if len(window) >= limit:
                return Failure(6, ERRORS[6])
            window.append(now)
        return None

    # -- API methods

    async def _m_users_get(self, p: dict[str, str]) -> list[dict[str, Any]]:
        ids = [int(x) for x in (p.get("user_ids") or p.get("user_id") or "").split(",") if x.strip()]
        out = []
        for uid in ids:
            user = self.users.get(uid)
            if user is None:
                user = {"id": uid, "first_name": "DELETED", "last_name": "", "deactivated": "deleted"}
            out.append(user)
        return out

    async def _m_groups_getById(self, p: dict[str, str]) -> dict[str, Any]:
        group = {
            "id": self.group_id,
            "name": "Магазин",
            "screen_name": f"club{self.group_id}",
            "type": "group",
        }
        return {"groups": [group], "profiles": []}

    async def _m_groups_getLongPollServer(self, p: dict[str, str]) -> dict[str, Any]:
        if p.get("group_id") != str(self.group_id):
            raise VKApiError(
                100, "One of the parameters specified was missing or invalid: group_id is undefined"
            )
        return {"key": self._key, "server": f"{self.base_url}/lp/{self.group_id}", "ts": str(self.lp_ts)}

    async def _m_messages_send(self, p: dict[str, str]) -> int:
        if "random_id" not in p:
            raise VKApiError(
                100, "One of the parameters specified was missing or invalid: random_id is required"
            )
        peer_id = int(p.get("peer_id") or p.get("user_id") or 0)
        if not peer_id:
            raise VKApiError(
                100, "One of the parameters specified was missing or invalid: peer_id is undefined"
            )
        random_id = int(p["random_id"])
        if random_id and (peer_id, random_id) in self.s.by_random:
            existing = self.s.by_random[(peer_id, random_id)]
            self.s.dedup_hits.append({"peer_id": peer_id, "random_id": random_id, "id": existing})
            return existing
        text = p.get("message", "")
        attachment = p.get("attachment", "")
        if not text and not attachment:
            raise VKApiError(100, "One of the parameters specified was missing or invalid: message is empty")
        if len(text) > 4096:
            raise VKApiError(914)
        if peer_id in self.s.blocked:
            raise VKApiError(901)
        for ref in filter(None, attachment.split(",")):
            if ref not in self.s.uploads:
                raise VKApiError(
                    100, f"One of the parameters specified was missing or invalid: {ref} not found"
                )
        keyboard = None
        if p.get("keyboard"):
            try:
                keyboard = json.loads(p["keyboard"])
                if not isinstance(keyboard["buttons"], list):
                    raise TypeError("buttons must be a list")
            except (ValueError, KeyError, TypeError) as exc:
                raise VKApiError(911) from exc
        forward = json.loads(p["forward"]) if p.get("forward") else None
        msg_id = next(self._ids)
        sent = Sent(
            id=msg_id,
            peer_id=peer_id,
            random_id=random_id,
            text=text,
            attachment=attachment,
            keyboard=keyboard,
            forward=forward,
            reply_to=int(p["reply_to"]) if p.get("reply_to") else None,
            conversation_message_id=self.next_cmid(peer_id),
        )
        self.s.sent.append(sent)
        if random_id:
            self.s.by_random[(peer_id, random_id)] = msg_id
        if self.echo_replies:
            echo = message(peer_id, text, cmid=sent.conversation_message_id, message_id=msg_id)
            await self.push(message_reply(self.group_id, echo))
        return msg_id

    async def _m_messages_sendMessageEventAnswer(self, p: dict[str, str]) -> int:
        for name in ("event_id", "user_id", "peer_id"):
            if not p.get(name):
                raise VKApiError(
                    100, f"One of the parameters specified was missing or invalid: {name} is undefined"
                )
        self.s.event_answers.append(dict(p))
        return 1

    async def _m_photos_getMessagesUploadServer(self, p: dict[str, str]) -> dict[str, Any]:
        return {
            "album_id": -64,
            "upload_url": f"{self.base_url}/upload/photo",
            "user_id": 0,
            "group_id": self.group_id,
        }

    async def _m_docs_getMessagesUploadServer(self, p: dict[str, str]) -> dict[str, Any]:
        if p.get("type", "doc") not in {"doc", "audio_message", "graffiti"}:
            raise VKApiError(100, "One of the parameters specified was missing or invalid: type is invalid")
        if not p.get("peer_id"):
            raise VKApiError(
                100, "One of the parameters specified was missing or invalid: peer_id is undefined"
            )
        return {"upload_url": f"{self.base_url}/upload/doc"}

    async def _m_photos_saveMessagesPhoto(self, p: dict[str, str]) -> list[dict[str, Any]]:
        try:
            token = json.loads(p.get("photo", ""))[0]["photo"]
        except (ValueError, LookupError, TypeError) as exc:
            raise VKApiError(
                100, "One of the parameters specified was missing or invalid: photo is undefined"
            ) from exc
        upload = self.s.uploads.pop(f"upload:{token}", None)
        if upload is None:
            raise VKApiError(1, "Unknown error occurred: photo upload not found")
        photo_id = next(self._ids)
        ref = f"photo{-self.group_id}_{photo_id}_pk{photo_id}"
        self.s.uploads[ref] = upload
        self.s.uploads[f"photo{-self.group_id}_{photo_id}"] = upload
        url = self.add_file(f"photo{photo_id}.jpg", upload.data)
        return [
            {
                "album_id": -64,
                "date": int(time.time()),
                "id": photo_id,
                "owner_id": -self.group_id,
                "access_key": f"pk{photo_id}",
                "sizes": [{"height": 100, "width": 100, "type": "x", "url": url}],
                "text": "",
            }
        ]

    async def _m_docs_save(self, p: dict[str, str]) -> dict[str, Any]:
        upload = self.s.uploads.pop(f"upload:{p.get('file', '')}", None)
        if upload is None:
            raise VKApiError(100, "One of the parameters specified was missing or invalid: file is undefined")
        doc_id = next(self._ids)
        title = p.get("title") or upload.filename
        ext = title.rsplit(".", 1)[-1].lower() if "." in title else ""
        self.s.uploads[f"doc{-self.group_id}_{doc_id}"] = upload
        self.s.uploads[f"doc{-self.group_id}_{doc_id}_dk{doc_id}"] = upload
        url = self.add_file(f"doc{doc_id}", upload.data)
        doc = {
            "id": doc_id,
            "owner_id": -self.group_id,
            "title": title,
            "size": len(upload.data),
            "ext": ext,
            "date": int(time.time()),
            "type": 1,
            "url": url,
            "access_key": f"dk{doc_id}",
        }
        return {"type": "doc", "doc": doc}

    # -- upload servers, files, long poll

    async def _upload(self, request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        _, files = await self._params(request)
        field_name = "photo" if kind == "photo" else "file"
        upload = files.get(field_name)
        if upload is None:
            return web.json_response({"error": "no file", "error_descr": f"field {field_name!r} is missing"})
        upload.kind = kind
        token = uuid.uuid4().hex
        self.s.uploads[f"upload:{token}"] = upload
        if kind == "photo":
            photo = json.dumps([{"markers_restarted": True, "photo": token, "sizes": [], "kid": "k"}])
            return web.json_response(
                {"server": 1, "photo": photo, "hash": hashlib.md5(token.encode()).hexdigest()}
            )
        return web.json_response({"file": token})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        data = self.s.files.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404, text="not found")
        if request.query.get("chunked"):
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for i in range(0, len(data), 4096):
                await response.write(data[i : i + 4096])
            await response.write_eof()
            return response
        return web.Response(body=data, content_type="application/octet-stream")

    async def _long_poll(self, request: web.Request) -> web.Response:
        p, _ = await self._params(request)
        self.s.calls.append(Call("a_check", dict(p), request.method))
        failure = self._injected("a_check")
        if failure is not None and failure.http_status is not None:
            return web.Response(status=failure.http_status, text="<html>bad gateway</html>")
        if p.get("act") != "a_check":
            return web.json_response({"failed": 4})  # unsupported act/version
        assert self._cond is not None
        if self.s.lp_failures:
            return web.json_response(self._lp_failure(self.s.lp_failures.popleft()))
        if p.get("key") != self._key:
            return web.json_response({"failed": 2})
        try:
            ts = int(p.get("ts", ""))
        except ValueError:
            return web.json_response({"failed": 1, "ts": str(self.lp_ts)})
        wait = min(float(p.get("wait") or 25), self.max_wait)
        start = max(ts - TS_BASE, 0)
        if start >= len(self.s.updates):
            async with self._cond:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._cond.wait_for(
                            lambda: len(self.s.updates) > start or bool(self.s.lp_failures) or self._closing
                        ),
                        wait,
                    )
            if self.s.lp_failures:
                return web.json_response(self._lp_failure(self.s.lp_failures.popleft()))
        updates = self.s.updates[start:]
        return web.json_response({"ts": str(max(self.lp_ts, ts)), "updates": updates})

    def _lp_failure(self, failed: int) -> dict[str, Any]:
        if failed == 1:
            return {"failed": 1, "ts": str(self.lp_ts)}
        self._key = uuid.uuid4().hex  # 2: key expired; 3: key and history lost
        return {"failed": failed}

    # -- control API

    async def _control(self, request: web.Request) -> web.Response:
        what = request.match_info["what"]
        body: dict[str, Any] = {}
        if request.method == "POST" and request.can_read_body:
            body = await request.json()
        if what == "reset":
            self.reset()
        elif what == "requests":
            calls = self.calls(request.query.get("method"))
            return web.json_response([asdict(c) for c in calls])
        elif what == "sent":
            return web.json_response([asdict(s) for s in self.sent])
        elif what == "dedup":
            return web.json_response(self.dedup_hits)
        elif what == "event_answers":
            return web.json_response(self.s.event_answers)
        elif what == "users":
            for u in body.get("users", []):
                self.add_user(int(u["id"]), u["first_name"], u["last_name"], u.get("screen_name"))
        elif what == "fail":
            self.fail(
                body["method"],
                int(body["error_code"]),
                body.get("error_msg"),
                times=int(body.get("times", 1)),
                http_status=body.get("http_status"),
            )
        elif what == "rate_limit":
            self.rate_limit(body["method"], float(body["per_second"]))
        elif what == "limits":
            self.enforce_limits(int(body.get("per_token", 20)))
        elif what == "pacing":
            return web.json_response(
                {
                    "rate_limited": self.rate_limited,
                    "most_in_1s": self.max_in_window(1.0),
                    "send_times": self.send_times,
                }
            )
        elif what == "block":
            self.block(int(body["peer_id"]))
        elif what == "longpoll/updates":
            await self.push(*body.get("updates", []))
        elif what == "longpoll/fail":
            await self.lp_fail(int(body["failed"]))
        elif what == "callback":
            attempts = await self.post_callback(
                body["url"],
                body["update"],
                secret=body.get("secret"),
                max_attempts=int(body.get("max_attempts", 1)),
            )
            return web.json_response({"attempts": [{"status": s, "body": b} for s, b in attempts]})
        else:
            return web.json_response({"error": f"unknown control {what!r}"}, status=404)
        return web.json_response({"ok": True})


def _max_in_window(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def _serve(args: argparse.Namespace) -> None:
    emulator = VKEmulator(host=args.host, port=args.port, group_id=args.group_id, token=args.token)
    await emulator.start()
    print(f"VK emulator on {emulator.base_url} (group {emulator.group_id})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await emulator.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Local VK API emulator for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--group-id", type=int, default=77)
    parser.add_argument("--token", default=None, help="require this access_token (default: accept any)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
