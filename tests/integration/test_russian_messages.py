"""Server messages that reach the Russian UI come through Babel: stock shortfall, forbidden status moves, the
last-admin guard, dashboard table headers and series, delivery method names, channel checks."""

from __future__ import annotations

import pytest

from inbox.channels.checks import check_connection
from inbox.db import SessionFactory, transaction
from inbox.i18n import use_locale
from inbox.models import ChannelAccount, Manager
from inbox.orders import service as svc
from inbox.orders.delivery_names import delivery_code, delivery_label
from inbox.orders.errors import OutOfStock, TransitionRefused
from inbox.settings import Settings
from inbox.team import managers
from inbox.team.assignment import TeamError
from inbox.team.stats import dashboard, period
from inbox.web.views.dashboard import charts, shown
from tests.orders_factories import make_world

MGR = svc.Actor("api")


async def test_order_refusals_in_russian_and_english(factory: SessionFactory) -> None:
    world = await make_world(factory, {"A-1": (1000, 2)})
    for locale, shortfall, forbidden in (
        ("ru", "в наличии только 2, запрошено 5", "«Новый» → «Доставлен» запрещён"),
        ("en", "only 2 available, 5 requested", "New → Delivered is not allowed"),
    ):
        with use_locale(locale):
            async with transaction(factory) as s:
                order = await svc.do_create_draft(s, customer_id=world.customer_id, actor=MGR)
                with pytest.raises(OutOfStock) as short:
                    await svc.do_add_line(s, order, world.products["A-1"], 5, actor=MGR)
                assert short.value.reason == shortfall
                await svc.do_add_line(s, order, world.products["A-1"], 1, actor=MGR)
                await svc.do_submit(s, order, actor=MGR)
                with pytest.raises(TransitionRefused) as refused:
                    await svc.do_change_status(s, order, "delivered", actor=MGR)
                assert forbidden in refused.value.reason
                await svc.do_cancel(s, order, actor=MGR)


async def test_last_admin_guard_in_russian(factory: SessionFactory) -> None:
    async with transaction(factory) as s:
        admin = Manager(email="a@shop.example", name="Админ", password_hash="x", role="admin")
        s.add(admin)
        await s.flush()
        admin_id = admin.id
    with use_locale("ru"), pytest.raises(TeamError, match="Последнего активного администратора"):
        async with transaction(factory) as s:
            await managers.set_active(s, admin_id, admin_id, False)


async def test_dashboard_headers_series_and_delivery_names_in_russian(factory: SessionFactory) -> None:
    p = period(None, None, "Europe/Moscow")
    async with factory() as s:
        tables = await dashboard(s, p)
    with use_locale("ru"):
        assert shown(tables["messages"]).headers == ["День", "Канал", "Направление", "Количество"]
        assert [row[0] for row in shown(tables["threads"]).rows] == [
            "Открыт",
            "Без ответственного",
            "Ждут ответа",
            "Отложенные",
        ]
        svg = str(charts(tables, p)["bots"])
        assert "Только бот" in svg and "bot_only" not in svg.split("data-series")[0]
        assert delivery_label("pickup") == "Самовывоз" and delivery_code("самовывоз") == "pickup"
        assert delivery_code("до двери") == "до двери"
    with use_locale("en"):
        assert shown(tables["messages"]).headers == ["Day", "Channel", "Direction", "Count"]


async def test_channel_check_results_in_russian(settings: Settings) -> None:
    demo = ChannelAccount(id=1, kind="telegram", name="demo", settings={"demo": True}, secrets={})
    empty = ChannelAccount(id=2, kind="vk", name="vk", settings={}, secrets={})
    with use_locale("ru"):
        assert await check_connection(demo, settings) == "демо-канал: проверять нечего"
        with pytest.raises(Exception, match="нет токена сообщества"):
            await check_connection(empty, settings)
