"""The widget adapter. Inbound: the widget's routes commit raw events (a visitor's message or button press)
and the processor turns them into domain items here. Outbound: the message is already stored (the outbox
committed it); sending pushes a notice on the visitor's live stream, and the browser reads it from history.
It counts as delivered once the browser has fetched it (``routes``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from inbox.channels.spec import ChannelRuntime
from inbox.channels.widget.spec import CAPABILITIES
from inbox.core.events import visitor_channel
from inbox.core.files import resolve
from inbox.core.types import (
    AccountConfig,
    Attachment,
    Capabilities,
    ContactHints,
    InboundCallback,
    InboundItem,
    InboundMessage,
    InboundSink,
    OutboundMessage,
    PollState,
    RawEvent,
    SentMessage,
    WebhookRejected,
    WebhookRequest,
    WebhookResult,
)
from inbox.settings import Settings

KIND = "widget"


def stream_of(account_id: int, external_id: str) -> str:
    return visitor_channel(str(KIND), account_id, external_id)


def _at(value: object) -> datetime:
    try:
        at = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class WidgetChannel:
    kind: ClassVar[str] = KIND
    capabilities: ClassVar[Capabilities] = CAPABILITIES

    def __init__(self, account: AccountConfig, settings: Settings) -> None:
        self.account_id = account.id
        self.settings = settings
        self.runtime: ChannelRuntime | None = None

    def bind(self, runtime: ChannelRuntime) -> None:
        self.runtime = runtime

    async def start(self) -> None:
        return None

    async def run(self, sink: InboundSink, state: PollState) -> None:
        return None

    def handle_webhook(self, request: WebhookRequest) -> WebhookResult:
        raise WebhookRejected(404, "the widget takes its visitors' messages on /widget/, not as webhooks")

    async def parse(self, event: RawEvent) -> list[InboundItem]:
        p = event.payload
        visitor = str(p.get("visitor") or "")
        if not visitor:
            return []
        if p.get("type") == "button":
            return [
                InboundCallback(
                    kind=KIND,
                    account_id=self.account_id,
                    external_user_id=visitor,
                    callback_id=str(p.get("id") or event.key),
                    payload=str(p.get("payload") or ""),
                    at=_at(p.get("at")),
                    contact=ContactHints(display_name=str(p.get("name") or "")),
                )
            ]
        if p.get("type") != "message":
            return []
        attachments = tuple(
            Attachment(
                kind="photo" if str(a.get("content_type", "")).startswith("image/") else "document",
                filename=str(a.get("filename") or "file"),
                content_type=str(a.get("content_type") or "application/octet-stream"),
                size=int(a.get("size") or 0),
                ref=str(a.get("path") or "") or None,
            )
            for a in p.get("attachments") or []
            if isinstance(a, dict)
        )
        return [
            InboundMessage(
                kind=KIND,
                account_id=self.account_id,
                external_user_id=visitor,
                external_message_id=event.key,
                sent_at=_at(p.get("at")),
                text=str(p.get("text") or "") or None,
                attachments=attachments,
                contact=ContactHints(
                    display_name=str(p.get("name") or ""), locale=str(p.get("locale") or "") or None
                ),
            )
        ]

    async def fetch(self, attachment: Attachment) -> bytes:
        """An upload the visitor made, stored under the data dir before the message was sent."""
        if not attachment.ref:
            raise LookupError("no stored upload")
        path: Path = resolve(self.settings.data_dir, attachment.ref)
        return await asyncio.to_thread(path.read_bytes)

    async def send(self, msg: OutboundMessage) -> SentMessage:
        external_id = f"widget-{msg.idempotency_key}"
        if self.runtime is not None and self.runtime.bus is not None:
            notice = {"type": "message", "ext": external_id}
            self.runtime.bus.publish_to(stream_of(self.account_id, msg.chat_id), notice)
        return SentMessage(external_id=external_id, state="sent")

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        return None

    async def close(self) -> None:
        return None
