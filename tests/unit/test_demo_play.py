"""The demo channel turns what the customer page sends into inbound items, and nothing else."""

from __future__ import annotations

import pytest

from inbox.channels.demo.play import PlayError, make_event, new_user, parse_play_event
from inbox.core.types import ChannelKind, InboundCallback, InboundMessage, RawEvent
from inbox.models import ChannelAccount


def account(kind: str = "telegram") -> ChannelAccount:
    return ChannelAccount(id=3, kind=kind, name="demo", settings={"demo": True}, secrets={})


def test_a_typed_message_and_a_pressed_button() -> None:
    said = make_event(account(), "700123", " Вера ", text=" Здравствуйте ", locale="en")
    [msg] = parse_play_event(ChannelKind.TELEGRAM, 3, said)
    assert isinstance(msg, InboundMessage)
    assert (msg.external_user_id, msg.text, msg.contact.display_name, msg.contact.locale) == (
        "700123",
        "Здравствуйте",
        "Вера",
        "en",
    )
    assert msg.contact.phone is None and msg.external_message_id == said.key
    pressed = make_event(account(), "700123", "Вера", payload="b1:cats::x")
    [cb] = parse_play_event(ChannelKind.TELEGRAM, 3, pressed)
    assert isinstance(cb, InboundCallback) and cb.payload == "b1:cats::x"
    assert make_event(account(), "1", "x", text="a").key != make_event(account(), "1", "x", text="a").key


def test_an_sms_customer_is_their_phone_number() -> None:
    user = new_user("sms", "8 (999) 000-11-22")
    assert user == "+79990001122"
    [msg] = parse_play_event(ChannelKind.SMS, 3, make_event(account("sms"), user, "Роман", text="Где заказ"))
    assert isinstance(msg, InboundMessage) and msg.contact.phone == "+79990001122"  # vouched, like a real SMS
    with pytest.raises(PlayError):
        new_user("sms", "12")
    assert new_user("telegram", None).isdigit()


@pytest.mark.parametrize(
    ("text", "payload", "user"),
    [("", "", "1"), ("   ", "", "1"), ("x" * 2001, "", "1"), ("hi", "", ""), ("hi", "", "9" * 65)],
)
def test_bad_input_is_refused(text: str, payload: str, user: str) -> None:
    with pytest.raises(PlayError):
        make_event(account(), user, "x", text=text, payload=payload)


def test_anything_else_is_ignored_and_a_bad_time_is_now() -> None:
    for payload in ({}, {"type": "message"}, {"type": "other", "user": "1"}):
        assert parse_play_event(ChannelKind.VK, 3, RawEvent(key="k", payload=payload)) == []
    odd = {"type": "message", "user": "1", "text": "hi", "id": "k", "at": "yesterday"}
    [msg] = parse_play_event(ChannelKind.VK, 3, RawEvent(key="k", payload=odd))
    assert isinstance(msg, InboundMessage) and msg.sent_at.tzinfo is not None
