"""Pure commerce logic: prices, money formatting, templates, status configuration, TOML, signatures."""

from __future__ import annotations

import hashlib
import hmac
import tomllib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inbox.models import Order, OrderStatus
from inbox.orders import defaults
from inbox.orders.errors import OrderError, StatusConfigError
from inbox.orders.importers.common import parse_price, parse_quantity
from inbox.orders.notify import channel_kind, format_rub, render
from inbox.orders.service import Actor, is_overdue
from inbox.orders.statuses import StatusDef, def_from_mapping, dump_toml, parse_toml, validate
from inbox.orders.tracking import check_track_number, tracking_url
from inbox.orders.webhooks import sign, verify


@pytest.mark.parametrize(
    ("raw", "kopecks"),
    [
        ("1990", 199000),
        ("1990.00", 199000),
        ("1 990,00", 199000),
        ("1\u00a0990,50", 199050),
        ("1,990.50", 199050),
        ("1.990,50", 199050),
        ("4 590 ₽", 459000),
        ("590 руб.", 59000),
        ("0,005", 1),
        ("12.3", 1230),
        ("0.99", 99),
        ("1990.05", 199005),
        ("12.345", 1235),
        ("10000000000", 10**12),
    ],
)
def test_parse_price(raw: str, kopecks: int) -> None:
    assert parse_price(raw) == kopecks


@pytest.mark.parametrize(
    "raw", ["", "  ", "девятьсот", "-5", "1e5", "12.3.4x", "99999999999999", "10000000000.01"]
)
def test_parse_price_rejects(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_price(raw)


def test_parse_quantity() -> None:
    assert parse_quantity("") is None and parse_quantity("5.000") == 5 and parse_quantity("-3") == 0
    with pytest.raises(ValueError):
        parse_quantity("2.5")


@given(st.integers(min_value=0, max_value=10**10))
def test_format_rub_round_trips_through_parse_price(kopecks: int) -> None:
    assert parse_price(format_rub(kopecks)) == kopecks


def test_format_rub_shape() -> None:
    assert format_rub(199000) == "1\u00a0990\u00a0₽"
    assert format_rub(199050) == "1\u00a0990,50\u00a0₽"
    assert format_rub(5) == "0,05\u00a0₽"


def test_render_only_fills_known_flat_placeholders() -> None:
    values = {"order.number": "1001", "customer.name": "Анна"}
    assert render("{customer.name}, заказ №{order.number}", values) == "Анна, заказ №1001"
    assert render("{order.__class__} {0} {order.nope}", values) == "{order.__class__} {0} {order.nope}"


def test_channel_kinds() -> None:
    assert [channel_kind(c) for c in ("telegram", "vk", "sms", "email", None)] == [
        "messenger",
        "messenger",
        "sms",
        "email",
        "messenger",
    ]


def test_default_statuses_survive_a_toml_round_trip() -> None:
    defs = [def_from_mapping(dict(s)) for s in defaults.STATUSES]
    validate(defs)
    text = dump_toml(defs)
    tomllib.loads(text)  # valid TOML for any reader
    assert parse_toml(text) == defs
    assert {d.code for d in defs} >= {
        "new",
        "confirmed",
        "assembling",
        "handed_to_delivery",
        "in_delivery",
        "ready_for_pickup",
        "delivered",
        "cancelled",
        "returned",
    }
    assert all(d.names.get("ru") and d.names.get("en") for d in defs)


def test_toml_writer_escapes() -> None:
    d = StatusDef(code="new", group="new", names={"ru": 'Кавычки " и \\ и\nперевод'}, transitions=["x_y"])
    other = StatusDef(code="x_y", group="cancel")
    assert parse_toml(dump_toml([d, other])) == [d, other]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[0].transitions.append("nowhere"), "unknown status 'nowhere'"),
        (lambda d: setattr(d[0], "group", "limbo"), "group must be one of"),
        (lambda d: setattr(d[0], "auto_target", "delivered"), "must be a transition"),
        (lambda d: d[6].transitions.append("new"), "cannot go back"),
        (lambda d: d[0].templates["ru"].update(messenger="{order.secret}"), "unknown placeholder"),
        (lambda d: d.append(StatusDef(code="new", group="new")), "unique"),
        (lambda d: setattr(d[0], "code", "Новый"), "lower_snake_case"),
    ],
)
def test_status_validation(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    defs = [def_from_mapping(dict(s)) for s in defaults.STATUSES]
    defs = parse_toml(dump_toml(defs))  # deep copies
    mutate(defs)
    with pytest.raises(StatusConfigError, match=message):
        validate(defs)


def test_parse_toml_reports_type_errors() -> None:
    with pytest.raises(StatusConfigError, match="not valid TOML"):
        parse_toml("[[status]\n")
    with pytest.raises(StatusConfigError, match="time_limit_minutes"):
        parse_toml('[[status]]\ncode = "new"\ngroup = "new"\ntime_limit_minutes = "soon"\n')
    with pytest.raises(StatusConfigError, match="expected"):
        parse_toml('title = "x"\n')


def test_overdue_is_relative_to_the_status_limit() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    status = OrderStatus(code="new", group="new", time_limit_minutes=60)
    order = Order(status="new", status_changed_at=t0)
    assert not is_overdue(order, status, t0 + timedelta(minutes=59))
    assert is_overdue(order, status, t0 + timedelta(minutes=60))
    assert not is_overdue(
        order, OrderStatus(code="new", group="new", time_limit_minutes=None), t0 + timedelta(days=9)
    )


def test_tracking_links() -> None:
    assert tracking_url("https://www.pochta.ru/tracking?barcode={track}", "RA123456789RU") == (
        "https://www.pochta.ru/tracking?barcode=RA123456789RU"
    )
    assert tracking_url(None, "123") is None
    assert check_track_number(" 1234 5678 ") == "12345678"
    with pytest.raises(OrderError):
        check_track_number("a&b=c")


def test_actor_rules() -> None:
    assert Actor.manager(5).manager_id == 5
    with pytest.raises(OrderError):
        Actor("manager")
    with pytest.raises(OrderError):
        Actor("robot")


def test_signature_matches_plain_hmac() -> None:
    body = b'{"event":"order.status"}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign("s3cret", body) == expected
    assert verify("s3cret", body, f"sha256={expected}") and verify("s3cret", body, expected.upper())
    assert not verify("s3cret", body, "sha256=" + "0" * 64)
