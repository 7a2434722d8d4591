from __future__ import annotations

import pytest

from inbox.channels.email.conversations import (
    Letter,
    OrderNumberMatcher,
    group_conversations,
    normalize_subject,
    order_numbers,
)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Re: Заказ 1042", "заказ 1042"),
        ("RE: Fwd: [Shop] Отв: Пересл: Re[2]: Заказ 1042", "заказ 1042"),
        ("FW: invoice", "invoice"),
        ("Ответ: Доставка", "доставка"),
        ("  ", ""),
        (None, ""),
        ("Record: keep", "record: keep"),
    ],
)
def test_normalize_subject(subject: str | None, expected: str) -> None:
    assert normalize_subject(subject) == expected


def test_grouping_by_headers_then_subject() -> None:
    letters = [
        Letter("1", "a@x", subject="Заказ 1042"),
        Letter("2", "b@x", in_reply_to="a@x", subject="Re: Заказ 1042"),
        Letter("3", "c@x", references=("a@x", "b@x"), subject="Re: Re: other subject"),
        Letter("4", "d@x", subject="Доставка"),
        Letter("5", "e@x", subject="Отв: доставка"),  # headers lost, subject joins it to 4
        Letter("6", "f@x", in_reply_to="zzz@unknown", subject="Новый вопрос"),
        Letter("7", "g@x", in_reply_to="<zzz@unknown>", subject=""),  # joined through the missing parent
    ]
    assert group_conversations(letters) == [["1", "2", "3"], ["4", "5"], ["6", "7"]]
    assert group_conversations(letters, by_subject=False) == [["1", "2", "3"], ["4"], ["5"], ["6", "7"]]


def test_order_numbers_default_pattern() -> None:
    texts = [
        "Re: Ваш заказ #1042",
        "Заказ №1043, а также заказ 1044. Телефон 89001234567, дом 12",
        "заказа номер 1045",
    ]
    assert order_numbers(texts) == ["1042", "1043", "1044", "1045"]
    assert order_numbers(["Order no 77 and 12:30"]) == []


def test_order_numbers_custom_pattern_and_errors() -> None:
    matcher = OrderNumberMatcher(r"\bORD-(\d+)")
    assert matcher.find("see ORD-7 and ORD-8, not #1042") == ["7", "8"]
    with pytest.raises(ValueError, match="capturing group"):
        OrderNumberMatcher(r"#\d+")
    with pytest.raises(ValueError, match="invalid order number pattern"):
        OrderNumberMatcher(r"(")
