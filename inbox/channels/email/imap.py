"""IMAP receiving: first sync of a lookback window, catch-up by UID, then IDLE; reconnect with backoff.

The position per folder is ``{"uidvalidity": int, "last_uid": int}``. Letters are fetched with
``BODY.PEEK[]`` (never marked seen) in batches; each batch is handed to ``on_batch`` together with the
folder's new position, and the caller commits the letters before it stores that position. When the
server's UIDVALIDITY changes, the position is dropped and the window is fetched again; the caller's
keys are Message-ID based, so a re-sync creates no duplicates.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import aioimaplib
from aioimaplib.aioimaplib import Command

log = logging.getLogger(__name__)

Security = Literal["ssl", "starttls", "none"]
MAX_IDLE_SECONDS = 600.0  # re-issue IDLE at least every 10 minutes
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class ImapError(Exception):
    """The server refused a step (login, select, fetch); ``step`` names it."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"IMAP {step} failed: {detail}")
        self.step = step
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ImapConfig:
    host: str
    port: int
    username: str
    password: str
    security: Security = "ssl"
    folders: tuple[str, ...] = ("INBOX",)
    since_days: int = 30
    batch_size: int = 50
    timeout: float = 30.0  # every single step (hello, login, select, search, idle start); inactivity in fetch
    fetch_timeout: float = 900.0  # one whole batch of letters
    idle_seconds: float = 540.0
    backoff_initial: float = 1.0
    backoff_max: float = 300.0
    ssl_context: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        if self.security not in ("ssl", "starttls", "none"):
            raise ValueError(f"security must be ssl, starttls or none, got {self.security!r}")
        if not self.folders:
            raise ValueError("at least one folder is needed")
        if self.idle_seconds > MAX_IDLE_SECONDS or self.idle_seconds <= 0:
            raise ValueError(f"idle_seconds must be in (0, {MAX_IDLE_SECONDS}]")


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    folder: str
    uid: int
    uidvalidity: int
    raw: bytes


@dataclass(frozen=True, slots=True)
class FolderState:
    uidvalidity: int
    last_uid: int

    def to_json(self) -> dict[str, int]:
        return {"uidvalidity": self.uidvalidity, "last_uid": self.last_uid}

    @classmethod
    def from_json(cls, value: Any) -> FolderState | None:
        if not isinstance(value, Mapping):
            return None
        try:
            return cls(int(value["uidvalidity"]), int(value["last_uid"]))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Progress:
    folder: str
    done: int
    total: int


@dataclass
class SyncSummary:
    fetched: int = 0
    skipped: int = 0  # listed by SEARCH but gone by FETCH time (expunged meanwhile)
    errors: int = 0
    resets: int = 0  # folders whose UIDVALIDITY changed
    folders: dict[str, int] = field(default_factory=dict)

    def add(self, other: SyncSummary) -> None:
        self.fetched += other.fetched
        self.skipped += other.skipped
        self.errors += other.errors
        self.resets += other.resets
        for name, count in other.folders.items():
            self.folders[name] = self.folders.get(name, 0) + count


BatchHandler = Callable[[str, list[FetchedMessage], FolderState], Awaitable[None]]
ProgressCallback = Callable[[Progress], None]


def imap_date(day: datetime) -> str:
    return f"{day.day:02d}-{_MONTHS[day.month - 1]}-{day.year}"


_FETCH_START = re.compile(rb"^\d+ FETCH \(")
_UID = re.compile(rb"\bUID (\d+)")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]")


def parse_fetch(lines: Sequence[Any]) -> dict[int, bytes]:
    """UID -> message bytes from an aioimaplib FETCH response (header line, literal, closing line)."""
    result: dict[int, bytes] = {}
    uid: int | None = None
    literal: bytes | None = None

    def flush() -> None:
        nonlocal uid, literal
        if uid is not None and literal is not None:
            result[uid] = literal
        uid, literal = None, None

    for line in lines:
        if isinstance(line, bytearray | memoryview):
            literal = bytes(line)
            continue
        if not isinstance(line, bytes):
            continue
        if _FETCH_START.match(line):
            flush()
            match = _UID.search(line)
            uid = int(match.group(1)) if match else None
        elif uid is None:
            match = _UID.search(line)
            if match:
                uid = int(match.group(1))
    flush()
    return result


