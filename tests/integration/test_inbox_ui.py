"""The inbox's pages over real HTTP (uvicorn) on SQLite and PostgreSQL in the default configuration (bots
on): the order panel's status choice and history, the thread list's waiting times and counts, team
settings, canned replies edited in the browser, the order status table, the audit log in Russian, and
the Content-Security-Policy header."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from html import unescape

import pytest

from inbox.db import SessionFactory
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD
from inbox.settings import Settings
from tests.integration.test_team_web import shop, signed_in
from tests.orders_factories import World, make_world
from tests.server import threaded_server

__all__ = ["shop"]


@pytest.fixture
def default_settings(settings: Settings) -> Settings:
    return replace(settings, bots_enabled=True)  # the default configuration


@pytest.fixture
async def world(shop: SessionFactory) -> World:
    return await make_world(shop)


@pytest.fixture
def base(world: World, default_settings: Settings) -> Iterator[str]:
    with threaded_server(default_settings) as url:
        yield url


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).replace(" :", ":")


async def test_order_panel_shows_the_current_status_and_offers_moves_without_preselecting(
    base: str, world: World
) -> None:
    admin = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
    tid = world.thread_id
    panel = admin.post(f"/ui/threads/{tid}/orders").text
    order_id = re.search(r'data-order-id="(\d+)"', panel)
    assert order_id, panel
    oid = order_id.group(1)
    admin.post(f"/ui/orders/{oid}/lines", data={"product_id": str(world.products["A-1"]), "qty": "2"})
    admin.post(f"/ui/orders/{oid}/submit")
    panel = admin.get(f"/ui/threads/{tid}/order-panel").text
    select = re.search(r'<select name="status" id="order-status"[^>]*>(.*?)</select>', panel, re.S)
    assert select, panel
    options = re.findall(r"<option([^>]*)>([^<]*)</option>", select.group(1))
    selected = [(attrs, label) for attrs, label in options if "selected" in attrs]
    # nothing a manager could mistake for the current status: the only preselected option chooses nothing
    assert len(selected) == 1 and 'value=""' in selected[0][0], options
    assert "Подтверждён" in [label for _a, label in options]
    current = re.search(r'id="order-current-status"[^>]*>([^<]+)<', panel)
    assert current and current.group(1) == "Новый"

    changed = admin.post(f"/ui/orders/{oid}/status", data={"status": "confirmed", "notify": "0"}).text
    assert re.search(r'id="order-current-status"[^>]*>Подтверждён<', changed)
    history = re.search(r'<ol class="history-list">(.*?)</ol>', changed, re.S)
    assert history, changed
    lines = text_of(history.group(1))
    assert "Администратор: Статус: Новый → Подтверждён" in lines
    assert "Добавлено: A-1 x2" in lines
    assert "Черновик создан" in lines
