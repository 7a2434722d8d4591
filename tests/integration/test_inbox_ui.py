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

from inbox.db import SessionFactory, transaction
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD
from inbox.models import AuditLog, Author, CannedReply, Customer, Direction, Manager, Message, Thread
from inbox.orders.statuses import load_statuses
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
    # other pages show the same numbers: their header asks for them (never a made-up 0)
    dashboard = admin.get("/dashboard").text
    assert (
        'hx-get="/ui/view-counts"' in dashboard
        and 'id="count-unassigned" class="view-count zero"></span>' in dashboard
    )
    counts = admin.get("/ui/view-counts").text
    assert 'id="count-unassigned" class="view-count" hx-swap-oob="true">5<' in counts
    assert 'id="count-waiting" class="view-count" hx-swap-oob="true">4<' in counts
    assert 'hx-get="/ui/view-counts"' not in page  # the inbox has them already

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


def checked(page: str, name: str) -> bool:
    box = re.search(rf'<input type="checkbox" name="{re.escape(name)}"[^>]*>', page)
    assert box, name
    return "checked" in box.group(0)


def table_form(page: str) -> dict[str, str]:
    """What the browser would send from the status table as it stands (text inputs, selects, ticks)."""
    form = re.search(r'<form method="post" action="/admin/order-statuses/table".*?</form>', page, re.S)
    assert form
    html = form.group(0)
    data: dict[str, str] = {}
    for name, value in re.findall(r'<input name="([^"]+)" value="([^"]*)"', html):
        data[name] = unescape(value)
    for tag in re.findall(r'<input type="checkbox" name="[^"]+"[^>]*>', html):
        if "checked" in tag:
            data[re.search(r'name="([^"]+)"', tag).group(1)] = "1"  # type: ignore[union-attr]
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        data[name] = chosen.group(1) if chosen else ""
    return data


async def test_order_statuses_are_edited_as_a_table_with_a_transitions_matrix(
    base: str, shop: SessionFactory, world: World
) -> None:
    admin = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
    assert 'href="/admin/order-statuses"' in admin.get("/admin/managers").text  # in the admin menu
    page = admin.get("/admin/order-statuses").text
    assert checked(page, "t:new:confirmed") and checked(page, "t:new:cancelled")
    assert not checked(page, "t:new:delivered")
    assert 'code = "new"' in unescape(page)  # the TOML export stays

    form = table_form(page)
    form.pop("t:new:cancelled")  # untick new → cancelled
    form["t:new:delivered"] = "1"  # tick new → delivered
    form["name_ru:confirmed"] = "Подтверждён менеджером"
    form.update({"new_code": "on_hold", "new_group": "approval", "new_name_ru": "Отложен"})
    saved = admin.post("/admin/order-statuses/table", data=form)
    assert saved.status_code == 200 and 'id="statuses-saved"' in saved.text, text_of(saved.text)[:600]
    assert not checked(saved.text, "t:new:cancelled") and checked(saved.text, "t:new:delivered")
    assert checked(saved.text, "t:on_hold:new") is False and "Отложен" in saved.text
    async with shop() as session:
        statuses = await load_statuses(session)
    assert statuses["new"].transitions == ["confirmed", "delivered"]
    assert statuses["confirmed"].names["ru"] == "Подтверждён менеджером"
    assert statuses["on_hold"].group == "approval"

    bad = table_form(saved.text)
    bad["limit:new"] = "завтра"
    refused = admin.post("/admin/order-statuses/table", data=bad)
    assert refused.status_code == 400 and "срок — целое число минут" in text_of(refused.text)
    audit = text_of(admin.get("/admin/audit").text)
    assert "Изменены статусы заказов (статусов: 10)" in audit


