"""Typed message metadata: every channel's keys are part of the core's MessageMeta, and what the parsers
write fits the declared shapes (the stored JSON is the same as before, so no data migration)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from inbox.channels.email.meta import EmailMeta, email_part
from inbox.channels.sms.meta import SMSMeta
from inbox.channels.telegram.meta import TelegramMeta
from inbox.channels.telegram.updates import parse_update
from inbox.channels.vk.meta import VKMeta
from inbox.core.meta import ContactMeta, EmailPart, MessageMeta, fallback_from, fell_back_to
from inbox.core.types import InboundMessage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def keys(shape: type) -> set[str]:
    return set(get_type_hints(shape))


@pytest.mark.parametrize("part", [TelegramMeta, VKMeta, SMSMeta, EmailMeta])
def test_each_channels_part_is_in_the_message_meta(part: type) -> None:
    assert keys(part) <= keys(MessageMeta), keys(part) - keys(MessageMeta)


@pytest.mark.parametrize(
    "name", ["contact_own", "contact_other", "sticker", "group_message", "photo_caption", "text_reply"]
)
def test_telegram_meta_fits_its_shape(name: str) -> None:
    update: dict[str, Any] = json.loads((FIXTURES / "telegram" / f"{name}.json").read_text(encoding="utf-8"))
    (item,) = parse_update(update, account_id=1)
    assert isinstance(item, InboundMessage)
    assert set(item.meta) <= keys(TelegramMeta), set(item.meta) - keys(TelegramMeta)
    if "contact" in item.meta:
        assert set(item.meta["contact"]) <= keys(ContactMeta)
        assert item.meta["contact"]["own"] is (name == "contact_own")


def test_stored_json_keeps_its_wave_one_keys() -> None:
    assert fallback_from(5, "telegram", "blocked") == {
        "message_id": 5,
        "channel": "telegram",
        "reason": "blocked",
    }
    assert fell_back_to(6, "sms") == {"message_id": 6, "channel": "sms"}
    assert keys(EmailPart) == {
        "subject", "message_id", "in_reply_to", "references", "conversation", "conversation_start", "parent",
    }  # fmt: skip
    assert email_part({"email": {"conversation": "c1"}}) == {"conversation": "c1"}
    assert email_part({"email": "junk"}) == {} and email_part({}) == {}