def parse_search(lines: Sequence[Any]) -> list[int]:
    uids: list[int] = []
    for line in lines:
        if isinstance(line, bytes) and re.fullmatch(rb"[\d ]+", line.strip() or b"x"):
            uids.extend(int(x) for x in line.split())
    return sorted(set(uids))


def parse_thread(lines: Sequence[Any]) -> list[list[int]]:
    """A THREAD answer ``(1 2 (3)(4))(5)`` as threads of message numbers/UIDs, in order."""
    threads: list[list[int]] = []
    for line in lines:
        if not isinstance(line, bytes) or not line.startswith(b"("):
            continue
        depth = 0
        number = b""
        for byte in line + b" ":
            ch = bytes([byte])
            if ch.isdigit():
                number += ch
                continue
            if number:
                threads[-1].append(int(number))
                number = b""
            if ch == b"(":
                if depth == 0:
                    threads.append([])
                depth += 1
            elif ch == b")":
                depth -= 1
    return threads


def _ok(response: Any, step: str) -> Any:
    if getattr(response, "result", None) != "OK":
        lines = getattr(response, "lines", [])
        detail = b" ".join(x for x in lines if isinstance(x, bytes)).decode("utf-8", "replace")
        raise ImapError(step, detail or str(response))
    return response


class ImapSession:
    """One logged-in connection. Use ``async with ImapSession(config) as s``."""

    def __init__(self, config: ImapConfig) -> None:
        self.config = config
        self.client: aioimaplib.IMAP4 | None = None
        self.lost = asyncio.Event()
        self.selected: str | None = None
        self.uidnext: int | None = None

    async def _step(self, step: str, awaitable: Awaitable[Any], timeout: float | None = None) -> Any:
        limit = timeout or self.config.timeout
        try:
            return await asyncio.wait_for(awaitable, limit)
        except TimeoutError as exc:
            raise ImapError(step, f"timed out after {limit}s") from exc
        except (aioimaplib.CommandTimeout, aioimaplib.Abort, aioimaplib.Error) as exc:
            raise ImapError(step, str(exc) or type(exc).__name__) from exc

    async def __aenter__(self) -> ImapSession:
        cfg = self.config

        def lost(exc: Exception | None) -> None:
            self.lost.set()

        if cfg.security == "ssl":
            ctx = cfg.ssl_context or ssl.create_default_context()
            self.client = aioimaplib.IMAP4_SSL(cfg.host, cfg.port, timeout=cfg.timeout, ssl_context=ctx)
            self.client.protocol.conn_lost_cb = lost
        else:
            self.client = aioimaplib.IMAP4(cfg.host, cfg.port, timeout=cfg.timeout, conn_lost_cb=lost)
        try:
            await self._step("wait_hello", self.client.wait_hello_from_server())
            if cfg.security == "starttls":
                await self._starttls()
            await self._step("login", self._login())
        except BaseException:
            await self.close()
            raise
        return self

    async def _login(self) -> None:
        assert self.client is not None
        response = await self.client.login(self.config.username, self.config.password)
        _ok(response, "login")

    async def _starttls(self) -> None:
        assert self.client is not None
        protocol = self.client.protocol
        response = await self._step(
            "starttls", protocol.execute(Command("STARTTLS", protocol.new_tag(), loop=protocol.loop))
        )
        _ok(response, "starttls")
        ctx = self.config.ssl_context or ssl.create_default_context()
        transport = await self._step(
            "starttls",
            protocol.loop.start_tls(protocol.transport, protocol, ctx, server_hostname=self.config.host),
        )
        protocol.transport = transport
        await self._step("capability", protocol.capability())

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            if client.has_pending_idle():
                client.idle_done()  # interrupted while idling (cancelled): LOGOUT would wait behind IDLE
            elif not self.lost.is_set() and client.get_state() in ("AUTH", "SELECTED", "NONAUTH"):
                await asyncio.wait_for(client.logout(), 5)
        except Exception:  # closing a broken connection: nothing more to learn from it
            pass
        transport = getattr(client.protocol, "transport", None)
        if transport is not None:
            transport.close()

    @property
    def imap(self) -> aioimaplib.IMAP4:
        if self.client is None or self.lost.is_set():
            raise ImapError("connection", "not connected")
        return self.client

    async def select(self, folder: str) -> int:
        """Select ``folder``; returns its UIDVALIDITY (``self.uidnext`` is set when the server says it)."""
        response = _ok(await self._step("select", self.imap.select(_quote(folder))), f"select {folder}")
        self.selected = folder
        self.uidnext = None
        validity = None
        for line in response.lines:
            if isinstance(line, bytes):
                match = _UIDVALIDITY.search(line)
                if match:
                    validity = int(match.group(1))
                match = _UIDNEXT.search(line)
                if match:
                    self.uidnext = int(match.group(1))
        if validity is None:
            raise ImapError("select", f"no UIDVALIDITY for {folder}")
        return validity

    async def uid_search(self, *criteria: str) -> list[int]:
        response = _ok(await self._step("search", self.imap.uid_search(*criteria, charset=None)), "search")
        return parse_search(response.lines)

    async def fetch(self, uids: Sequence[int]) -> dict[int, bytes]:
        uid_set = ",".join(str(u) for u in uids)
        # aioimaplib's own timeout is one of inactivity; this outer one bounds a whole (large) batch
        response = _ok(
            await self._step(
                "fetch", self.imap.uid("fetch", uid_set, "(UID BODY.PEEK[])"), self.config.fetch_timeout
            ),
            "fetch",
        )
        return parse_fetch(response.lines)

    async def append(self, raw: bytes, folder: str, flags: str | None = None) -> None:
        _ok(await self._step("append", self.imap.append(raw, mailbox=_quote(folder), flags=flags)), "append")

    async def thread_references(self) -> list[list[int]]:
        """Dovecot's own threading of the selected folder: ``UID THREAD REFERENCES UTF-8 ALL``."""
        protocol = self.imap.protocol
        command = Command(
            "THREAD", protocol.new_tag(), "REFERENCES", "UTF-8", "ALL", prefix="UID", loop=protocol.loop
        )
        response = _ok(await self._step("thread", protocol.execute(command)), "thread")
        return parse_thread(response.lines)

    async def _until_lost(self, step: str, awaitable: Awaitable[Any]) -> Any:
        """Like ``_step``, but also gives up at once when the connection drops."""
        work = asyncio.ensure_future(self._step(step, awaitable))
        lost = asyncio.ensure_future(self.lost.wait())
        try:
            await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if not work.done():
            work.cancel()
            raise ImapError(step, "connection lost")
        return work.result()

    async def idle_wait(self, seconds: float, on_idle: Callable[[], None] | None = None) -> bool:
        """IDLE on the selected folder until the server pushes something or ``seconds`` pass.
        Returns True when the server pushed. Raises ImapError when the connection is lost.
        ``on_idle`` is called once the server has accepted IDLE."""
        client = self.imap
        idle_task = await self._until_lost("idle_start", client.idle_start(timeout=seconds + 5))
        if on_idle is not None:
            on_idle()
        push = asyncio.ensure_future(client.wait_server_push(timeout=seconds))
        lost = asyncio.ensure_future(self.lost.wait())
        pushed = False
        try:
            done, _ = await asyncio.wait(
                {push, lost}, timeout=seconds + 10, return_when=asyncio.FIRST_COMPLETED
            )
            if lost in done:
                raise ImapError("wait_server_push", "connection lost")
            if push in done:
                try:
                    lines = push.result()
                    pushed = lines != aioimaplib.STOP_WAIT_SERVER_PUSH
                except TimeoutError:
                    lines, pushed = [], False
                if any(isinstance(x, bytes) and x.startswith(b"BYE") for x in lines):
                    raise ImapError("wait_server_push", "server closed the connection (BYE)")
        finally:
            for task in (push, lost):
                task.cancel()
        if client.has_pending_idle():
            client.idle_done()
        await self._until_lost("idle_done", idle_task)
        return pushed


