"""The corporate mailbox channel: IMAP in (``email_imap``), SMTP out (aiosmtplib).

``account.settings``: address, display_name, imap_host, imap_port, smtp_host, smtp_port, security
(ssl|starttls|none; imap_security / smtp_security override it), username, folders (list), since_days,
sent_folder, idle_seconds, imap_timeout, reconnect_min_seconds, reconnect_max_seconds (optional).
``account.secrets``: password; smtp_username and smtp_password (optional, default to the IMAP ones).

State (``channel_account.state``): ``{"imap": {folder: {"uidvalidity": n, "last_uid": n}}}``.
"""

from __future__ import annotations

import base64
import logging
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import aiosmtplib

from inbox.channels.email.compose import compose
from inbox.channels.email.imap import (
    FetchedMessage,
    FolderState,
    ImapConfig,
    ImapSession,
    ImapSync,
    ProgressCallback,
    Security,
    SyncSummary,
)
from inbox.channels.email.meta import EmailMeta
from inbox.channels.email.parse import EmailRejected, bounded_id, message_id_of, parse_email, raw_key
from inbox.channels.email.spec import CAPABILITIES
from inbox.core.types import (
    AccountConfig,
    Attachment,
    Capabilities,
    ChannelKind,
    ContactHints,
    InboundItem,
    InboundMessage,
    InboundSink,
    OutboundMessage,
    PermanentSendError,
    PollState,
    RawEvent,
    SentMessage,
    ThreadHints,
    TransientSendError,
    WebhookRejected,
    WebhookRequest,
    WebhookResult,
)
from inbox.settings import Settings

log = logging.getLogger(__name__)

STATE_KEY = "imap"
_DEFAULT_PORTS: dict[str, tuple[int, int]] = {"ssl": (993, 465), "starttls": (143, 587), "none": (143, 25)}


class EmailConfigError(ValueError):
    """The account's settings cannot describe a mailbox; the message names the setting."""


def _security(value: Any, name: str) -> Security:
    if value not in ("ssl", "starttls", "none"):
        raise EmailConfigError(f"{name} must be ssl, starttls or none, got {value!r}")
    result: Security = value
    return result


def _int_setting(settings: Mapping[str, Any], name: str, default: int) -> int:
    value = settings.get(name, default)
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise EmailConfigError(f"{name} must be an integer, got {value!r}") from exc


def _float_setting(settings: Mapping[str, Any], name: str, default: float) -> float:
    value = settings.get(name, default)
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise EmailConfigError(f"{name} must be a number, got {value!r}") from exc


def event_for(message: FetchedMessage) -> RawEvent:
    """The raw event of a fetched letter: keyed by Message-ID so a re-sync or a copy in another folder
    is the same event."""
    return RawEvent(
        key=raw_key(message.raw, message_id_of(message.raw)),
        payload={
            "raw_b64": base64.b64encode(message.raw).decode("ascii"),
            "folder": message.folder,
            "uid": message.uid,
            "uidvalidity": message.uidvalidity,
        },
    )


