"""Pure VK translation helpers: payload round trip, message keys, keyboard limits, reply references."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox.channels.vk.events import (
    CallbackRef,
    VKPayloadError,
    decode_payload,
    encode_payload,
    largest_photo_url,
    message_key,
)
from inbox.channels.vk.outbound import keyboard_json, map_vk_error, random_id, reply_params
from inbox.core.types import Button, PermanentSendError, TransientSendError


@given(st.text(max_size=200))
def test_our_payloads_round_trip(data: str) -> None:
    assert decode_payload(encode_payload(data)) == data
    assert decode_payload(json.dumps(encode_payload(data))) == data  # VK may hand it back as JSON text


def test_foreign_payloads_become_compact_json() -> None:
    assert decode_payload({"command": "start"}) == '{"command":"start"}'
    assert decode_payload('{"cmd": 5}') == '{"cmd":5}'
    assert decode_payload("not json") == "not json"


@given(st.text(min_size=1, max_size=100) | st.sampled_from(["²", "٣", "0", "00", "9" * 30]))
def test_random_id_is_always_a_positive_int32(key: str) -> None:
    value = random_id(key)
    assert 0 < value < 2**31
    assert value == random_id(key)


@given(st.integers(min_value=1, max_value=2**31 - 1))
def test_numeric_keys_map_one_to_one(row_id: int) -> None:
    assert random_id(str(row_id)) == row_id


def test_callback_ref_round_trip_and_errors() -> None:
    ref = CallbackRef(event_id="3159dc190b1g", user_id=101, peer_id=2000000001)
    assert CallbackRef.decode(ref.encode()) == ref
    for bad in ["", "1:2", "a:b:c", "1:2:"]:
        with pytest.raises(ValueError, match="callback id"):
            CallbackRef.decode(bad)


def test_message_key_prefers_conversation_id() -> None:
    assert message_key({"peer_id": 5, "conversation_message_id": 3, "id": 99}) == "5:3"
    assert message_key({"peer_id": 5, "id": 99}) == "5:id99"
    with pytest.raises(VKPayloadError):
        message_key({"peer_id": 5, "id": 0})


def test_largest_photo_falls_back_to_size_letters() -> None:
    photo = {
        "sizes": [{"type": "w", "url": "w.jpg"}, {"type": "s", "url": "s.jpg"}, {"type": "x", "url": "x.jpg"}]
    }
    assert largest_photo_url(photo) == "w.jpg"
    assert largest_photo_url({"sizes": []}) is None


def test_keyboard_limits_are_clear_errors() -> None:
    assert keyboard_json(()) is None
    with pytest.raises(PermanentSendError, match="rows"):
        keyboard_json(tuple((Button(str(i)),) for i in range(7)))
    with pytest.raises(PermanentSendError, match="buttons"):
        keyboard_json(((Button("a"),) * 5, (Button("b"),) * 5, (Button("c"),)))
    with pytest.raises(PermanentSendError, match="255"):
        keyboard_json(((Button("a", payload="x" * 300),),))
    long_label = json.loads(keyboard_json(((Button("Ы" * 60, payload="p"),),)) or "{}")
    assert len(long_label["buttons"][0][0]["action"]["label"]) == 40


def test_reply_params() -> None:
    assert reply_params(None, 101) == {}
    assert reply_params("7001", 101) == {"reply_to": 7001}
    forward = json.loads(reply_params("101:15", 101)["forward"])
    assert forward == {"peer_id": 101, "conversation_message_ids": [15], "is_reply": True}
    assert reply_params("202:15", 101) == {}  # another conversation: cannot be a reply here
    assert reply_params("²", 101) == {}


def test_error_mapping_keeps_vk_message() -> None:
    transient = map_vk_error(6, "Too many requests per second")
    assert isinstance(transient, TransientSendError) and transient.retry_after == 1.0
    permanent = map_vk_error(901, "Can't send messages for users without permission")
    assert isinstance(permanent, PermanentSendError)
    assert "901" in permanent.reason and "without permission" in permanent.reason