async def test_the_audit_log_reads_as_russian_sentences(
    base: str, shop: SessionFactory, world: World
) -> None:
    admin = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
    admin.post(
        "/admin/managers",
        data={"email": "ivan@shop.example", "name": "Иван", "password": "ivan-password", "role": "manager"},
    )
    async with shop() as session:
        ivan = (
            await session.execute(select(Manager).where(Manager.email == "ivan@shop.example"))
        ).scalar_one()
    admin.post(f"/admin/managers/{ivan.id}/role", data={"role": "admin"})
    admin.post(
        "/admin/team", data={"waiting_minutes": "20", "response_minutes": "10", "assign_on_reply": "1"}
    )
    panel = admin.post(f"/ui/threads/{world.thread_id}/orders").text
    oid = re.search(r'data-order-id="(\d+)"', panel).group(1)  # type: ignore[union-attr]
    admin.post(f"/ui/orders/{oid}/lines", data={"product_id": str(world.products["A-1"]), "qty": "1"})
    admin.post(f"/ui/orders/{oid}/submit")
    admin.post(f"/ui/orders/{oid}/status", data={"status": "confirmed", "notify": "0"})

    page = admin.get("/admin/audit").text
    table = text_of(re.search(r'<table class="grid[^"]*" id="audit">.*?</table>', page, re.S).group(0))  # type: ignore[union-attr]
    for sentence in (
        "Администратор Добавлен менеджер ivan@shop.example (менеджер)",
        "Администратор Роль ivan@shop.example изменена на «администратор»",
        "Изменены настройки команды: распределение по очереди выключено, "
        "напоминание об ожидании через 20 мин, цель по времени ответа 10 мин, "
        "ответ назначает диалог на отвечающего",
        "Администратор Заказ №1001: Статус: Новый → Подтверждён",
        "Заказ №1001: Добавлено: A-1 x1",
    ):
        assert sentence in table, (sentence, table)
    for code in ("manager.create", "manager.role", "team.settings", "line.add", "round_robin"):
        assert code not in table  # codes stay in the data, not in what a person reads


async def test_app_pages_carry_the_content_security_policy_and_the_email_frame_keeps_its_own(
    base: str, shop: SessionFactory, world: World
) -> None:
    async with transaction(shop) as session:
        letter = Message(
            thread_id=world.thread_id,
            customer_id=world.customer_id,
            direction=Direction.IN,
            channel="email",
            author=Author.CUSTOMER,
            text="Здравствуйте",
            html="<p>Здравствуйте</p>",
            meta={},
            revisions=[],
        )
        session.add(letter)
        await session.flush()
        letter_id = letter.id
    admin = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
    for path in ("/", f"/threads/{world.thread_id}", "/admin/audit", "/login"):
        policy = admin.get(path).headers.get("content-security-policy", "")
        assert policy == "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'", path
    frame = admin.get(f"/messages/{letter_id}/email.html")
    assert frame.status_code == 200 and "Здравствуйте" in frame.text
    assert frame.headers["content-security-policy"].startswith("sandbox;")  # its own, framed by the inbox
    assert "frame-ancestors 'self'" in frame.headers["content-security-policy"]
    assert "content-security-policy" not in admin.get("/healthz").headers  # JSON: no page, no policy


async def test_the_view_counts_stop_past_their_cap(world: World, shop: SessionFactory) -> None:
    """Counting every waiting thread of a large inbox took seconds per page: the counts stop at cap + 1,
    which the views show as "99+" (the cap is 99)."""
    from pathlib import Path

    from jinja2 import Environment, FileSystemLoader

    import inbox.web
    from inbox.team import waiting

    async with shop() as session:
        manager_id = (
            await session.execute(select(Manager.id).where(Manager.email == DEMO_EMAIL))
        ).scalar_one()
        exact = await waiting.view_counts(session, manager_id)
        capped = await waiting.view_counts(session, manager_id, cap=3)
    assert exact == {"mine": 0, "unassigned": 5, "waiting": 4}
    assert capped == {"mine": 0, "unassigned": 4, "waiting": 4}  # "more than 3"
    templates = Environment(
        loader=FileSystemLoader(Path(inbox.web.__file__).parent / "templates"), autoescape=True
    )
    shown = templates.get_template("_view_counts.html").render(
        view_counts={"mine": 0, "unassigned": 99, "waiting": waiting.COUNT_CAP + 1}
    )
    assert ">0<" in shown and ">99<" in shown and ">99+<" in shown
