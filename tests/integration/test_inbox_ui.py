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
from sqlalchemy import select

from inbox.db import SessionFactory
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD
from inbox.models import AuditLog, CannedReply, Customer, Thread
from inbox.settings import Settings
from tests.integration.test_team_web import PLAIN_EMAIL, PLAIN_PASSWORD, shop, signed_in
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


async def demo_threads(factory: SessionFactory) -> dict[str, int]:
    async with factory() as session:
        rows = await session.execute(
            select(Customer.name, Thread.id).join(Thread, Thread.customer_id == Customer.id)
        )
        return {name: tid for name, tid in rows.all() if name}


def wait_of(page: str, thread_id: int) -> str | None:
    """The waiting badge of one row of the list: its class and text."""
    row = re.search(rf'<li class="thread-item[^"]*" id="t-{thread_id}".*?</li>', page, re.S)
    assert row, thread_id
    wait = re.search(r'<span class="(wait[^"]*)"[^>]*>(.*?)</span>', row.group(0), re.S)
    return f"{wait.group(1)}: {text_of(wait.group(2)).strip()}" if wait else None


def count_of(page: str, view: str) -> int:
    found = re.search(rf'id="count-{view}"[^>]*>(\d+)<', page)
    assert found, view
    return int(found.group(1))


async def test_the_list_shows_waiting_times_against_the_team_target_and_counts(
    base: str, shop: SessionFactory
) -> None:
    threads = await demo_threads(shop)
    admin = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
    page = admin.get("/").text
    # the demo customers last wrote 12 (Анна), 45 (Игорь), 30 (Мария) and 5 (Олег) minutes ago; the
    # order world adds a fifth customer who has not written
    assert wait_of(page, threads["Игорь Петров"]) == "wait over: 45 мин"
    assert wait_of(page, threads["Мария Кузнецова"]) == "wait over: 30 мин"
    assert wait_of(page, threads["Анна Смирнова"]) == "wait: 12 мин"
    assert (count_of(page, "mine"), count_of(page, "unassigned"), count_of(page, "waiting")) == (0, 5, 4)

    saved = admin.post(
        "/admin/team",
        data={"waiting_minutes": "15", "response_minutes": "40", "assign_on_reply": "1"},
    )
    assert saved.status_code in (302, 303), saved.text
    page = admin.get("/").text
    assert wait_of(page, threads["Мария Кузнецова"]) == "wait: 30 мин"  # within the new target
    assert wait_of(page, threads["Игорь Петров"]) == "wait over: 45 мин"
    assert 'name="response_minutes" min="0" max="1440" value="40"' in admin.get("/admin/team").text

    # answering an unassigned thread takes it; it leaves the "waiting" view
    sent = admin.post(f"/threads/{threads['Олег']}/reply", files={"text": (None, "Да, работаем с 10")})
    assert sent.status_code in (302, 303), sent.text
    fragment = admin.get("/ui/threads?view=waiting").text
    assert f'id="t-{threads["Олег"]}"' not in fragment and f'id="t-{threads["Игорь Петров"]}"' in fragment
    assert 'id="count-waiting" class="view-count" hx-swap-oob="true">3<' in fragment
    assert count_of(fragment, "mine") == 1
    mine = admin.get("/?view=mine").text
    assert f'id="t-{threads["Олег"]}"' in mine and count_of(mine, "unassigned") == 4

    # switched off, answering leaves the thread unassigned
    admin.post("/admin/team", data={"waiting_minutes": "15", "response_minutes": "15"})
    admin.post(f"/threads/{threads['Мария Кузнецова']}/reply", files={"text": (None, "Продлим")})
    async with shop() as session:
        maria = await session.get(Thread, threads["Мария Кузнецова"])
        oleg = await session.get(Thread, threads["Олег"])
        assert maria is not None and maria.assignee_id is None
        assert oleg is not None and oleg.assignee_id is not None


async def test_canned_replies_are_edited_in_the_browser(base: str, shop: SessionFactory) -> None:
    admin = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
    made = admin.post(
        "/canned", data={"shortcut": "hours", "title": "Часы", "body": "С 10 до 20", "shared": "1"}
    )
    assert made.status_code in (302, 303), made.text
    async with shop() as session:
        reply = (await session.execute(select(CannedReply))).scalar_one()
    form = admin.get(f"/canned?edit={reply.id}").text
    assert f'action="/canned/{reply.id}"' in form and ">С 10 до 20</textarea>" in form
    changed = admin.post(
        f"/canned/{reply.id}", data={"shortcut": "hours", "title": "Часы", "body": "С 9 до 21 без выходных"}
    )
    assert changed.status_code in (302, 303), changed.text
    assert "С 9 до 21 без выходных" in admin.get("/canned").text
    olga = signed_in(base, PLAIN_EMAIL, PLAIN_PASSWORD)
    refused = olga.post(f"/canned/{reply.id}", data={"shortcut": "x", "title": "", "body": "взлом"})
    assert refused.status_code == 400
    assert admin.post(f"/canned/{reply.id}/delete").status_code in (302, 303)
    async with shop() as session:
        actions = [a for (a,) in (await session.execute(select(AuditLog.action).order_by(AuditLog.id)))]
    assert actions == ["canned.create", "canned.update", "canned.delete"]
