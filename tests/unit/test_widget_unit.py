"""The widget's pure parts: signed tokens, settings, the loader's size, its place in the registry and in the
merge / erase policies."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest

from inbox import i18n
from inbox.channels.registry import SPECS
from inbox.channels.widget.config import BadConfig, normalize_origin, parse_config
from inbox.channels.widget.routes import STATIC, strings
from inbox.channels.widget.tokens import (
    Visitor,
    read_upload_ref,
    read_visitor_token,
    sign_user,
    upload_ref,
    user_signature_ok,
    visitor_token,
)
from inbox.core import kinds
from inbox.core.merge_policy import POLICIES as MERGE
from inbox.customer_card.consent import ConsentError, check_consent
from inbox.keys import Keyring
from inbox.privacy import POLICIES as ERASE
from inbox.privacy import per_customer_tables

KEYS = Keyring("current-key-0123456789", old="old-key-0123456789")


def test_visitor_tokens_verify_only_unchanged_and_survive_key_rotation() -> None:
    anna = Visitor(7, "v:abc")
    token = visitor_token(KEYS, anna)
    assert read_visitor_token(KEYS, token) == anna
    assert read_visitor_token(Keyring("current-key-0123456789"), token) == anna
    old = visitor_token(Keyring("old-key-0123456789"), anna)
    assert read_visitor_token(KEYS, old) == anna  # signed before the rotation: still good
    account, body, sig = token.split(".")
    assert read_visitor_token(KEYS, f"8.{body}.{sig}") is None  # another widget key
    assert read_visitor_token(KEYS, f"{account}.{body}x.{sig}") is None
    assert read_visitor_token(Keyring("another-key-0123456789"), token) is None
    assert read_visitor_token(KEYS, "garbage") is None


def test_upload_refs_belong_to_their_visitor() -> None:
    anna, boris = Visitor(1, "v:anna"), Visitor(1, "v:boris")
    ref = upload_ref(KEYS, anna, {"path": "attachments/aa/bb/cc", "filename": "a.png"})
    assert read_upload_ref(KEYS, anna, ref) is not None
    assert read_upload_ref(KEYS, boris, ref) is None
    assert read_upload_ref(KEYS, Visitor(2, "v:anna"), ref) is None


def test_signed_customer_id() -> None:
    sig = sign_user("s3cret", "42")
    assert user_signature_ok("s3cret", "42", sig) and user_signature_ok("s3cret", "42", sig.upper())
    assert not user_signature_ok("s3cret", "43", sig)
    assert not user_signature_ok("", "42", sign_user("", "42"))  # a key without a secret accepts nothing
    assert not user_signature_ok("s3cret", "bad id with spaces", sign_user("s3cret", "bad id with spaces"))


def test_settings_are_validated() -> None:
    assert normalize_origin("HTTPS://Shop.Example/") == "https://shop.example"
    assert normalize_origin("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    for bad in ("shop.example", "ftp://shop.example", "https://shop.example/path", "https://u@shop.example"):
        with pytest.raises(BadConfig):
            normalize_origin(bad)
    cfg = parse_config(
        {"key": "k", "origins": ["https://a.example"], "hours": {"days": [0], "from": "09:00", "to": "18:00"}}
    )
    monday_noon_msk = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # 12:00 in Moscow, a Monday
    assert cfg.online(monday_noon_msk)
    assert not cfg.online(datetime(2026, 11, 30, 16, 0, tzinfo=UTC))  # 19:00
    assert not cfg.online(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))  # Tuesday
    for bad_settings in (
        {"key": "k", "color": "red"},
        {"key": "k", "position": "top"},
        {},
        {"key": "k", "hours": {"tz": "Mars/Base"}},
    ):
        with pytest.raises(BadConfig):
            parse_config(bad_settings)
    assert parse_config(cfg.as_settings()) == cfg


def test_the_loader_is_small_and_ships_in_the_package() -> None:
    js = (STATIC / "widget.js").read_bytes()
    assert len(gzip.compress(js, 9)) <= 30 * 1024
    assert b"attachShadow" in js and b"innerHTML" not in js and b"eval(" not in js


def test_registry_and_policies_know_the_widget() -> None:
    caps = kinds.capabilities("widget")
    assert caps.buttons and caps.media and not caps.html
    assert SPECS["widget"].public is not None and "/widget/" in SPECS["widget"].public.prefixes
    assert "widget_visitor" in per_customer_tables()
    assert "widget_visitor" in MERGE and "widget_visitor" in ERASE


def test_the_config_schema_makes_a_key_once_and_keeps_it_on_edit() -> None:
    from inbox.channels.config import ConfigError
    from inbox.channels.widget.schema import CONFIG
    from inbox.settings import Settings

    app = Settings(
        database_url="sqlite+aiosqlite://",
        redis_url=None,
        secret_key="k" * 20,
        data_dir=STATIC,
        public_url=None,
    )
    raw = {
        "origin": ["https://Shop.example/", "https://shop.example"],
        "public_url": "https://inbox.example/",
    }
    settings, secrets = CONFIG.parse(raw, app=app)
    assert (
        settings["origins"] == ["https://shop.example"] and settings["public_url"] == "https://inbox.example"
    )
    assert len(settings["key"]) >= 16 and len(secrets["secret"]) == 64
    # The edit form shows the key back and leaves the secret blank: both stay.
    form = {f.name: f.form_value({**settings, **secrets}) for f in CONFIG.form_fields()}
    assert form["key"] == settings["key"] and form["secret"] == ""
    again, kept = CONFIG.parse(
        {**form, "origin": form["origin"].splitlines(), "hours": "1-5 09:00-18:00"},
        keep_secrets=secrets,
        app=app,
    )
    assert again["key"] == settings["key"] and kept == secrets
    assert again["hours"] == {"days": [0, 1, 2, 3, 4], "from": "09:00", "to": "18:00", "tz": "Europe/Moscow"}
    with pytest.raises(ConfigError):  # no --public-url and no INBOX_PUBLIC_URL
        CONFIG.parse({"origin": ["https://shop.example"]}, app=app)
    with pytest.raises(ConfigError):
        CONFIG.parse({"origin": ["shop.example"], "public_url": "https://inbox.example"}, app=app)
    with pytest.raises(ConfigError):
        CONFIG.parse({**raw, "hours": "Mon-Fri"}, app=app)


def test_the_consent_box_is_labelled_in_both_languages_and_the_widget_is_a_consent_channel() -> None:
    with i18n.use_locale("en"):
        assert strings()["consent"] == "Send me news and offers in this chat and at this address"
    with i18n.use_locale("ru"):
        assert strings()["consent"] == "Присылать мне новости и предложения в этот чат и на этот адрес"
    check_consent("widget", "widget")  # the widget is a channel consent can be given on
    with pytest.raises(ConsentError):
        check_consent("pigeon", "widget")
    js = (STATIC / "widget.js").read_text()
    assert 'type: "checkbox", id: "iw-consent"' in js and 'for: "iw-consent"' in js and "checked:" not in js
