"""SMS segment counting: encodings, single/multipart limits, escape sequences and surrogate pairs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox.channels.sms.segments import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    SegmentInfo,
    count_segments,
    is_gsm7,
    max_units,
)

# The GSM 03.38 default alphabet written out by code point, row by row, independently of the module's table.
GSM_TABLE_ROWS = [
    "@", "£", "$", "¥", "è", "é", "ù", "ì", "ò", "Ç", "\n", "Ø", "ø", "\r", "Å", "å",
    "Δ", "_", "Φ", "Γ", "Λ", "Ω", "Π", "Ψ", "Σ", "Θ", "Ξ", "Æ", "æ", "ß", "É",
    " ", "!", '"', "#", "¤", "%", "&", "'", "(", ")", "*", "+", ",", "-", ".", "/",
    *"0123456789", ":", ";", "<", "=", ">", "?",
    "¡", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "Ä", "Ö", "Ñ", "Ü", "§",
    "¿", *"abcdefghijklmnopqrstuvwxyz", "ä", "ö", "ñ", "ü", "à",
]  # fmt: skip


def test_basic_table_is_the_gsm_alphabet() -> None:
    assert len(GSM_TABLE_ROWS) == 127  # 128 positions minus ESC
    assert set(GSM_TABLE_ROWS) == GSM7_BASIC


@pytest.mark.parametrize("ch", sorted(GSM7_BASIC))
def test_every_basic_char_is_one_septet(ch: str) -> None:
    info = count_segments(ch)
    assert info == SegmentInfo("GSM-7", 1, 1, 159, 160)


@pytest.mark.parametrize("ch", ["\f", "^", "{", "}", "\\", "[", "~", "]", "|", "€"])
def test_every_extension_char_costs_two_septets(ch: str) -> None:
    assert ch in GSM7_EXTENSION
    assert count_segments(ch) == SegmentInfo("GSM-7", 1, 2, 158, 160)


@pytest.mark.parametrize(
    "ch",
    ["ç", "`", "á", "Á", "ё", "А", "Ж", "ß\u0301", "\t", "\u00a0", "—", "«", "„", "’", "₽", "😀", "你"],
)
def test_non_gsm_chars_force_ucs2(ch: str) -> None:
    info = count_segments("hello " + ch)
    assert info.encoding == "UCS-2"
    assert not is_gsm7(ch)


def test_empty_text() -> None:
    assert count_segments("") == SegmentInfo("GSM-7", 0, 0, 160, 160)


@pytest.mark.parametrize(
    ("length", "parts", "remaining"),
    [
        (1, 1, 159),
        (159, 1, 1),
        (160, 1, 0),
        (161, 2, 145),
        (306, 2, 0),
        (307, 3, 152),
        (459, 3, 0),
        (460, 4, 152),
    ],
)
def test_gsm_boundaries(length: int, parts: int, remaining: int) -> None:
    info = count_segments("a" * length)
    assert (info.encoding, info.parts, info.units, info.remaining) == ("GSM-7", parts, length, remaining)
    assert info.per_part == (160 if parts == 1 else 153)


@pytest.mark.parametrize(
    ("length", "parts", "remaining"),
    [(1, 1, 69), (70, 1, 0), (71, 2, 63), (134, 2, 0), (135, 3, 66), (201, 3, 0), (202, 4, 66)],
)
def test_ucs2_boundaries_cyrillic(length: int, parts: int, remaining: int) -> None:
    info = count_segments("я" * length)
    assert (info.encoding, info.parts, info.units, info.remaining) == ("UCS-2", parts, length, remaining)
    assert info.per_part == (70 if parts == 1 else 67)


def test_extension_chars_count_two_towards_the_single_limit() -> None:
    assert count_segments("€" * 80).parts == 1
    assert count_segments("€" * 80).remaining == 0
    assert count_segments("€" * 80 + "a").parts == 2
    assert count_segments("a" * 159 + "€").parts == 2  # 161 septets


def test_escape_sequence_is_never_split_across_parts() -> None:
    # 152 + 2 does not fit 153: the euro moves to part two; naive division would say two parts.
    text = "a" * 152 + "€" + "a" * 152
    info = count_segments(text)
    assert info.units == 306
    assert math.ceil(info.units / 153) == 2
    assert info.parts == 3
    assert info.remaining == 152


def test_emoji_is_two_units_and_never_split() -> None:
    assert count_segments("😀").units == 2
    assert count_segments("😀" * 35) == SegmentInfo("UCS-2", 1, 70, 0, 70)
    assert count_segments("😀" * 36) == SegmentInfo("UCS-2", 2, 72, 61, 67)
    text = "я" * 66 + "😀" + "я" * 66
    info = count_segments(text)
    assert info.units == 134
    assert info.parts == 3


def test_cyrillic_mixed_with_latin_is_ucs2() -> None:
    info = count_segments("Order #123 готов")
    assert info.encoding == "UCS-2"
    assert info.units == 16
    assert info.remaining == 54


def test_crlf_counts_two_septets() -> None:
    assert count_segments("a\r\nb").units == 4


def test_max_units() -> None:
    assert max_units(0, "GSM-7") == 0
    assert max_units(1, "GSM-7") == 160
    assert max_units(6, "GSM-7") == 918
    assert max_units(1, "UCS-2") == 70
    assert max_units(6, "UCS-2") == 402


@given(st.text(max_size=700))
def test_properties(text: str) -> None:
    info = count_segments(text)
    single, part = (160, 153) if info.encoding == "GSM-7" else (70, 67)
    if not text:
        assert info.parts == 0
        return
    assert info.parts >= 1
    assert 0 <= info.remaining <= info.per_part
    if info.units <= single:
        assert info.parts == 1
        assert info.remaining == single - info.units
    else:
        assert info.parts >= math.ceil(info.units / part)
        assert info.parts <= math.ceil(info.units / (part - 1))
    assert info.encoding == ("GSM-7" if is_gsm7(text) else "UCS-2")


MIXED_ALPHABET = [*sorted(GSM7_BASIC | GSM7_EXTENSION), "я", "😀"]


@given(st.text(alphabet=MIXED_ALPHABET, max_size=400), st.sampled_from("a€я😀"))
def test_appending_never_reduces_parts(text: str, extra: str) -> None:
    before = count_segments(text)
    after = count_segments(text + extra)
    if before.encoding == after.encoding:
        assert after.parts >= before.parts
        assert after.units > before.units
