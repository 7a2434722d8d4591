"""A channel package gets marketing, merge and the CLI's behaviours by declaring capabilities, not by its
name: two made-up kinds registered with the core (a phone-addressed one without buttons, a messenger with
buttons that needs permission to write) are treated like SMS/email and VK would be."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inbox.core import kinds
from inbox.core.merge import suggest_duplicates
from inbox.core.types import Capabilities
from inbox.db import SessionFactory, transaction
from inbox.i18n import use_locale
from inbox.models import Broadcast, ChannelAccount, Customer, Identity
from inbox.sales import SalesError, unsubscribe
from inbox.sales.broadcasts import compose, permission_kinds
from inbox.sales.segments import parse_conditions
from inbox.settings import Settings

PIGEON = Capabilities(  # phone-addressed, no buttons, subject lines and a List-Unsubscribe header
    buttons=False,
    numbered_menus=True,
    media=False,
    address="phone",
    link_code="p",
    subject=True,
    list_unsubscribe=True,
)
OWL = Capabilities(
    buttons=True, numbered_menus=False, link_code="o", consent_question=True, write_permission=True
)


@pytest.fixture
def new_kinds(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    kinds.all_kinds()  # the registry is loaded before the made-up kinds join it
    monkeypatch.setitem(kinds._kinds, "pigeon", kinds.KindInfo("pigeon", "Pigeon", PIGEON))
    monkeypatch.setitem(kinds._kinds, "owl", kinds.KindInfo("owl", "Owl", OWL))
    yield


def test_unsubscribe_tokens_name_a_new_kind_by_its_declared_letter(new_kinds: None) -> None:
    token = unsubscribe.make_token("secret-0123456789", 7, "pigeon")
    assert token.startswith("7p")
    assert unsubscribe.read_token("secret-0123456789", token) == (7, "pigeon")
    assert unsubscribe.read_token(
        "secret-0123456789", unsubscribe.make_token("secret-0123456789", 7, "owl")
    ) == (
        7,
        "owl",
    )


def test_segment_conditions_take_every_registered_kind(new_kinds: None) -> None:
    (cond,) = parse_conditions([{"field": "channel", "op": "is", "value": "pigeon"}])
    assert cond.value == "pigeon"
    with pytest.raises(SalesError):
        parse_conditions([{"field": "consent", "op": "given", "value": "dodo"}])


def test_broadcast_unsubscribe_follows_buttons_and_list_unsubscribe(new_kinds: None, tmp_path: Path) -> None:
    settings = Settings("sqlite+aiosqlite://", None, "k" * 32, tmp_path)
    broadcast = Broadcast(id=3, segment_id=1, text="Распродажа\nСкидки до 30%", buttons=[])
    with use_locale("en"):
        text, rows, meta = compose(broadcast, "pigeon", 5, settings, replies=True)
        assert rows == () and meta["subject"] == "Распродажа"
        assert meta["list_unsubscribe"] in text and "/u/5p" in meta["list_unsubscribe"]
        text, rows, meta = compose(broadcast, "owl", 5, settings, replies=True)
        assert [b.payload for (b,) in rows] == [
            unsubscribe.BUTTON_PREFIX + unsubscribe.make_token("k" * 32, 5, "owl")
        ]
        assert "subject" not in meta and "list_unsubscribe" not in meta
    assert "owl" in permission_kinds() and "pigeon" not in permission_kinds()


async def test_an_identity_of_a_phone_kind_suggests_the_customer_with_that_phone(
    new_kinds: None, factory: SessionFactory
) -> None:
    async with transaction(factory) as session:
        account = ChannelAccount(kind="pigeon", name="loft", settings={}, secrets={}, state={})
        owl = ChannelAccount(kind="owl", name="tree", settings={}, secrets={}, state={})
        anna, bird, other = (
            Customer(name="Анна", phone="+79161234567"),
            Customer(name="?"),
            Customer(name="?"),
        )
        session.add_all([account, owl, anna, bird, other])
        await session.flush()
        session.add(
            Identity(kind="pigeon", account_id=account.id, external_id="+79161234567", customer_id=bird.id)
        )
        # an opaque id that happens to look like the phone: the owl declares no address
        session.add(Identity(kind="owl", account_id=owl.id, external_id="+79161234567", customer_id=other.id))
        await session.flush()
        ids = anna.id, bird.id, other.id
    async with factory() as session:
        found = await suggest_duplicates(session, ids[0])
    assert [(s.customer_id, s.reason, s.field) for s in found] == [(ids[1], "same_phone", "phone")]
