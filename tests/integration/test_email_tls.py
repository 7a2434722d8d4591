"""Security modes against real servers: IMAP over TLS and STARTTLS (dovecot), SMTP STARTTLS and SMTPS
(aiosmtpd), all with a self-signed certificate that the client is told to trust."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from inbox.channels.email.adapter import EmailChannel
from inbox.channels.email.imap import (
    FetchedMessage,
    FolderState,
    ImapConfig,
    ImapError,
    ImapSession,
    ImapSync,
)
from inbox.core.types import OutboundMessage, PermanentSendError
from inbox.settings import Settings
from tests import services
from tests.dovecot import Dovecot
from tests.integration.email_conftest import SmtpHandler, authenticator, make_account


@pytest.fixture
def tls_dovecot() -> Iterator[Dovecot]:
    server = Dovecot(tls=True)
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


def client_context(server: Dovecot) -> ssl.SSLContext:
    assert server.cert is not None
    return ssl.create_default_context(cafile=str(server.cert))


def server_context(server: Dovecot) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(server.cert), str(server.key))
    return ctx


@pytest.mark.parametrize("security", ["ssl", "starttls"])
async def test_imap_security_modes(tls_dovecot: Dovecot, security: str) -> None:
    tls_dovecot.deliver(b"From: a@example.org\r\nMessage-ID: <tls-1@example.org>\r\nSubject: t\r\n\r\nhi\r\n")
    port = tls_dovecot.tls_port if security == "ssl" else tls_dovecot.port
    config = ImapConfig(
        "127.0.0.1",
        port,
        tls_dovecot.user,
        tls_dovecot.password,
        security=security,  # type: ignore[arg-type]
        ssl_context=client_context(tls_dovecot),
    )
    fetched: list[FetchedMessage] = []

    async def on_batch(folder: str, messages: list[FetchedMessage], new_state: FolderState) -> None:
        fetched.extend(messages)

    states: dict[str, FolderState] = {}
    summary = await ImapSync(config).sync_once(states, on_batch)
    assert summary.fetched == 1 and states["INBOX"].last_uid == 1
    assert b"<tls-1@example.org>" in fetched[0].raw


async def test_imap_tls_refuses_an_untrusted_certificate(tls_dovecot: Dovecot) -> None:
    config = ImapConfig(
        "127.0.0.1", tls_dovecot.tls_port, tls_dovecot.user, tls_dovecot.password, security="ssl"
    )
    with pytest.raises((ssl.SSLError, ImapError, OSError)):
        async with ImapSession(config):
            pass


@pytest.mark.parametrize("security", ["starttls", "ssl"])
async def test_smtp_security_modes(tls_dovecot: Dovecot, tmp_path: Path, security: str) -> None:
    handler = SmtpHandler(tls_dovecot)
    port = services.free_port()
    kwargs: dict[str, object] = (
        {"tls_context": server_context(tls_dovecot), "require_starttls": True}
        if security == "starttls"
        else {"ssl_context": server_context(tls_dovecot)}
    )
    # aiosmtpd counts only STARTTLS as TLS for AUTH; over implicit TLS it must be told AUTH is fine
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_require_tls=security == "starttls",
        **kwargs,
    )
    controller.start()
    try:
        account = make_account(tls_dovecot, port, security="none", smtp_security=security)
        settings = Settings(
            database_url="sqlite+aiosqlite:///x", redis_url=None, secret_key="k" * 20, data_dir=tmp_path
        )
        channel = EmailChannel(account, settings, ssl_context=client_context(tls_dovecot))
        sent = await channel.send(
            OutboundMessage(1, "client@example.org", "Привет", "outbox:tls", meta={"subject": "s"})
        )
        assert len(handler.received) == 1
        assert f"<{sent.external_id}>".encode() in handler.received[0].data
        if security == "starttls":  # a server that demands STARTTLS refuses a plain session: settings error
            plain = EmailChannel(make_account(tls_dovecot, port, security="none"), settings)
            with pytest.raises(PermanentSendError):
                await plain.send(OutboundMessage(1, "client@example.org", "x", "outbox:plain"))
    finally:
        controller.stop()
