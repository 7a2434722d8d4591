"""The SMS channel: one phone number / sender name at an HTTP gateway provider (Twilio or SMS.ru), over httpx.

Account configuration (``channel_account.settings`` / ``.secrets``):

- settings ``provider``: ``"twilio"`` or ``"smsru"``; ``from``: E.164 number or approved alphanumeric sender
  name (Twilio may use ``messaging_service_sid`` instead); ``api_base``: gateway base URL (regional endpoint,
  tests' emulator); ``max_parts``: refuse texts needing more SMS parts (default 6); ``public_url``: this
  inbox's public base URL when it differs from INBOX_PUBLIC_URL; ``status_callback_url``: explicit Twilio
  StatusCallback (default ``{public_url}/webhooks/sms/{account_id}/status``); ``attachments``: ``"note"``
  (default: send the text with a note naming each file) or ``"refuse"`` (permanent failure, so the outbox
  falls back to a channel that carries files); SMS.ru only: ``test`` (send with test=1, nothing delivered,
  nothing billed), ``verify_hash`` (also check the callback ``hash`` field).
- secrets: Twilio ``account_sid`` + ``auth_token``; SMS.ru ``api_id`` + ``webhook_token`` (a random secret
  that must appear as ``?token=`` in the callback URL registered at SMS.ru; see :meth:`webhook_urls`).

Webhooks: ``POST /webhooks/sms/{account_id}`` (inbound) and ``/webhooks/sms/{account_id}/status``
(receipts) both land in :meth:`SMSChannel.handle_webhook`, with ``request.sub_path`` ``""`` / ``"status"``.
"""

from __future__ import annotations

import mimetypes
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from inbox.channels.sms.providers.base import DEFAULT_TIMEOUT, MediaUnavailable, SMSConfigError, SMSProvider
from inbox.channels.sms.providers.forms import parse_form
from inbox.channels.sms.providers.smsru import SmsRuProvider
from inbox.channels.sms.providers.twilio import TwilioProvider
from inbox.channels.sms.segments import DEFAULT_MAX_PARTS, count_segments
from inbox.channels.sms.spec import CAPABILITIES
from inbox.core.phones import try_normalize_phone
from inbox.core.types import (
    AccountConfig,
    Attachment,
    Capabilities,
    ChannelKind,
    ContactHints,
    DeliveryReceipt,
    InboundItem,
    InboundMessage,
    InboundSink,
    OutboundMessage,
    PermanentSendError,
    PollState,
    RawEvent,
    SentMessage,
    WebhookRejected,
    WebhookRequest,
    WebhookResult,
)

if TYPE_CHECKING:
    from inbox.settings import Settings