def encode_mailbox(name: str) -> str:
    """IMAP's modified UTF-7 (RFC 3501 5.1.3) for a mailbox name such as ``Заявки``."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def _quote(folder: str) -> str:
    encoded = encode_mailbox(folder)
    if re.fullmatch(r"[A-Za-z0-9_./&,+-]+", encoded):
        return encoded
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def sync_folder(
    session: ImapSession,
    folder: str,
    state: FolderState | None,
    on_batch: BatchHandler,
    config: ImapConfig,
    progress: ProgressCallback | None = None,
    now: datetime | None = None,
) -> tuple[FolderState, SyncSummary]:
    """Fetch what is new in ``folder`` since ``state``; returns the new state and a summary."""
    summary = SyncSummary(folders={folder: 0})
    uidvalidity = await session.select(folder)
    if state is not None and state.uidvalidity != uidvalidity:
        log.warning(
            "UIDVALIDITY of %s changed (%s -> %s): re-syncing the window",
            folder,
            state.uidvalidity,
            uidvalidity,
        )
        summary.resets += 1
        state = None
    saved = state
    if state is None:
        # Letters older than the window are never fetched: the position starts at UIDNEXT - 1 (known at
        # SELECT, before the SEARCH), so a later catch-up only sees what arrived after this point.
        baseline = (session.uidnext - 1) if session.uidnext else 0
        since = (now or datetime.now(UTC)) - timedelta(days=config.since_days)
        uids = await session.uid_search("SINCE", imap_date(since))
        if not session.uidnext:
            baseline = max([0, *await session.uid_search("ALL")])
        state = FolderState(uidvalidity, 0)
    else:
        baseline = state.last_uid
        uids = [u for u in await session.uid_search("UID", f"{state.last_uid + 1}:*") if u > state.last_uid]
    total = len(uids)
    done = 0
    if progress is not None:
        progress(Progress(folder, 0, total))
    for start in range(0, total, config.batch_size):
        chunk = uids[start : start + config.batch_size]
        try:
            bodies = await session.fetch(chunk)
        except ImapError:
            summary.errors += len(chunk)
            raise
        messages = [FetchedMessage(folder, uid, uidvalidity, bodies[uid]) for uid in chunk if uid in bodies]
        summary.skipped += len(chunk) - len(messages)
        state = FolderState(uidvalidity, max(state.last_uid, *chunk))
        await on_batch(folder, messages, state)
        saved = state
        summary.fetched += len(messages)
        summary.folders[folder] += len(messages)
        done += len(chunk)
        if progress is not None:
            progress(Progress(folder, done, total))
    if baseline > state.last_uid:
        state = FolderState(uidvalidity, baseline)
    if state != saved:
        await on_batch(folder, [], state)  # the position moved without letters (empty window, reset)
    return state, summary


class ImapSync:
    """The receiving loop for one mailbox. ``states`` maps folder -> FolderState and is updated in place
    after each committed batch."""

    def __init__(self, config: ImapConfig) -> None:
        self.config = config
        self.connected = asyncio.Event()  # set while the server has accepted IDLE (tests, health checks)

    async def _sync_all(
        self,
        session: ImapSession,
        states: dict[str, FolderState],
        on_batch: BatchHandler,
        progress: ProgressCallback | None,
    ) -> SyncSummary:
        total = SyncSummary()
        for folder in self.config.folders:
            new_state, summary = await sync_folder(
                session, folder, states.get(folder), on_batch, self.config, progress
            )
            states[folder] = new_state
            total.add(summary)
        return total

    async def sync_once(
        self,
        states: dict[str, FolderState],
        on_batch: BatchHandler,
        progress: ProgressCallback | None = None,
    ) -> SyncSummary:
        """Connect, fetch everything new in every folder, disconnect (the CLI's first sync)."""
        async with ImapSession(self.config) as session:
            return await self._sync_all(session, states, on_batch, progress)

    async def run_forever(
        self,
        states: dict[str, FolderState],
        on_batch: BatchHandler,
        progress: ProgressCallback | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Catch up, then IDLE on the first folder and catch up again after every push or at least every
        ``idle_seconds``; any failure reconnects after an exponential backoff."""
        delay = self.config.backoff_initial
        while True:
            try:
                async with ImapSession(self.config) as session:
                    await self._sync_all(session, states, on_batch, progress)
                    delay = self.config.backoff_initial
                    while True:
                        if session.selected != self.config.folders[0]:
                            await session.select(self.config.folders[0])
                        await session.idle_wait(self.config.idle_seconds, on_idle=self.connected.set)
                        self.connected.clear()
                        await self._sync_all(session, states, on_batch, progress)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # server, network, or our sink: retry the whole cycle later
                log.warning(
                    "IMAP %s:%s: %s; reconnecting in %.0fs", self.config.host, self.config.port, exc, delay
                )
            finally:
                self.connected.clear()
            await sleep(delay)
            delay = min(delay * 2, self.config.backoff_max)
