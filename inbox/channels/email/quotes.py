"""Folding quoted history and signatures out of a reply's plain text.

``split_visible(text)`` returns the part a manager needs to read; forwarded messages are content, not
history, so nothing after a forward marker is folded.
"""

from __future__ import annotations

import re

_FORWARD = re.compile(
    r"^\s*(-{2,}\s*(Пересылаемое сообщение|Forwarded message|Перенаправленное сообщение|"
    r"Начало переадресованного сообщения)\s*-{2,}|Begin forwarded message:|"
    r"Начало переадресованного сообщения:)\s*$",
    re.IGNORECASE,
)
_ORIGINAL = re.compile(
    r"^\s*(-{3,}\s*(Original Message|Исходное сообщение|Оригинальное сообщение)\s*-{3,}|_{20,})\s*$",
    re.IGNORECASE,
)
_ATTRIBUTION = [
    re.compile(r"^\s*On\b.{4,300}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^.{0,300}\b(пишет|написал|написала|написал\(а\)|wrote)\s*:\s*$", re.IGNORECASE | re.DOTALL),
    # Yandex: '03.11.2025, 10:15, "Иван" <ivan@ya.ru>:'
    # Mail.ru: 'Понедельник, 3 ноября 2025, 10:15 +03:00 от x <y>:'
    re.compile(r"^\s*\d{1,2}\.\d{1,2}\.\d{2,4},?\s+\d{1,2}:\d{2}.{0,200}<[^>\s]+@[^>\s]+>\s*:\s*$"),
    re.compile(r"^.{0,80}\d{4},?\s+\d{1,2}:\d{2}.{0,40}\bот\b.{0,200}:\s*$", re.IGNORECASE),
]
_OUTLOOK_HEADER = re.compile(r"^\s*(From|От|Від)\s*:\s*\S", re.IGNORECASE)
_OUTLOOK_NEXT = re.compile(r"^\s*(Sent|Date|Отправлено|Дата|To|Кому|Subject|Тема)\s*:", re.IGNORECASE)
_SIGNATURE = re.compile(r"^--\s?$")


def _is_quote(line: str) -> bool:
    return line.lstrip().startswith(">")


def _attribution_at(lines: list[str], i: int) -> int:
    """Number of lines (1 or 2) forming an attribution line at ``i``, else 0."""
    for span in (1, 2):
        if i + span > len(lines):
            break
        candidate = " ".join(line.strip() for line in lines[i : i + span])
        if not candidate or len(candidate) > 400:
            continue
        if span == 2 and not lines[i].strip():
            continue
        if any(p.match(candidate) for p in _ATTRIBUTION):
            return span
    return 0


def _quote_start(lines: list[str]) -> int | None:
    """Index where quoted history begins, or None."""
    for i, line in enumerate(lines):
        if _FORWARD.match(line):
            return None  # a forward: what follows is content
        if _ORIGINAL.match(line):
            if line.strip().startswith("_") and not (
                i + 1 < len(lines) and _OUTLOOK_HEADER.match(lines[i + 1])
            ):
                continue
            return i
        if (
            _OUTLOOK_HEADER.match(line)
            and i + 1 < len(lines)
            and _OUTLOOK_NEXT.match(lines[i + 1])
            and (i == 0 or not lines[i - 1].strip())
        ):
            return i
        span = _attribution_at(lines, i)
        if span:
            rest = [ln for ln in lines[i + span :] if ln.strip()]
            if rest and (_is_quote(rest[0]) or not any(not _is_quote(ln) for ln in rest)):
                return i
            if not rest:
                return i
    # A trailing run of "> " lines (and blanks) is history; inline replies keep their quotes.
    end = len(lines)
    j = end
    while j > 0 and (not lines[j - 1].strip() or _is_quote(lines[j - 1])):
        j -= 1
    if j < end and any(_is_quote(ln) for ln in lines[j:end]):
        k = j
        while k < end and not _is_quote(lines[k]):
            k += 1
        return k if k > 0 else None
    return None


def split_visible(text: str) -> str:
    """The visible part of a message: no trailing quoted history, no signature."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    start = _quote_start(lines)
    body = lines if start is None else lines[:start]
    forward_at = next((i for i, ln in enumerate(body) if _FORWARD.match(ln)), len(body))
    for i, line in enumerate(body[:forward_at]):
        if _SIGNATURE.match(line):
            body = body[:i] + body[forward_at:]
            break
    visible = "\n".join(body).strip()
    return visible if visible else text.strip()


def unflow(text: str, delsp: bool = False) -> str:
    """Join the soft line breaks of ``format=flowed`` text (RFC 3676); quote depth is kept per line."""
    out: list[str] = []
    buffer: str | None = None
    buffer_depth = 0
    for line in text.replace("\r\n", "\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):  # space-stuffing
            content = content[1:]
        soft = content.endswith(" ") and content != "-- "
        if buffer is not None and depth != buffer_depth:
            out.append(_requote(buffer, buffer_depth))
            buffer = None
        if soft:
            piece = content[:-1] if delsp else content
            buffer = (buffer or "") + piece
            buffer_depth = depth
            continue
        full = (buffer or "") + content
        buffer = None
        out.append(_requote(full, depth))
    if buffer is not None:
        out.append(_requote(buffer, buffer_depth))
    return "\n".join(out)


def _requote(text: str, depth: int) -> str:
    return ("> " * depth) + text if depth else text
