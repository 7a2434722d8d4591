"""The channel registry is the one list of kinds: every spec names a real adapter with the same kind and
capabilities, and the core reads capabilities through it without importing channels."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from inbox import i18n
from inbox.channels.checks import CheckFailed, check_connection
from inbox.channels.registry import SPECS
from inbox.core import kinds
from inbox.core.types import Capabilities
from inbox.models import ChannelAccount
from inbox.settings import Settings


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_spec_names_its_adapter(kind: str) -> None:
    spec = SPECS[kind]
    module_name, _, attr = spec.adapter.partition(":")
    adapter = getattr(importlib.import_module(module_name), attr)
    assert adapter.kind == spec.kind == kind
    assert adapter.capabilities is spec.capabilities
    assert spec.check is not None


def test_core_reads_capabilities_by_kind() -> None:
    assert {k.kind for k in kinds.all_kinds()} >= {"telegram", "vk", "email", "sms"}
    assert kinds.capabilities("telegram").buttons and kinds.capabilities("telegram").contact_sharing
    assert not kinds.capabilities("sms").buttons and kinds.capabilities("sms").numbered_menus
    assert [kinds.capabilities(k).notice_text for k in ("telegram", "vk", "sms", "email")] == [
        "messenger",
        "messenger",
        "sms",
        "email",
    ]
    assert kinds.hooks_for("email").prepare_draft is not None
    assert kinds.hooks_for("telegram").prepare_draft is None
    unknown = kinds.kind_info("fax")
    assert unknown.label == "fax" and unknown.capabilities == Capabilities()


async def test_check_of_an_unknown_kind_fails_clearly(tmp_path: Path) -> None:
    account = ChannelAccount(kind="fax", name="f", settings={}, secrets={}, state={})
    with i18n.use_locale("en"), pytest.raises(CheckFailed, match="no check for channel kind fax"):
        await check_connection(account, Settings("sqlite+aiosqlite://", None, "k", tmp_path))
