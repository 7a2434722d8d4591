"""Pure logic of repeat sales: loyalty standing and discounts, unsubscribe tokens and stop words, button and
rule checks, the loyalty intent of the bot."""

from __future__ import annotations

import pytest

from inbox.bots.intents import parse
from inbox.sales import SalesError
from inbox.sales.broadcasts import check_buttons
from inbox.sales.config import Level, SalesConfig
from inbox.sales.loyalty import discounted, standing_for
from inbox.sales.triggers import check_rule
from inbox.sales.unsubscribe import BadToken, is_stop, make_token, read_token

LEVELS = SalesConfig(
    levels=(Level("Bronze", 0, 0), Level("Silver", 10_000_00, 3), Level("Gold", 50_000_00, 5))
)


@pytest.mark.parametrize(
    ("spent", "level", "following", "left"),
    [
        (0, "Bronze", "Silver", 10_000_00),
        (9_999_99, "Bronze", "Silver", 1),
        (10_000_00, "Silver", "Gold", 40_000_00),
        (70_000_00, "Gold", None, None),
    ],
)
def test_standing(spent: int, level: str, following: str | None, left: int | None) -> None:
    s = standing_for(spent, LEVELS)
    assert s.level is not None and s.level.name == level
    assert (s.next_level.name if s.next_level else None) == following
    assert s.left_to_next == left


def test_no_level_below_the_first_threshold_and_discount_rounding() -> None:
    s = standing_for(100, SalesConfig(levels=(Level("Silver", 1000, 3),)))
    assert s.level is None and s.discount == 0 and s.left_to_next == 900
    assert discounted(1990_00, 3) == 1930_30
    assert discounted(1_50, 3) == 1_45  # 4.5 kopecks off rounds half up to 5
    assert discounted(100, 0) == 100


def test_unsubscribe_tokens_are_short_signed_and_refuse_tampering() -> None:
    token = make_token("secret-0123456789", 42, "sms")
    assert len(token) <= 16
    assert read_token("secret-0123456789", token) == (42, "sms")
    with pytest.raises(BadToken):
        read_token("another-secret-000", token)
    with pytest.raises(BadToken):
        read_token("secret-0123456789", "43" + token[2:])
    with pytest.raises(BadToken):
        read_token("secret-0123456789", "../../etc")


@pytest.mark.parametrize("text", ["стоп", "СТОП", "Стоп!", " stop ", "отписаться", "Отпишите меня"])
def test_stop_words(text: str) -> None:
    assert is_stop(text)


@pytest.mark.parametrize("text", ["стоп-кран есть?", "не стоп", "", None, "остановите заказ"])
def test_not_stop_words(text: str | None) -> None:
    assert not is_stop(text)


def test_buttons_and_rules_are_checked() -> None:
    assert check_buttons(None) == []
    with pytest.raises(SalesError):
        check_buttons([{"text": "x", "url": "javascript:alert(1)"}])
    with pytest.raises(SalesError):
        check_buttons([{"text": "", "url": "https://x"}])
    with pytest.raises(SalesError):
        check_rule("order_unpaid", {}, [{"kind": "send", "text": "x"}])
    with pytest.raises(SalesError):
        check_rule("order_unpaid", {"hours": 2}, [{"kind": "explode"}])
    with pytest.raises(SalesError):
        check_rule("moon_phase", {}, [{"kind": "send", "text": "x"}])
    params, actions = check_rule("order_unpaid", {"hours": "2"}, [{"kind": "send", "text": "x"}])
    assert params == {"marketing": False, "hours": 2} and actions == [{"kind": "send", "text": "x"}]
    assert check_rule("birthday", {}, [{"kind": "send", "text": "С днём рождения!"}])[0] == {
        "marketing": True
    }


@pytest.mark.parametrize("text", ["мой уровень", "Какая у меня скидка?", "бонусы", "my level"])
def test_the_bot_understands_a_question_about_the_level(text: str) -> None:
    intent = parse(text)
    assert intent is not None and intent.kind == "loyalty"
