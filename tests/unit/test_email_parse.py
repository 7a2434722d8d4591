"""The email parser against a corpus written the way real clients write mail."""

from __future__ import annotations

from pathlib import Path

import pytest

from inbox.channels.email.charset import decode_bytes, russian_score
from inbox.channels.email.parse import EmailRejected, ParsedEmail, bounded_id, parse_email, raw_key

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "email"


def load(name: str) -> ParsedEmail:
    return parse_email((FIXTURES / f"{name}.eml").read_bytes())


def test_gmail_reply() -> None:
    p = load("gmail_reply")
    assert p.from_address == "anna.smirnova@gmail.com"
    assert p.from_name == "Анна Смирнова"
    assert p.subject == "Re: Ваш заказ #1042"
    assert p.message_id == "CAHx5f2Jq8dQ+r7nV1pLZ=3u@mail.gmail.com"
    assert p.in_reply_to == "order-1042.1@romashka.ru"
    assert p.references == ("order-1042.1@romashka.ru",)
    assert p.text == "Здравствуйте! Да, размер M подойдёт, оформляйте заказ №1042.\n\nСпасибо!"
    assert "Уточните, пожалуйста, размер" in p.full_text
    assert p.html is not None and "<blockquote>" in p.html and "style=" not in p.html
    assert p.attachments == ()
    assert not p.is_auto
    assert p.to == ("shop@romashka.ru",)


def test_outlook_reply_windows_1251() -> None:
    p = load("outlook_reply")
    assert p.from_address == "s.ivanov@vektor-corp.ru"
    assert p.subject == "RE: Счёт на оплату"
    assert p.text.startswith("Добрый день!\n\nСчёт получили, оплатим завтра.")
    assert p.text.endswith('ООО "Вектор"')
    assert "Original Message" not in p.text and "Высылаем счёт" not in p.text
    assert "-----Original Message-----" in p.full_text
    assert p.in_reply_to == "invoice-77@romashka.ru"
    assert p.html is not None and "<style" not in p.html and "MsoNormal {" not in p.html
    assert not p.is_auto


def test_thunderbird_signature_and_russian_attribution() -> None:
    p = load("thunderbird_reply")
    assert p.text == "Добрый вечер.\n\nПодскажите, когда будет доставка заказа 1042?"
    assert "Пётр Кузнецов\n+7 912" in p.full_text
    assert p.from_name == "Пётр Кузнецов"
    assert p.references == ("order-1042.1@romashka.ru", "order-1042.2@romashka.ru")
    assert p.in_reply_to == "order-1042.2@romashka.ru"
    assert p.subject == "Re: Заказ 1042"


def test_apple_mail_reply() -> None:
    p = load("apple_mail_reply")
    assert p.text == "Спасибо, получила!\n\nОтправлено с iPhone"
    assert "RA123456789RU" in p.full_text
    assert p.message_id == "A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF@icloud.com"
    assert p.from_address == "maria.orlova@icloud.com"


def test_yandex_reply() -> None:
    p = load("yandex_reply")
    assert p.text == "Хорошо, жду звонка курьера."
    assert p.subject == "Re: Доставка"
    assert p.from_name == "Олег Волков"


def test_mailru_html_only_reply_derives_text_and_folds_blockquote() -> None:
    p = load("mailru_reply")
    assert p.text == "Добрый день, а есть ли этот товар в синем цвете?\n\nС уважением,\nИрина"
    assert "Новая коллекция уже в продаже" in p.full_text
    assert p.reply_to == "irina_k@mail.ru"
    assert p.in_reply_to == "promo-3@romashka.ru"
    assert p.references == ()


def test_koi8r_body_and_headers() -> None:
    p = load("koi8r_body")
    assert p.subject == "Счёт на оплату"
    assert p.from_name == "Григорий Л."
    assert "Прошу выставить счёт на 3 шт." in p.text


def test_encoded_word_subject_split_inside_a_character() -> None:
    p = load("encoded_subject")
    assert p.subject == "Заказ №1042: не пришла посылка — с (urgent)"
    assert p.from_name == "Shop Client"
    assert p.text == "Order #1042 did not arrive, please check."


def test_forwarded_chain_is_content_not_quote() -> None:
    p = load("forwarded_chain")
    assert p.subject == "Fwd: Где мой заказ?"
    assert "Где мой заказ #1042? Жду уже неделю." in p.text
    assert p.text.startswith("Коллеги, пересылаю")
    assert p.text == p.full_text


