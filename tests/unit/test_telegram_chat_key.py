"""The chat a Telegram update belongs to, read before parsing (the processor keeps per-chat order by it):
the same chat id the update's customer is resolved by."""

from __future__ import annotations

from inbox.channels.telegram.updates import chat_of, parse_update


def test_messages_edits_and_button_presses_name_their_chat() -> None:
    message = {"message_id": 5, "date": 1, "chat": {"id": 42, "type": "private"}, "text": "hi"}
    assert chat_of({"update_id": 1, "message": message}) == "42"
    assert chat_of({"update_id": 2, "edited_message": {**message, "edit_date": 2}}) == "42"
    press = {"id": "c1", "from": {"id": 42, "is_bot": False, "first_name": "A"}, "message": message}
    assert chat_of({"update_id": 3, "callback_query": press}) == "42"
    assert chat_of({"update_id": 4, "callback_query": {**press, "message": None}}) == "42"
    parsed = parse_update({"update_id": 1, "message": message}, account_id=1)
    assert [p.external_user_id for p in parsed] == ["42"]


def test_an_update_it_cannot_place_has_no_chat() -> None:
    assert chat_of({"update_id": 1, "my_chat_member": {"chat": {"id": 42}}}) is None
    assert chat_of({"update_id": 2, "message": {"message_id": 5}}) is None  # malformed: parse will say
