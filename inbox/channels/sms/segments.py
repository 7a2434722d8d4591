"""SMS segment counting, as a manager types: which encoding the text needs and how many parts it will cost.

Pure Python, no dependencies (the web counter can mirror it). The rules (3GPP TS 23.038 / 23.040):

- GSM-7 when every character is in the GSM 03.38 basic table or its extension table. Extension characters
  (``^ { } \\ [ ~ ] | €`` and form feed) are sent as ESC + char and cost two septets. One message holds 160
  septets; a concatenated message spends 7 septets per part on the UDH, so each part holds 153.
- Otherwise UCS-2 (UTF-16 on every current handset): 70 code units in one message, 67 per part. Characters
  outside the BMP (most emoji) are surrogate pairs and cost two units. Cyrillic is always UCS-2.
- A two-septet escape sequence and a surrogate pair are never split across parts, so a part may hold one
  unit less than its capacity; the count below packs parts exactly that way instead of dividing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DEFAULT_MAX_PARTS = 6  # a longer text is refused rather than sent as a costly wall of parts

Encoding = Literal["GSM-7", "UCS-2"]

# GSM 03.38 default alphabet, in table order (0x00-0x7F). 0x1B is the escape to the extension table and
# is not a character of its own, so it is left out.
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each costs ESC + char = 2 septets.
GSM7_EXTENSION: frozenset[str] = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    encoding: Encoding
    parts: int  # 0 for an empty text
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2) in the whole text
    remaining: int  # units still free in the current (last) part before another part is needed
    per_part: int  # capacity of one part at the current part count (160/153 or 70/67)


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _costs(text: str, encoding: Encoding) -> list[int]:
    if encoding == "GSM-7":
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def count_segments(text: str) -> SegmentInfo:
    """How ``text`` will be sent: encoding, number of parts, and units left in the current part."""
    encoding: Encoding = "GSM-7" if is_gsm7(text) else "UCS-2"
    single, part = (GSM7_SINGLE, GSM7_PART) if encoding == "GSM-7" else (UCS2_SINGLE, UCS2_PART)
    costs = _costs(text, encoding)
    units = sum(costs)
    if units == 0:
        return SegmentInfo(encoding, 0, 0, single, single)
    if units <= single:
        return SegmentInfo(encoding, 1, units, single - units, single)
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part:  # never split an escape sequence or a surrogate pair
            parts += 1
            used = 0
        used += cost
    return SegmentInfo(encoding, parts, units, part - used, part)


def max_units(parts: int, encoding: Encoding) -> int:
    """The most units ``parts`` parts can carry (ignoring the no-split rule): for hints like "918 max"."""
    if parts <= 0:
        return 0
    if encoding == "GSM-7":
        return GSM7_SINGLE if parts == 1 else GSM7_PART * parts
    return UCS2_SINGLE if parts == 1 else UCS2_PART * parts
