"""Decoding bytes of Russian (and other) mail whose charset label is wrong, broken or missing.

Order: the declared charset (when Python knows it and the bytes decode), then UTF-8, then the Cyrillic
single-byte code pages (windows-1251, koi8-r, cp866, iso-8859-5) ranked by Russian letter frequency.
"""

from __future__ import annotations

import codecs

# Relative frequency of Russian lower-case letters (per mille, rounded), the basis of the ranking.
_FREQ = {
    "о": 110,
    "е": 85,
    "а": 80,
    "и": 74,
    "н": 67,
    "т": 63,
    "с": 55,
    "р": 47,
    "в": 45,
    "л": 44,
    "к": 35,
    "м": 32,
    "д": 30,
    "п": 28,
    "у": 26,
    "я": 20,
    "ы": 19,
    "ь": 17,
    "г": 17,
    "з": 16,
    "б": 16,
    "ч": 14,
    "й": 12,
    "х": 10,
    "ж": 9,
    "ш": 7,
    "ю": 6,
    "ц": 5,
    "щ": 4,
    "э": 3,
    "ф": 3,
    "ъ": 1,
    "ё": 2,
}
CYRILLIC_SINGLE_BYTE = ("cp1251", "koi8-r", "cp866", "iso8859-5")  # codecs.lookup() names
_ALIASES = {
    "win-1251": "cp1251",
    "win1251": "cp1251",
    "windows1251": "cp1251",
    "cp-1251": "cp1251",
    "x-cp1251": "cp1251",
    "windows-1251;": "cp1251",
    "koi8r": "koi8_r",
    "koi-8r": "koi8_r",
    "koi8": "koi8_r",
    "x-koi8-r": "koi8_r",
    "utf8": "utf-8",
    "utf-8;": "utf-8",
    "x-unknown": "",
    "unknown-8bit": "",
    "default": "",
    "x-user-defined": "",
}


def codec_name(label: str | None) -> str | None:
    """Python's codec name for a MIME charset label, or None when the label is unknown or empty."""
    if not label:
        return None
    cleaned = label.strip().strip("\"'").strip().lower()
    cleaned = _ALIASES.get(cleaned, cleaned)
    if not cleaned:
        return None
    try:
        return codecs.lookup(cleaned).name
    except (LookupError, ValueError):
        return None


def russian_score(text: str) -> float:
    """How Russian a decoded text looks: letter frequency per non-ASCII character, penalising
    the symbols and upper-case runs that a wrong code page produces."""
    total = 0.0
    non_ascii = 0
    for ch in text:
        if ord(ch) < 128:
            continue
        non_ascii += 1
        low = ch.lower()
        weight = _FREQ.get(low)
        if weight is None:
            total -= 40.0  # box drawing, Latin-1 symbols, control characters
        elif ch == low:
            total += weight
        else:
            total += weight * 0.15  # capitals are rare in prose; koi8-r read as cp1251 is all capitals
    return total / non_ascii if non_ascii else 0.0


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def best_cyrillic(data: bytes) -> tuple[str, str]:
    """The best-scoring single-byte Cyrillic decoding of ``data``: (text, codec)."""
    best: tuple[float, str, str] | None = None
    for codec in CYRILLIC_SINGLE_BYTE:
        text = _strict(data, codec)
        if text is None:
            continue
        score = russian_score(text)
        if best is None or score > best[0]:
            best = (score, text, codec)
    if best is None:
        return data.decode("cp1251", errors="replace"), "cp1251"
    return best[1], best[2]


def decode_bytes(data: bytes, declared: str | None = None) -> str:
    """Decode ``data``; never raises. See the module docstring for the order."""
    if not data:
        return ""
    if data.isascii():
        return data.decode("ascii")
    codec = codec_name(declared)
    as_utf8 = _strict(data, "utf-8")
    if codec is not None and codec != "utf-8":
        text = _strict(data, codec)
        if text is not None:
            if as_utf8 is not None and codec in {"cp1251", "koi8-r", "iso8859-1", "cp1252", "ascii"}:
                return as_utf8  # valid non-ASCII UTF-8 is practically never meant as a code page
            if codec in CYRILLIC_SINGLE_BYTE or codec == "koi8-u":
                alt, alt_codec = best_cyrillic(data)
                if alt_codec != codec and russian_score(alt) > 1.5 * max(russian_score(text), 1.0):
                    return alt
            return text
    if as_utf8 is not None:
        return as_utf8
    return best_cyrillic(data)[0]


def fix_surrogates(value: str) -> str:
    """Header values parsed from 8-bit bytes carry surrogate escapes: decode those bytes properly."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return decode_bytes(value.encode("utf-8", errors="surrogateescape"))
