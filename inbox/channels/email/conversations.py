"""Email conversations and order numbers; pure functions over letters' headers.

``group_conversations`` links letters by Message-ID / In-Reply-To / References (union of everything a
letter names), then joins roots whose normalised subjects match. ``order_numbers`` finds order numbers
such as ``#1042``, ``№1042``, ``заказ 1042`` in subjects and bodies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_PREFIX = re.compile(
    r"^\s*(?:(?:re|fwd?|aw|wg|sv|tr|rv|отв|ответ|пересл|переслать|перес)\s*(?:\[\d+\]|\(\d+\))?\s*[:：]\s*"
    r"|\[[^\]]{0,40}\]\s*)",
    re.IGNORECASE,
)


def normalize_subject(subject: str | None) -> str:
    """Subject without reply/forward prefixes (Re:, Fwd:, Отв:, Пересл:, RE[2]:) and [list tags]."""
    value = (subject or "").strip()
    while True:
        stripped = _PREFIX.sub("", value, count=1)
        if stripped == value:
            break
        value = stripped
    return re.sub(r"\s+", " ", value).strip().casefold()


@dataclass(frozen=True, slots=True)
class Letter:
    """What threading needs of a letter; ``key`` is the caller's identifier (UID, row id, file name)."""

    key: str
    message_id: str | None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    subject: str | None = None


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def _norm_id(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().strip("<>").strip()
    return value or None


def group_conversations(letters: Sequence[Letter], by_subject: bool = True) -> list[list[str]]:
    """Groups of letter keys, each group one conversation, in input order (groups by first letter).

    Header links first; then, when ``by_subject``, groups whose normalised subjects are equal (and not
    empty) are joined, as mail clients do for letters whose headers were lost."""
    uf = _UnionFind()
    for letter in letters:
        node = "k:" + letter.key
        uf.find(node)
        ids = [letter.message_id, letter.in_reply_to, *letter.references]
        for raw in ids:
            mid = _norm_id(raw)
            if mid:
                uf.union(node, "m:" + mid)
    if by_subject:
        first_by_subject: dict[str, str] = {}
        for letter in letters:
            subject = normalize_subject(letter.subject)
            if not subject:
                continue
            node = "k:" + letter.key
            if subject in first_by_subject:
                uf.union(first_by_subject[subject], node)
            else:
                first_by_subject[subject] = node
    groups: dict[str, list[str]] = {}
    for letter in letters:
        groups.setdefault(uf.find("k:" + letter.key), []).append(letter.key)
    return list(groups.values())


DEFAULT_ORDER_PATTERN = r"(?:#|№|\bзаказ(?:ом|а|у|е)?\s*(?:№|#|n|no\.?|номер)?)\s*(\d{3,10})\b"


class OrderNumberMatcher:
    """Finds candidate order numbers in text with a configurable regex (the first group is the number)."""

    def __init__(self, pattern: str = DEFAULT_ORDER_PATTERN) -> None:
        try:
            self.regex = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"invalid order number pattern {pattern!r}: {exc}") from exc
        if self.regex.groups < 1:
            raise ValueError("the order number pattern needs a capturing group for the number")

    def find(self, *texts: str | None) -> list[str]:
        """Distinct numbers in order of first appearance over all ``texts``."""
        found: dict[str, None] = {}
        for text in texts:
            if not text:
                continue
            for match in self.regex.finditer(text):
                found.setdefault(match.group(1), None)
        return list(found)


def order_numbers(texts: Iterable[str | None], pattern: str = DEFAULT_ORDER_PATTERN) -> list[str]:
    return OrderNumberMatcher(pattern).find(*texts)