class SMSChannel:
    kind: ClassVar[str] = ChannelKind.SMS
    capabilities: ClassVar[Capabilities] = CAPABILITIES

    def __init__(
        self, account: AccountConfig, settings: Settings, *, client: httpx.AsyncClient | None = None
    ) -> None:
        if account.kind != ChannelKind.SMS:
            raise SMSConfigError(f"account {account.id} is a {account.kind} account, not sms")
        self.account = account
        self.account_id = account.id
        self.settings = settings
        opts = account.settings
        self.provider_name = str(opts.get("provider") or "")
        self.max_parts = _positive_int(opts.get("max_parts", DEFAULT_MAX_PARTS), "max_parts")
        self.attachment_policy = str(opts.get("attachments") or "note")
        if self.attachment_policy not in ("note", "refuse"):
            raise SMSConfigError(
                f"sms setting 'attachments' must be note or refuse, got {self.attachment_policy!r}"
            )
        self.public_base = str(opts.get("public_url") or settings.public_url or "").rstrip("/") or None
        self._owns_client = client is None
        self.client = client or httpx.AsyncClient(timeout=float(opts.get("timeout") or DEFAULT_TIMEOUT))
        self.send_timeout = float(
            opts.get("timeout") or DEFAULT_TIMEOUT
        )  # the outbox keeps its lease for this
        self.provider: SMSProvider = self._build_provider()

    def _build_provider(self) -> SMSProvider:
        opts, secrets = self.account.settings, self.account.secrets
        sender = str(opts.get("from") or "") or None
        api_base = str(opts.get("api_base") or "") or None
        if self.provider_name == "twilio":
            bases = [b for b in {self.public_base, (self.settings.public_url or "").rstrip("/")} if b]
            return TwilioProvider(
                account_sid=str(secrets.get("account_sid") or ""),
                auth_token=str(secrets.get("auth_token") or ""),
                sender=sender,
                messaging_service_sid=str(opts.get("messaging_service_sid") or "") or None,
                api_base=api_base,
                status_callback_url=self.webhook_urls().get("status"),
                public_bases=sorted(bases),
                client=self.client,
                max_media_bytes=self.settings.max_upload_bytes,
            )
        if self.provider_name == "smsru":
            return SmsRuProvider(
                api_id=str(secrets.get("api_id") or ""),
                sender=sender,
                api_base=api_base,
                webhook_token=str(secrets.get("webhook_token") or "") or None,
                verify_hash=bool(opts.get("verify_hash", False)),
                test=bool(opts.get("test", False)),
                client=self.client,
            )
        if self.provider_name == "smsc":
            raise SMSConfigError("the smsc provider is not supported yet; use twilio or smsru")
        raise SMSConfigError(f"sms setting 'provider' must be twilio or smsru, got {self.provider_name!r}")

    def webhook_urls(self) -> dict[str, str]:
        """Where the provider must call us (empty when no public URL is known): show these to the admin."""
        explicit = str(self.account.settings.get("status_callback_url") or "")
        urls: dict[str, str] = {}
        if self.public_base:
            base = f"{self.public_base}/webhooks/sms/{self.account.id}"
            if self.provider_name == "smsru":
                token = str(self.account.secrets.get("webhook_token") or "")
                urls["status"] = f"{base}/status?token={token}"  # SMS.ru has one callback URL for everything
            else:
                urls["inbound"] = base
                urls["status"] = f"{base}/status"
        if explicit:
            urls["status"] = explicit
        return urls

    # ---- lifecycle (webhook-only channel) -------------------------------------------------------------

    async def start(self) -> None:
        return None

    async def run(self, sink: InboundSink, state: PollState) -> None:
        return None  # providers call our webhooks; nothing to poll

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        return None  # SMS has no buttons

    async def close(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    # ---- inbound -------------------------------------------------------------------------------------

    def handle_webhook(self, request: WebhookRequest) -> WebhookResult:
        if len(request.body) > self.settings.max_webhook_bytes:
            raise WebhookRejected(413, "webhook body too large")
        form = parse_form(request.headers.get("content-type", ""), request.body)
        return self.provider.split_webhook(request, form)

    async def parse(self, event: RawEvent) -> list[InboundItem]:
        payload = event.payload
        kind = payload.get("type")
        if kind == "inbound":
            return [self._inbound(payload)]
        if kind == "status":
            state = payload.get("state")
            if state is None:
                return []  # queued / accepted / in SMS.ru's queue: nothing changes for the manager
            return [
                DeliveryReceipt(
                    kind=ChannelKind.SMS,
                    account_id=self.account.id,
                    external_message_id=str(payload["message_id"]),
                    state=str(state),
                    at=_when(payload.get("at")),
                    error=payload.get("error"),
                )
            ]
        if kind == "other":
            return []
        raise ValueError(f"unknown SMS raw event type {kind!r} (key {event.key})")

    def _inbound(self, payload: dict[str, Any]) -> InboundMessage:
        sender = str(payload.get("from") or "")
        phone = try_normalize_phone(sender, self.settings.default_region)
        attachments = tuple(_attachment(index, item) for index, item in enumerate(payload.get("media") or []))
        meta: dict[str, Any] = {"provider": payload.get("provider"), "to": payload.get("to")}
        if phone is None:
            meta["sender_not_a_phone"] = True  # short code or alphanumeric sender: kept as is
        return InboundMessage(
            kind=ChannelKind.SMS,
            account_id=self.account.id,
            external_user_id=phone or sender,
            external_message_id=str(payload["message_id"]),
            sent_at=_when(payload.get("at")),
            text=str(payload.get("text") or "") or None,
            attachments=attachments,
            contact=ContactHints(display_name=phone or sender, phone=phone),
            meta=meta,
        )

    async def fetch(self, attachment: Attachment) -> bytes:
        if not attachment.ref:
            raise MediaUnavailable(f"attachment {attachment.filename!r} has no provider reference")
        return await self.provider.fetch_media(attachment.ref)

    # ---- outbound ------------------------------------------------------------------------------------

    async def send(self, msg: OutboundMessage) -> SentMessage:
        to = try_normalize_phone(msg.chat_id, self.settings.default_region)
        if to is None:
            raise PermanentSendError(f"not a phone number this channel can text: {msg.chat_id!r}")
        text, dropped = self.compose(msg)
        if not text.strip():
            raise PermanentSendError("nothing to send: SMS carries text only and this message has none")
        info = count_segments(text)
        if info.parts > self.max_parts:
            raise PermanentSendError(
                f"text needs {info.parts} SMS parts ({info.encoding}, {info.units} units); "
                f"this account allows at most {self.max_parts}"
            )
        external_id = await self.provider.send(to, text, msg.idempotency_key)
        meta: dict[str, Any] = {
            "provider": self.provider_name,
            "parts": info.parts,
            "encoding": info.encoding,
        }
        if dropped:
            meta["attachments_not_sent"] = dropped
        return SentMessage(external_id=external_id, state="sent", meta=meta)

    def compose(self, msg: OutboundMessage) -> tuple[str, list[str]]:
        """The exact text to send (buttons and attachment notes rendered as text) and the files left out.
        Raises PermanentSendError when attachments are present and the account refuses them."""
        lines = [msg.text.rstrip()] if msg.text.strip() else []
        for row in msg.buttons:
            for button in row:
                lines.append(f"{button.label}: {button.url}" if button.url else f"- {button.label}")
        dropped = [a.filename for a in msg.attachments]
        if dropped and self.attachment_policy == "refuse":
            raise PermanentSendError(f"SMS cannot carry files ({', '.join(dropped)})")
        lines.extend(f"[Attachment {name} - not available by SMS]" for name in dropped)
        return "\n".join(lines), dropped


def _attachment(index: int, item: Any) -> Attachment:
    url = str(item.get("url") or "") if isinstance(item, dict) else ""
    ctype = str(item.get("content_type") or "application/octet-stream") if isinstance(item, dict) else ""
    major = ctype.split("/", 1)[0]
    kind = {"image": "photo", "video": "video"}.get(major, "document")
    ext = mimetypes.guess_extension(ctype) or ""
    return Attachment(kind=kind, filename=f"mms-{index + 1}{ext}", content_type=ctype, ref=url)


def _when(raw: object) -> datetime:
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _positive_int(raw: object, name: str) -> int:
    try:
        value = int(str(raw))
    except (TypeError, ValueError) as exc:
        raise SMSConfigError(f"sms setting {name!r} must be a positive integer, got {raw!r}") from exc
    if value < 1:
        raise SMSConfigError(f"sms setting {name!r} must be a positive integer, got {raw!r}")
    return value