def test_attachments_with_cyrillic_filenames() -> None:
    p = load("attachments_cyrillic")
    names = [a.filename for a in p.attachments]
    assert names == ["photo.png", "Счёт №1042.pdf", "Реквизиты Вектор.xlsx", "Договор поставки.txt"]
    photo, pdf, xlsx, contract = p.attachments
    assert photo.content_id == "photo1@vektor" and photo.inline and photo.content_type == "image/png"
    assert photo.data.startswith(b"\x89PNG")
    assert pdf.content_type == "application/pdf" and pdf.data.startswith(b"%PDF-1.4")
    assert xlsx.data == b"PK\x03\x04 fake xlsx"
    assert contract.data == "Договор поставки".encode("cp1251")
    assert p.text == "Добрый день, во вложении реквизиты и фото брака."
    assert p.html is not None and 'src="cid:photo1@vektor"' in p.html


def test_auto_reply_flagged() -> None:
    p = load("auto_reply")
    assert p.is_auto and p.auto_reason == "auto-submitted: auto-replied"
    assert p.in_reply_to == "invoice-78@romashka.ru"
    assert p.text.startswith("Я в отпуске до 17 ноября.")


def test_bulk_list_mail_flagged() -> None:
    p = load("bulk_list")
    assert p.is_auto and p.auto_reason == "precedence: bulk"
    assert p.text == "Новости недели для продавцов."


def test_malformed_headers_missing_date_broken_charset() -> None:
    p = load("malformed_headers")
    assert p.subject == "Перезвоните"  # raw 8-bit windows-1251 in the header
    assert p.text == "Здравствуйте! Перезвоните мне, пожалуйста, по заказу 1042."
    assert p.date is not None and p.date.isoformat() == "2025-11-09T09:30:00+00:00"  # from Received
    assert p.from_address == "vasily@old-isp.ru"


def test_declared_koi8r_but_really_windows_1251() -> None:
    p = load("wrong_charset")
    assert p.text == "Добрый день, подтверждаю оплату заказа номер 1043, спасибо большое."
    assert p.subject == "Оплата"
    assert p.from_name == ""


def test_html_only_is_sanitised_and_text_derived() -> None:
    p = load("html_only")
    assert p.html is not None
    for bad in ("<script", "onload", "onclick", "onerror", "javascript:", "<style", "color:red"):
        assert bad not in p.html
    assert 'rel="noopener noreferrer"' in p.html
    assert p.text.startswith("Здравствуйте!\n\nХочу вернуть товар по заказу №1044.")
    assert "alert" not in p.text


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty message"),
        (b"   \r\n", "empty message"),
        (b"just some text without headers", "no headers"),
        (b"Subject: hi\r\n\r\nno sender", "no sender address (From)"),
        (b"From: not an address\r\n\r\nbody", "no sender address (From)"),
    ],
)
def test_rejections(raw: bytes, reason: str) -> None:
    with pytest.raises(EmailRejected) as info:
        parse_email(raw)
    assert info.value.reason == reason


def test_raw_key_uses_message_id_else_hash() -> None:
    assert raw_key(b"x", "a@b") == "mid:a@b"
    assert raw_key(b"x", None).startswith("sha256:") and len(raw_key(b"x", None)) == 7 + 64
    long_id = "a" * 300 + "@example.org"
    assert raw_key(b"x", long_id).startswith("mid:midhash:") and len(raw_key(b"x", long_id)) < 254
    assert bounded_id(long_id) == bounded_id(long_id) != bounded_id("b" + long_id)


def test_no_message_id_and_missing_date() -> None:
    p = parse_email(b"From: a@B.example\r\nSubject: hi\r\n\r\nhello\r\n")
    assert p.message_id is None and p.date is None and p.from_address == "a@b.example"


@pytest.mark.parametrize("codec", ["utf-8", "cp1251", "koi8-r"])
@pytest.mark.parametrize("declared", [None, "", "x-unknown", "utf-8", "windows-1251", "koi8-r", "iso-8859-1"])
def test_charset_detection_with_any_declaration(codec: str, declared: str | None) -> None:
    text = "Здравствуйте, подскажите, пожалуйста, сроки доставки заказа в Новосибирск."
    assert decode_bytes(text.encode(codec), declared if declared != codec else codec) == text or (
        declared == "iso-8859-1" and codec != "utf-8"
    )


def test_russian_score_prefers_real_text() -> None:
    raw = "Привет, как дела?".encode("koi8-r")
    assert russian_score(raw.decode("koi8-r")) > russian_score(raw.decode("cp1251"))


