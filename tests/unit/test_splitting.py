from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inbox.channels.splitting import split_text, utf16_len


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_short_text_is_one_part() -> None:
    assert split_text("  Привет, мир!  ", 4096) == ["Привет, мир!"]
    assert split_text("   ", 4096) == []


def test_prefers_paragraph_then_line_then_space() -> None:
    text = "первый абзац " * 10 + "\n\n" + "второй абзац " * 10
    parts = split_text(text, 200)
    assert parts[0] == ("первый абзац " * 10).strip()
    assert all(utf16_len(p) <= 200 for p in parts)


def test_emoji_count_twice_in_utf16() -> None:
    text = "😀" * 3000  # 6000 UTF-16 units, no spaces: hard cuts between whole characters
    parts = split_text(text, 4096)
    assert [len(p) for p in parts] == [2048, 952]
    assert "".join(parts) == text


def test_chars_measure() -> None:
    assert split_text("ab cd ef", 5, measure="chars") == ["ab cd", "ef"]
    with pytest.raises(ValueError, match="measure"):
        split_text("x", 5, measure="bytes")
    with pytest.raises(ValueError, match="limit"):
        split_text("x", 0)


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("абвгд abc\n😀é")), max_size=600),
    st.integers(min_value=2, max_value=80),
)
def test_parts_fit_and_lose_nothing_but_whitespace(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(0 < utf16_len(p) <= limit for p in parts)
    assert _squash("".join(parts)) == _squash(text)
