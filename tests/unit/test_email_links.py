"""Pure parts of email conversations: ids a letter names, conversation keys, subject topics."""

from __future__ import annotations

from inbox.channels.email.links import MAX_KEY, _key, _root, named_ids, norm_id, topic_of


def test_named_ids_nearest_first_without_own_id_or_duplicates() -> None:
    headers = {
        "message_id": "c@x",
        "in_reply_to": "<b@x>",
        "references": ["<a@x>", "b@x", " <c@x> "],
    }
    assert named_ids(headers) == ["b@x", "a@x"]
    assert named_ids({"references": "<a@x> <b@x>"}) == ["b@x", "a@x"]
    assert named_ids({}) == []


def test_root_is_the_first_reference_else_in_reply_to() -> None:
    assert _root({"references": ["<a@x>", "<b@x>"], "in_reply_to": "<b@x>"}) == "a@x"
    assert _root({"in_reply_to": "<b@x>"}) == "b@x"
    assert _root({"references": ["<>"], "in_reply_to": None}) is None


def test_norm_id() -> None:
    assert norm_id(" <a@x> ") == "a@x"
    assert norm_id("<>") is None and norm_id(None) is None and norm_id(42) is None


def test_topic_ignores_reply_prefixes_list_tags_and_order_tags() -> None:
    base = topic_of("Платье в горошек")
    assert base is not None
    assert topic_of("Re: RE: Платье  в горошек") == base
    assert topic_of("Отв: Платье в горошек [#1042]") == base
    assert topic_of("[shop] Fwd: платье в горошек") == base
    assert topic_of("Платье в клетку") != base
    assert topic_of("Re: ") is None and topic_of(None) is None


def test_long_ids_are_hashed_into_the_key_column() -> None:
    short = _key("mid:", "a@x")
    assert short == "mid:a@x"
    long = _key("mid:", "x" * 400 + "@example.org")
    assert len(long) <= MAX_KEY and long.startswith("mid:sha256:")
    assert long == _key("mid:", "x" * 400 + "@example.org")
