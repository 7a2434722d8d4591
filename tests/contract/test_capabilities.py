"""Every registered channel kind declares its capabilities consistently: marketing, merge and the CLI read
them instead of naming kinds, so a declaration that contradicts itself (a consent question without buttons,
an unsubscribe letter used twice) would break a channel silently. The last test pins what the built-in
kinds declare, so that moving a kind test into a capability keeps today's behaviour."""

from __future__ import annotations

import importlib

import pytest

from inbox.channels.registry import KINDS, SPECS
from inbox.channels.spec import ChannelSpec
from inbox.core import kinds


@pytest.fixture(params=KINDS)
def spec(request: pytest.FixtureRequest) -> ChannelSpec:
    return SPECS[request.param]


def test_the_core_sees_what_the_spec_declares(spec: ChannelSpec) -> None:
    assert kinds.kind_info(str(spec.kind)).capabilities is spec.capabilities
    assert kinds.kind_info(str(spec.kind)).label == spec.label


def test_link_code_is_one_letter_of_its_own() -> None:
    codes = [SPECS[k].capabilities.link_code for k in KINDS]
    assert all(len(c) == 1 and "a" <= c <= "z" and c != "x" for c in codes), codes  # x: an unknown kind
    assert len(set(codes)) == len(codes), f"two kinds share an unsubscribe letter: {codes}"


def test_address_is_a_phone_an_email_or_opaque(spec: ChannelSpec) -> None:
    assert spec.capabilities.address in (None, "phone", "email")


def test_menus_and_questions_fit_the_buttons(spec: ChannelSpec) -> None:
    caps = spec.capabilities
    assert caps.buttons or caps.numbered_menus, "a menu needs buttons or numbered lines"
    assert not caps.consent_question or caps.buttons, "the consent question is Yes / No buttons"


def test_send_only_providers_are_providers_of_the_kind(spec: ChannelSpec) -> None:
    providers = spec.capabilities.send_only_providers
    if providers:
        assert spec.config is not None
        assert set(providers) <= set(spec.config.field("provider").choices)


def test_history_sync_has_its_option_and_its_adapter_method(spec: ChannelSpec) -> None:
    module_name, _, attr = spec.adapter.partition(":")
    adapter = getattr(importlib.import_module(module_name), attr)
    names = {f.name for f in spec.config.fields} if spec.config else set()
    if spec.capabilities.history_sync:
        assert "no_sync" in names and callable(getattr(adapter, "sync_once", None))
    else:
        assert "no_sync" not in names


def test_the_built_in_kinds_declare_what_they_did_by_name() -> None:
    def having(attr: str) -> set[str]:
        return set(kinds.kinds_with(lambda caps: bool(getattr(caps, attr))))

    assert kinds.link_codes() == {"telegram": "t", "vk": "v", "email": "e", "sms": "s", "widget": "w"}
    assert having("buttons") == {"telegram", "vk", "widget"}  # the unsubscribe button
    assert having("consent_question") == {"telegram", "vk"}
    assert having("write_permission") == {"vk"}
    assert having("list_unsubscribe") == having("subject") == having("history_sync") == {"email"}
    assert {k: kinds.capabilities(k).send_only_providers for k in having("send_only_providers")} == {
        "sms": ("smsru",)
    }
    assert not kinds.capabilities("sms").media  # broadcasts send no picture by SMS
    assert {k: kinds.capabilities(k).address for k in KINDS if kinds.capabilities(k).address} == {
        "sms": "phone",
        "email": "email",
    }
