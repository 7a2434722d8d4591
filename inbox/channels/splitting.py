"""Splitting long outbound texts into provider-sized parts without breaking words, lines or characters."""

from __future__ import annotations

from collections.abc import Callable


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: how Telegram counts message length (an emoji outside the BMP is 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int, *, measure: str = "utf16") -> list[str]:
    """Split ``text`` into parts of at most ``limit`` units (``utf16`` or ``chars``).

    Cuts prefer a paragraph break, then a line break, then a space in the second half of a part; only a
    single unbroken run longer than the limit is cut mid-word, and never inside a character. The cut
    whitespace is dropped at the boundary; nothing else is lost. Empty or whitespace-only input gives [].
    """
    if limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    if measure not in {"utf16", "chars"}:
        raise ValueError(f"measure must be utf16 or chars, got {measure!r}")
    utf16 = measure == "utf16"
    size: Callable[[str], int] = utf16_len if utf16 else len
    parts: list[str] = []
    rest = text.strip()
    while rest:
        if size(rest) <= limit:
            parts.append(rest)
            break
        window = _fit(rest, limit, utf16)
        cut = _boundary(window, rest[len(window)])
        if cut <= 0:
            parts.append(window)
            rest = rest[len(window) :].lstrip()
        else:
            parts.append(window[:cut].rstrip())
            rest = rest[cut:].lstrip()
    return [p for p in parts if p]


def _fit(text: str, limit: int, utf16: bool) -> str:
    """The longest prefix of ``text`` whose size is within ``limit`` (whole code points)."""
    if not utf16:
        return text[:limit]
    # UTF-16: each code point is 1 or 2 units; walk until the budget is spent.
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return text[:i]
    return text


def _boundary(window: str, following: str) -> int:
    """Where to cut ``window``: a paragraph or line break in its second half, its end when the next
    character is whitespace, else its last space in the second half; -1 for none."""
    half = len(window) // 2
    for sep in ("\n\n", "\n"):
        pos = window.rfind(sep)
        if pos >= half:
            return pos
    if following.isspace():
        return len(window)
    pos = window.rfind(" ")
    return pos if pos >= half else -1
