"""What a customer's text asks for, in Russian or English. Pure functions: no database, no network."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Intent:
    kind: (
        str  # start | handoff | notify_here | order | my_orders | search | catalog | cart | checkout | cancel
    )
    # | loyalty
    arg: str = ""


def normalize(text: str) -> str:
    flat = " ".join(text.replace("ё", "е").replace("Ё", "Е").split()).casefold()
    return flat.strip(" .!?,;")


_COMMANDS = {
    "/start": "start",
    "/menu": "start",
    "/help": "start",
    "/manager": "handoff",
    "/operator": "handoff",
    "/catalog": "catalog",
    "/cart": "cart",
    "/checkout": "checkout",
    "/orders": "my_orders",
    "/cancel": "cancel",
}
_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "handoff",
        re.compile(
            r"^(позов\w*\s+)?(оператор\w*|менеджер\w*|живо\w+ человек\w*|человек\w*|консультант\w*)$"
            r"|^(operator|manager|human|agent|a human|talk to (a )?(human|manager|person))$"
            r"|(соедини\w*|позови\w*|переключи\w*).*(оператор|менеджер|человек)"
        ),
    ),
    ("notify_here", re.compile(r"^(уведомляйте|пишите|сообщайте)( мне)? (здесь|сюда|тут)$|^notify me here$")),
    (
        "start",
        re.compile(
            r"^(start|menu|help|hi|hello|hey|привет|здравствуйте|добрый (день|вечер)|меню|начать|помощь)$"
        ),
    ),
    (
        "my_orders",
        re.compile(
            r"^(мой заказ|мои заказы|где мой заказ|статус заказа|my orders?|where is my order|order status)$"
        ),
    ),
    ("catalog", re.compile(r"^(каталог|категории|товары|catalog|catalogue|categories|products)$")),
    (
        "loyalty",
        re.compile(
            r"^(мой уровень|какой у меня уровень|уровень|моя скидка|какая у меня скидка|скидка|бонусы"
            r"|программа лояльности|my level|loyalty|my discount)$"
        ),
    ),
    ("cart", re.compile(r"^(корзина|моя корзина|cart|my cart|basket)$")),
    ("checkout", re.compile(r"^(оформить( заказ)?|checkout|place order)$")),
    ("cancel", re.compile(r"^(отмена|отменить|cancel|stop)$")),
)
_ORDER = re.compile(r"^(?:(?:заказ|order)\s*(?:№|#|no\.?|номер)?\s*|№\s*|#\s*)(\d{1,12})$")
_NOT_A_QUERY = frozenset({"ли", "у вас", "ли у вас", "you", "it", "ли в наличии"})
_BARE_NUMBER = re.compile(r"^\d{3,12}$")
_SEARCH = re.compile(
    r"^(?:а\s+)?(?:есть ли( у вас)?|есть( у вас)?|у вас есть|имеется ли|в наличии( ли)?|ищу|найти|найди|поиск"
    r"|do you have|have you got|is there|are there|do you sell|looking for|search|find|/search)\s+(.+)$"
)


def parse(text: str | None) -> Intent | None:
    """The intent of a text, or None when it is none of the built-in ones."""
    if not text:
        return None
    raw = text.strip()
    command = raw.split()[0].split("@")[0].casefold() if raw.startswith("/") else ""
    if command in _COMMANDS:
        return Intent(_COMMANDS[command])
    norm = normalize(raw)
    m = _ORDER.match(norm)
    if m:
        return Intent("order", m.group(1))
    if _BARE_NUMBER.match(norm):
        return Intent("order", norm)
    m = _SEARCH.match(norm)
    if m:
        query = m.group(m.lastindex or 1).strip(" ?\"'«»")
        if query and query not in _NOT_A_QUERY:
            return Intent("search", query)
    for kind, pattern in _WORDS:
        if pattern.search(norm):
            return Intent(kind)
    return None


def menu_choice(text: str | None, size: int) -> int | None:
    """A reply like "2" (or "2." / "#2") to a numbered menu of ``size`` options: the 0-based index."""
    if not text or size <= 0:
        return None
    m = re.match(r"^\s*#?(\d{1,2})[.)]?\s*$", text)
    if not m:
        return None
    n = int(m.group(1))
    return n - 1 if 1 <= n <= size else None
