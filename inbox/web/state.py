"""What request handlers need from the running app, kept on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.channels import ChannelsPlugin
from sqlalchemy.ext.asyncio import AsyncEngine

from inbox.core.events import EventBus
from inbox.db import SessionFactory
from inbox.settings import Settings
from inbox.workers import Workers


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    factory: SessionFactory
    bus: EventBus
    workers: Workers
    channels: ChannelsPlugin  # the live-update transport the bus publishes to (SSE subscribes here)

    def wake_dispatcher(self) -> None:
        self.workers.wake_outbox()

    def wake_processor(self) -> None:
        self.workers.inbound_committed()


def ctx(request: Request[Any, Any, Any]) -> AppContext:
    context: AppContext = request.app.state.ctx
    return context
