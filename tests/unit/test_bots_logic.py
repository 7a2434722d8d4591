"""Pure bot logic: intents, signed payloads, numbered menus, working hours, configuration checks."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from inbox.bots.config import BotConfig, BotConfigError, parse_document, validate_document
from inbox.bots.hours import is_open, next_opening
from inbox.bots.intents import Intent, menu_choice, parse
from inbox.bots.payloads import Action, BadPayload, sign, verify
from inbox.bots.turn import Option, render

SECRET = "test-secret-key-0123456789"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("#1042", Intent("order", "1042")),
        ("заказ 1042", Intent("order", "1042")),
        ("Заказ №1042", Intent("order", "1042")),
        ("order #77", Intent("order", "77")),
        ("1042", Intent("order", "1042")),
        ("Мой заказ", Intent("my_orders")),
        ("where is my order?", Intent("my_orders")),
        ("Есть ли кроссовки?", Intent("search", "кроссовки")),
        ("а есть у вас «красные кеды»?", Intent("search", "красные кеды")),
        ("Do you have red shoes?", Intent("search", "red shoes")),
        ("оператор", Intent("handoff")),
        ("Позовите менеджера!", Intent("handoff")),
        ("/manager", Intent("handoff")),
        ("/start@shop_bot", Intent("start")),
        ("Уведомляйте здесь", Intent("notify_here")),
        ("notify me here", Intent("notify_here")),
        ("каталог", Intent("catalog")),
        ("корзина", Intent("cart")),
        ("оформить заказ", Intent("checkout")),
        ("отмена", Intent("cancel")),
    ],
)
def test_intents(text: str, intent: Intent) -> None:
    assert parse(text) == intent


@pytest.mark.parametrize("text", ["", None, "что-то непонятное", "12", "есть ли", "/unknown"])
def test_no_intent(text: str | None) -> None:
    assert parse(text) is None


def test_menu_choice() -> None:
    assert menu_choice("2", 3) == 1
    assert menu_choice(" 3. ", 3) == 2
    assert menu_choice("4", 3) is None
    assert menu_choice("0", 3) is None
    assert menu_choice("два", 3) is None
    assert menu_choice("1", 0) is None


def test_payloads_are_short_signed_and_bound_to_the_customer() -> None:
    action = Action("prod", "123456789012")
    payload = sign(SECRET, 7, action)
    assert len(payload.encode()) <= 64 and payload.startswith("b1:prod:123456789012:")
    assert verify(SECRET, 7, payload) == action
    for bad in (
        payload[:-1] + ("A" if payload[-1] != "A" else "B"),
        payload.replace("prod", "add"),
        "b1:prod:1",
        "x1:prod:1:abcdefgh",
        "",
    ):
        with pytest.raises(BadPayload):
            verify(SECRET, 7, bad)
    with pytest.raises(BadPayload):
        verify(SECRET, 8, payload)  # someone else's button
    with pytest.raises(ValueError):
        Action("Bad Name")
    with pytest.raises(ValueError):
        Action("ok", "x" * 33)


def test_render_native_buttons_and_numbered_text() -> None:
    rows = [
        [Option("Товар", Action("prod", "1")), Option("Сайт", url="https://shop.example")],
        [Option("Ещё", Action("cats"))],
    ]
    native = render(SECRET, 1, "telegram", "Меню", rows)
    assert native.text == "Меню"
    assert native.buttons[0][0].payload == sign(SECRET, 1, Action("prod", "1"))
    assert native.buttons[0][1].url == "https://shop.example"
    assert native.menu == [["prod", "1"], ["cats", ""]]
    text = render(SECRET, 1, "sms", "Меню", rows)
    assert text.buttons == ()
    assert text.text == "Меню\n\n1. Товар\nСайт: https://shop.example\n2. Ещё"
    assert text.menu == native.menu
    many = render(SECRET, 1, "vk", "x", [[Option(str(i), Action("prod", str(i)))] for i in range(12)])
    assert len(many.buttons) == 6  # VK inline keyboards: at most 6 rows


def test_working_hours() -> None:
    cfg = BotConfig(timezone="Europe/Moscow")  # Mon-Fri 9-18, Sat 10-16, Sunday closed
    monday_noon = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 12:00 in Moscow
    assert is_open(cfg, monday_noon) and next_opening(cfg, monday_noon) is None
    saturday_evening = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # 18:00 Sat in Moscow
    opening = next_opening(cfg, saturday_evening)
    assert opening is not None and (opening.day, opening.time()) == (30, time(9))  # Monday 09:00
    never = BotConfig(week=dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun")))
    assert next_opening(never, monday_noon) is None and not is_open(never, monday_noon)


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ('[[faq]]\nlocale = "ru"\npattern = "(("\nanswer = "x"', "regular expression"),
        ('[[faq]]\nlocale = "de"\npattern = "a"\nanswer = "x"', "locale"),
        ('[[faq]]\nlocale = "ru"\npattern = "a"\nanswer = " "', "answer"),
        ('[hours.week]\nmon = "9-18"', "working hours"),
        ('[hours.week]\nmon = "18:00-09:00"', "end after"),
        ('[hours]\ntimezone = "Mars/Olympus"', "time zone"),
        ("[limits]\nreplies_per_minute = -1", "non-negative"),
        ('[[delivery]]\ncode = "Bad Code"', "code"),
        ('colour = "red"', "unknown keys"),
        ("greeting = {de = 'Hallo'}", "greeting"),
        ("not toml at all [", "TOML"),
    ],
)
def test_config_errors_are_specific(doc: str, reason: str) -> None:
    with pytest.raises(BotConfigError, match=reason):
        validate_document(parse_document(doc, "toml"))


def test_config_json_and_unknown_format() -> None:
    settings, faq = validate_document(
        parse_document('{"faq": [{"locale": "en", "pattern": "ship", "answer": "3 days"}]}', "json")
    )
    assert settings == {} and faq == [{"locale": "en", "pattern": "ship", "answer": "3 days", "position": 0}]
    with pytest.raises(BotConfigError, match="format"):
        parse_document("{}", "yaml")