class EmailChannel:
    kind: ClassVar[str] = ChannelKind.EMAIL
    capabilities: ClassVar[Capabilities] = CAPABILITIES

    def __init__(
        self, account: AccountConfig, settings: Settings, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.account = account
        self.account_id = account.id
        self.settings = settings
        cfg, secrets = account.settings, account.secrets
        self.address = str(cfg.get("address") or "").strip().lower()
        if "@" not in self.address:
            raise EmailConfigError(f"address must be an email address, got {cfg.get('address')!r}")
        self.display_name = str(cfg.get("display_name") or "")
        default_security = _security(cfg.get("security", "ssl"), "security")
        imap_security = _security(cfg.get("imap_security", default_security), "imap_security")
        self.smtp_security = _security(cfg.get("smtp_security", default_security), "smtp_security")
        folders = cfg.get("folders") or ["INBOX"]
        if isinstance(folders, str):
            folders = [f.strip() for f in folders.split(",") if f.strip()]
        username = str(cfg.get("username") or self.address)
        password = secrets.get("password")
        if not isinstance(password, str):
            raise EmailConfigError("secrets.password is required")
        if not cfg.get("imap_host") or not cfg.get("smtp_host"):
            raise EmailConfigError("imap_host and smtp_host are required")
        self.ssl_context = ssl_context
        self.imap = ImapConfig(
            host=str(cfg["imap_host"]),
            port=_int_setting(cfg, "imap_port", _DEFAULT_PORTS[imap_security][0]),
            username=username,
            password=password,
            security=imap_security,
            folders=tuple(str(f) for f in folders),
            since_days=_int_setting(cfg, "since_days", 30),
            idle_seconds=_float_setting(cfg, "idle_seconds", 540.0),
            timeout=_float_setting(cfg, "imap_timeout", 30.0),
            backoff_initial=_float_setting(cfg, "reconnect_min_seconds", 1.0),
            backoff_max=_float_setting(cfg, "reconnect_max_seconds", 300.0),
            ssl_context=ssl_context,
        )
        self.smtp_host = str(cfg["smtp_host"])
        self.smtp_port = _int_setting(cfg, "smtp_port", _DEFAULT_PORTS[self.smtp_security][1])
        self.smtp_username = str(secrets.get("smtp_username") or username)
        self.smtp_password = str(secrets.get("smtp_password") or password)
        self.smtp_timeout = _float_setting(cfg, "smtp_timeout", 60.0)
        self.send_timeout = self.smtp_timeout  # the outbox starts a send only while its lease covers this
        self.sent_folder = cfg.get("sent_folder") or None
        self.sync = ImapSync(self.imap)

    # ---- receiving -------------------------------------------------------------------------------------

    async def start(self) -> None:
        return None

    @staticmethod
    def _load_states(state: Mapping[str, Any]) -> dict[str, FolderState]:
        folders = state.get(STATE_KEY)
        result: dict[str, FolderState] = {}
        if isinstance(folders, Mapping):
            for name, value in folders.items():
                parsed = FolderState.from_json(value)
                if parsed is not None:
                    result[str(name)] = parsed
        return result

    async def _prepare(self, sink: InboundSink, state: PollState) -> tuple[dict[str, FolderState], Any]:
        full = dict(await state.load())
        states = self._load_states(full)

        async def on_batch(folder: str, messages: list[FetchedMessage], new_state: FolderState) -> None:
            if messages:
                await sink([event_for(m) for m in messages])
            states[folder] = new_state
            full[STATE_KEY] = {name: s.to_json() for name, s in states.items()}
            await state.save(dict(full))

        return states, on_batch

    async def run(self, sink: InboundSink, state: PollState) -> None:
        """Catch up, then IDLE forever; events are committed through ``sink`` before the state moves."""
        states, on_batch = await self._prepare(sink, state)
        await self.sync.run_forever(states, on_batch)

    async def sync_once(
        self, sink: InboundSink, state: PollState, progress: ProgressCallback | None = None
    ) -> SyncSummary:
        """One pass over every folder (first sync from the CLI, with a progress callback)."""
        states, on_batch = await self._prepare(sink, state)
        return await self.sync.sync_once(states, on_batch, progress)

    def handle_webhook(self, request: WebhookRequest) -> WebhookResult:
        raise WebhookRejected(404, "the email channel has no webhooks")

    async def parse(self, event: RawEvent) -> list[InboundItem]:
        """One raw letter -> [InboundMessage]; [] for letters we sent ourselves (a Sent folder).
        Raises EmailRejected for bytes that are not a usable letter."""
        try:
            raw = base64.b64decode(event.payload["raw_b64"], validate=True)
        except (KeyError, TypeError, ValueError) as exc:
            raise EmailRejected("raw event has no valid raw_b64 payload") from exc
        parsed = parse_email(raw)
        if parsed.from_address == self.address:
            return []
        external_id = bounded_id(parsed.message_id) if parsed.message_id else raw_key(raw, None)
        attachments = tuple(
            Attachment(
                kind=_attachment_kind(a.inline, a.content_type),
                filename=a.filename,
                content_type=a.content_type,
                size=len(a.data),
                content_id=a.content_id,
                data=a.data,
            )
            for a in parsed.attachments
        )
        return [
            InboundMessage(
                kind=ChannelKind.EMAIL,
                account_id=self.account_id,
                external_user_id=parsed.from_address,
                external_message_id=external_id,
                sent_at=parsed.date or datetime.now(UTC),
                text=parsed.text,
                html=parsed.html,
                attachments=attachments,
                contact=ContactHints(display_name=parsed.from_name, email=parsed.from_address),
                thread_hints=ThreadHints(
                    subject=parsed.subject,
                    message_id=parsed.message_id,
                    in_reply_to=parsed.in_reply_to,
                    references=parsed.references,
                ),
                meta=EmailMeta(
                    {
                        "auto": parsed.is_auto,
                        "auto_reason": parsed.auto_reason,
                        "full_text": parsed.full_text,
                        "subject": parsed.subject,
                        "to": list(parsed.to),
                        "cc": list(parsed.cc),
                        "reply_to": parsed.reply_to,
                        "folder": event.payload.get("folder"),
                    }
                ),
            )
        ]

    async def fetch(self, attachment: Attachment) -> bytes:
        if attachment.data is None:
            raise LookupError(f"email attachment {attachment.filename!r} carries no data")
        return attachment.data

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        return None

    async def close(self) -> None:
        return None

    # ---- sending ---------------------------------------------------------------------------------------

    async def send(self, msg: OutboundMessage) -> SentMessage:
        letter = compose(msg, self.address, self.display_name, data_dir=self.settings.data_dir)
        message_id = str(letter["Message-ID"])
        try:
            errors, _ = await aiosmtplib.send(
                letter,
                hostname=self.smtp_host,
                port=self.smtp_port,
                username=self.smtp_username or None,
                password=self.smtp_password or None,
                use_tls=self.smtp_security == "ssl",
                start_tls=self.smtp_security == "starttls",
                tls_context=self.ssl_context,
                timeout=self.smtp_timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            reason = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            if codes and all(500 <= c < 600 for c in codes):
                raise PermanentSendError(f"recipient refused: {reason}") from exc
            raise TransientSendError(f"recipient deferred: {reason}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            reason = f"SMTP {exc.code} {exc.message}"
            if 500 <= exc.code < 600:
                raise PermanentSendError(reason) from exc
            raise TransientSendError(reason) from exc
        except (OSError, TimeoutError) as exc:  # includes SMTPServerDisconnected, SMTPConnectError, timeouts
            raise TransientSendError(f"SMTP connection: {type(exc).__name__}: {exc}") from exc
        except aiosmtplib.SMTPException as exc:  # e.g. AUTH or STARTTLS not offered: the settings are wrong
            raise PermanentSendError(f"SMTP setup: {exc}") from exc
        if errors:
            log.warning("some recipients were refused for %s: %s", message_id, errors)
        if self.sent_folder:
            await self._append_sent(letter.as_bytes())
        return SentMessage(external_id=message_id.strip("<>"), meta={"message_id": message_id})

    async def _append_sent(self, raw: bytes) -> None:
        """Keep a copy in the Sent folder; the letter is already out, so a failure is only logged."""
        try:
            async with ImapSession(self.imap) as session:
                await session.append(raw, str(self.sent_folder), flags="(\\Seen)")
        except Exception as exc:
            log.warning("could not append to %s: %s", self.sent_folder, exc)


def _attachment_kind(inline: bool, content_type: str) -> str:
    if inline:
        return "inline"
    return "photo" if content_type.startswith("image/") else "document"
