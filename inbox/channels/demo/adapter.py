"""The demo channel: stands in for a real provider in `inbox demo` data, so a newcomer can answer a
customer and watch the delivery mark change without connecting a bot. Never used for real accounts."""

from __future__ import annotations

import asyncio
import itertools
from typing import ClassVar

from inbox.core.types import (
    AccountConfig,
    Attachment,
    Capabilities,
    ChannelKind,
    InboundItem,
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

from .play import parse_play_event

_ids = itertools.count(1)


class DemoChannel:
    kind: ClassVar[str] = ChannelKind.TELEGRAM
    capabilities: ClassVar[Capabilities] = Capabilities(buttons=True, rate_per_account=30, rate_per_chat=5)

    def __init__(self, account: AccountConfig, settings: Settings) -> None:
        self.account_id = account.id
        self.kind = account.kind  # type: ignore[misc]  # a demo account plays any kind

    async def start(self) -> None:
        return None

    async def run(self, sink: InboundSink, state: PollState) -> None:
        return None

    def handle_webhook(self, request: WebhookRequest) -> WebhookResult:
        raise WebhookRejected(404, "demo accounts take no webhooks")

    async def parse(self, event: RawEvent) -> list[InboundItem]:
        """What a newcomer typed or pressed on the "play the customer" page (see ``play.py``)."""
        return parse_play_event(self.kind, self.account_id, event)

    async def fetch(self, attachment: Attachment) -> bytes:
        raise LookupError("demo attachments have no remote content")

    async def send(self, msg: OutboundMessage) -> SentMessage:
        await asyncio.sleep(0.3)  # let the manager see the message go from queued to sent
        return SentMessage(external_id=f"demo-{msg.idempotency_key}-{next(_ids)}")

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None:
        return None

    async def close(self) -> None:
        return None