@pytest.mark.parametrize("codec", ["utf-8", "cp1251", "koi8-r"])
def test_raw_8bit_attachment_filename(codec: str) -> None:
    name = "Счёт.pdf".encode(codec)
    raw = (
        b'From: a@b.ru\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\n"
        b'hi\r\n--b\r\nContent-Type: application/pdf; name="'
        + name
        + b'"\r\nContent-Disposition: attachment; '
        b'filename="' + name + b'"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--b--\r\n'
    )
    p = parse_email(raw)
    assert [(a.filename, a.data) for a in p.attachments] == [("Счёт.pdf", b"%PDF")]
    assert p.text == "hi"


def test_format_flowed_soft_breaks_are_joined() -> None:
    raw = (
        b"From: a@b.ru\r\nContent-Type: text/plain; charset=utf-8; format=flowed; delsp=no\r\n\r\n"
        + "Первая строка \r\nпродолжается.\r\n\r\n-- \r\nПодпись\r\n".encode()
    )
    p = parse_email(raw)
    assert p.text == "Первая строка продолжается."
    assert p.full_text.endswith("-- \nПодпись")


# fixture: (sender, attachment count, auto, message_id, in_reply_to, first words of the visible text)
CORPUS = {
    "apple_mail_reply": (
        "maria.orlova@icloud.com",
        0,
        False,
        "A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF@icloud.com",
        "ship-5@romashka.ru",
        "Спасибо, получила!",
    ),
    "attachments_cyrillic": (
        "olga@vektor-corp.ru",
        4,
        False,
        "att-1@vektor-corp.ru",
        None,
        "Добрый день, во",
    ),
    "auto_reply": (
        "s.ivanov@vektor-corp.ru",
        0,
        True,
        "auto-1@vektor-corp.ru",
        "invoice-78@romashka.ru",
        "Я в отпуске",
    ),
    "bulk_list": ("news@marketplace.example", 0, True, "news.20251108@marketplace.example", None, "Новости"),
    "encoded_subject": ("client@example.org", 0, False, "enc-subj-1@example.org", None, "Order #1042"),
    "forwarded_chain": ("manager@romashka.ru", 0, False, "fwd-77@yandex.ru", None, "Коллеги, пересылаю"),
    "gmail_reply": (
        "anna.smirnova@gmail.com",
        0,
        False,
        "CAHx5f2Jq8dQ+r7nV1pLZ=3u@mail.gmail.com",
        "order-1042.1@romashka.ru",
        "Здравствуйте! Да",
    ),
    "html_only": ("dmitry.k@example.com", 0, False, "html-only-1@example.com", None, "Здравствуйте!"),
    "koi8r_body": ("grisha@old-isp.ru", 0, False, "20251104080000.GA1234@old-isp.ru", None, "Здравствуйте."),
    "mailru_reply": (
        "irina_k@mail.ru",
        0,
        False,
        "1762167601.123456789@f123.i.mail.ru",
        "promo-3@romashka.ru",
        "Добрый день, а есть",
    ),
    "malformed_headers": (
        "vasily@old-isp.ru",
        0,
        False,
        "broken-1@old-isp.ru",
        None,
        "Здравствуйте! Перезвоните",
    ),
    "outlook_reply": (
        "s.ivanov@vektor-corp.ru",
        0,
        False,
        "AM0PR07MB1234567A1B2C3D4E5F6A7B8C9D0E1@AM0PR07MB1234.eurprd07.prod.outlook.com",
        "invoice-77@romashka.ru",
        "Добрый день!",
    ),
    "thunderbird_reply": (
        "petr@kuznetsov.name",
        0,
        False,
        "5b0c6e1e-3f7a-4d8e-9c1a-2b9f4e7d8a01@kuznetsov.name",
        "order-1042.2@romashka.ru",
        "Добрый вечер.",
    ),
    "wrong_charset": (
        "buh@vektor-corp.ru",
        0,
        False,
        "wrong-cs@vektor-corp.ru",
        None,
        "Добрый день, подтверждаю",
    ),
    "yandex_reply": (
        "oleg.volkov@yandex.ru",
        0,
        False,
        "123451762164310@mail.yandex.ru",
        "courier-9@romashka.ru",
        "Хорошо, жду",
    ),
}


def test_corpus_table_covers_every_fixture() -> None:
    assert sorted(CORPUS) == sorted(p.stem for p in FIXTURES.glob("*.eml"))


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_sender_attachments_auto_threading_text(name: str) -> None:
    sender, attachments, auto, message_id, in_reply_to, text_start = CORPUS[name]
    p = load(name)
    assert p.from_address == sender
    assert len(p.attachments) == attachments
    assert p.is_auto is auto
    assert p.message_id == message_id
    assert p.in_reply_to == in_reply_to
    assert p.text.startswith(text_start)
    assert p.date is not None and p.date.tzinfo is not None
    assert ">" not in p.text.split("\n")[0] and len(p.text) <= len(p.full_text)
