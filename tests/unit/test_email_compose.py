from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from inbox.channels.email.account import email_account_config, parse_since
from inbox.channels.email.compose import compose, message_id_for, reply_subject
from inbox.core.types import Attachment, OutboundMessage, PermanentSendError


def test_message_id_is_stable_per_idempotency_key() -> None:
    assert message_id_for("outbox:1", "shop.ru") == message_id_for("outbox:1", "shop.ru")
    assert message_id_for("outbox:1", "shop.ru") != message_id_for("outbox:2", "shop.ru")
    assert message_id_for("outbox:1", "shop.ru").endswith("@shop.ru>")


@pytest.mark.parametrize(
    ("subject", "is_reply", "expected"),
    [
        ("Заказ", True, "Re: Заказ"),
        ("Re: Заказ", True, "Re: Заказ"),
        ("RE: x", True, "RE: x"),
        ("Отв: x", True, "Отв: x"),
        ("Заказ", False, "Заказ"),
        (None, True, ""),
    ],
)
def test_reply_subject(subject: str | None, is_reply: bool, expected: str) -> None:
    assert reply_subject(subject, is_reply) == expected


def test_compose_plain_only_and_missing_file(tmp_path: Path) -> None:
    msg = OutboundMessage(1, "a@b.ru", "Привет", "k", meta={"references": "x@y <z@w>"})
    letter = compose(msg, "shop@romashka.ru", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert letter.get_content_type() == "text/plain" and letter["References"] == "<x@y> <z@w>"
    assert letter["In-Reply-To"] is None and letter["Auto-Submitted"] is None
    bad = OutboundMessage(
        1, "a@b.ru", "x", "k", attachments=(Attachment("document", "a.pdf", path="nope.pdf"),)
    )
    with pytest.raises(PermanentSendError, match="cannot be read"):
        compose(bad, "shop@romashka.ru", data_dir=tmp_path)


def test_account_config_from_cli_options() -> None:
    settings, secrets = email_account_config(
        address="Shop@Romashka.ru",
        imap_host="imap.romashka.ru",
        smtp_host="smtp.romashka.ru",
        password="pw",
        security="starttls",
        folders="INBOX, Заявки",
        since="2w",
    )
    assert settings["imap_port"] == 143 and settings["smtp_port"] == 587
    assert settings["folders"] == ["INBOX", "Заявки"] and settings["since_days"] == 14
    assert settings["username"] == "Shop@Romashka.ru" and settings["address"] == "shop@romashka.ru"
    assert secrets == {"password": "pw"}
    assert parse_since("3m") == 90 and parse_since(45) == 45
    with pytest.raises(ValueError, match="--since"):
        parse_since("soon")
    with pytest.raises(ValueError, match="--security"):
        email_account_config(address="a@b.ru", imap_host="h", smtp_host="h", password="p", security="tls")
    with pytest.raises(ValueError, match="--address"):
        email_account_config(address="nope", imap_host="h", smtp_host="h", password="p")
