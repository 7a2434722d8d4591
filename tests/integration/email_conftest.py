"""Fixtures for the email channel's integration tests: dovecot, aiosmtpd, a memory PollState, a sink.
Imported by the test modules that need them (``from tests.integration.email_conftest import *``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from inbox.channels.email.adapter import EmailChannel
from inbox.core.types import AccountConfig, ChannelKind, RawEvent
from inbox.settings import Settings
from tests import services
from tests.dovecot import Dovecot


class MemoryState:
    """A PollState kept in memory; ``saves`` counts the writes."""

    def __init__(self, value: dict[str, Any] | None = None) -> None:
        self.value: dict[str, Any] = dict(value or {})
        self.saves = 0

    async def load(self) -> dict[str, Any]:
        return dict(self.value)

    async def save(self, state: dict[str, Any]) -> None:
        self.value = dict(state)
        self.saves += 1


@dataclass
class Sink:
    """Collects events like the core would: by key, counting duplicates."""

    events: list[RawEvent] = field(default_factory=list)

    async def __call__(self, events: list[RawEvent]) -> None:
        self.events.extend(events)

    @property
    def keys(self) -> list[str]:
        return [e.key for e in self.events]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


class SmtpHandler:
    """Accepts mail, records it and delivers it into dovecot's maildir. ``reply`` forces an answer."""

    def __init__(self, dovecot: Dovecot | None) -> None:
        self.dovecot = dovecot
        self.received: list[Received] = []
        self.reply: str | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.reply is not None:
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = bytes(envelope.original_content or b"")
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), data))
        if self.dovecot is not None:
            self.dovecot.deliver(data)
        return "250 Message accepted"


def authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"shop"
        and auth_data.password == b"secret"
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@dataclass
class SmtpServer:
    port: int
    handler: SmtpHandler


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.cleanup()
        print(server.log()[-3000:])


@pytest.fixture
def smtp_server(dovecot: Dovecot) -> Iterator[SmtpServer]:
    handler = SmtpHandler(dovecot)
    port = services.free_port()
    controller = Controller(
        handler, hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=False
    )
    controller.start()
    try:
        yield SmtpServer(port, handler)
    finally:
        controller.stop()


def make_account(dovecot: Dovecot, smtp_port: int, **extra: Any) -> AccountConfig:
    settings: dict[str, Any] = {
        "address": "shop@romashka.ru",
        "display_name": "Магазин Ромашка",
        "imap_host": "127.0.0.1",
        "imap_port": dovecot.port,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "security": "none",
        "username": dovecot.user,
        "folders": ["INBOX"],
        "since_days": 30,
    }
    settings.update(extra)
    return AccountConfig(1, ChannelKind.EMAIL, "shop mailbox", settings, {"password": dovecot.password})


@pytest.fixture
def email_settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url="sqlite+aiosqlite:///" + str(tmp_path / "x.sqlite3"),
        redis_url=None,
        secret_key="test-secret-key-0123456789",
        data_dir=tmp_path / "data",
    )


@pytest.fixture
async def channel(
    dovecot: Dovecot, smtp_server: SmtpServer, email_settings: Settings
) -> AsyncIterator[EmailChannel]:
    ch = EmailChannel(make_account(dovecot, smtp_server.port), email_settings)
    yield ch
    await ch.close()
