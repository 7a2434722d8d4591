"""The carriers' status maps edited by an admin in the browser's form over real HTTP, on both databases:
saved, validated (a clear 400 in Russian), audited, admins only; and what was saved is what tracking does
(a move the matrix does not allow is flagged for a manager, a group target finds its nearest status)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from html import unescape

import pytest
from sqlalchemy import select

from inbox.db import SessionFactory, transaction
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD
from inbox.models import AuditLog, CarrierStatusMap
from inbox.orders.carriers.tracking import nearest_of_group
from inbox.orders.statuses import ensure_defaults, load_statuses
from inbox.settings import Settings
from tests.integration.test_carriers_polled import (
    BARCODE,
    World,
    _russianpost,
    _server,
    _setup,
    _status_is,
    _texts,
    _thread_events,
    _until,
    bb,
    post,
    tg,
    world,
)
from tests.integration.test_inbox_ui import text_of
from tests.integration.test_team_web import PLAIN_EMAIL, PLAIN_PASSWORD, shop, signed_in
from tests.server import threaded_server

__all__ = ["bb", "post", "shop", "tg", "world"]


@pytest.fixture
def base(shop: SessionFactory, settings: Settings) -> Iterator[str]:
    with threaded_server(replace(settings, bots_enabled=True)) as url:
        yield url


def map_form(page: str, kind: str) -> dict[str, str]:
    """What the browser sends from one carrier's form as it stands."""
    found = re.search(rf'<form method="post" action="/admin/carrier-statuses/{kind}">.*?</form>', page, re.S)
    assert found, kind
    html = found.group(0)
    data: dict[str, str] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html):
        data[name] = unescape(value)
    for tag in re.findall(r'<input type="checkbox" name="[^"]+"[^>]*>', html):
        if " checked" in tag:
            data[re.search(r'name="([^"]+)"', tag).group(1)] = "1"  # type: ignore[union-attr]
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        data[name] = chosen.group(1) if chosen else ""
    return data


def index_of(form: dict[str, str], code: str) -> int:
    return next(int(k.split(":")[1]) for k, v in form.items() if k.startswith("code:") and v == code)


async def test_admin_edits_a_carriers_status_map(base: str, shop: SessionFactory) -> None:
    async with transaction(shop) as session:
        await ensure_defaults(session)  # the statuses migration 0004 seeds (the tests empty the tables)
    admin = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)
    assert 'href="/admin/carrier-statuses"' in admin.get("/admin/managers").text  # in the admin menu
    page = admin.get("/admin/carrier-statuses")
    assert page.status_code == 200
    assert "Статусы перевозчиков" in page.text and "Почта России" in page.text
    assert "<script>" not in page.text and " onclick=" not in page.text
    form = map_form(page.text, "boxberry")
    at = index_of(form, "Поступило в пункт выдачи")
    assert form[f"step:{at}"] == "at_pickup" and form[f"notify:{at}"] == "1"
    form[f"target:{at}"] = "status:ready_for_pickup"
    form[f"remove:{index_of(form, 'Возвращено в ИМ')}"] = "1"
    form.update({"new_code": "Передано курьеру", "new_target": "group:delivery", "new_step": "in_transit"})
    saved = admin.post("/admin/carrier-statuses/boxberry", data=form)
    err = re.search(r"id=\"carrier-error\">([^<]*)", saved.text)
    assert saved.status_code == 200 and 'id="carrier-saved"' in saved.text, err and err.group(1)
    async with shop() as session:
        rows = {
            r.code: r
            for r in (
                await session.execute(select(CarrierStatusMap).where(CarrierStatusMap.kind == "boxberry"))
            ).scalars()
        }
    assert rows["Поступило в пункт выдачи"].status == "ready_for_pickup"
    assert "Возвращено в ИМ" not in rows
    courier = rows["Передано курьеру"]
    assert (courier.group, courier.status, courier.step, courier.notify) == (
        "delivery",
        None,
        "in_transit",
        False,
    )
    bad = map_form(saved.text, "boxberry")
    bad[f"target:{index_of(bad, 'Выдано')}"] = "status:ghost"
    refused = admin.post("/admin/carrier-statuses/boxberry", data=bad)
    assert refused.status_code == 400 and "неизвестный статус или группа" in text_of(refused.text)
    lonely = map_form(saved.text, "boxberry") | {"new_code": "Утеряно", "new_notify": "1"}
    refused = admin.post("/admin/carrier-statuses/boxberry", data=lonely)
    assert refused.status_code == 400 and "шаг" in text_of(refused.text)
    assert admin.post("/admin/carrier-statuses/dhl", data={}).status_code == 404
    async with shop() as session:  # the refused saves changed nothing
        assert (
            await session.execute(
                select(CarrierStatusMap.status).where(
                    CarrierStatusMap.kind == "boxberry", CarrierStatusMap.code == "Выдано"
                )
            )
        ).scalar_one() == "delivered"
        actions = [(a.action, a.target) for a in (await session.execute(select(AuditLog))).scalars()]
    assert actions == [("carrier_statuses.save", "boxberry")]
    assert "Изменена карта статусов перевозчика boxberry (статусов: 5)" in text_of(
        admin.get("/admin/audit").text
    )
    olga = signed_in(base, PLAIN_EMAIL, PLAIN_PASSWORD)
    assert olga.get("/admin/carrier-statuses").status_code == 403
    assert olga.post("/admin/carrier-statuses/boxberry", data=form).status_code == 403


async def test_group_targets_find_the_nearest_status(factory: SessionFactory) -> None:
    async with transaction(factory) as session:
        await ensure_defaults(session)
        statuses = await load_statuses(session)
    assert nearest_of_group(statuses, "new", "delivery") == "handed_to_delivery"
    assert nearest_of_group(statuses, "in_delivery", "delivery") == "in_delivery"
    assert nearest_of_group(statuses, "in_delivery", "complete") == "delivered"
    assert nearest_of_group(statuses, "delivered", "new") == "group:new"  # none: flagged by the caller


async def test_a_forbidden_move_from_the_edited_map_is_flagged(
    world: World, tg: object, post: object
) -> None:
    from tests.emulators.russianpost import RussianPostEmulator
    from tests.emulators.telegram import TelegramEmulator
    from tests.integration.test_payments_links import _signed_in

    assert isinstance(post, RussianPostEmulator) and isinstance(tg, TelegramEmulator)
    carrier = _russianpost(post)
    order, _ = await _setup(world, tg, carrier)
    async with transaction(world.factory) as session:  # the admin's edit: "arrived" → ready for pickup
        row = await session.get(CarrierStatusMap, ("russianpost", "8.2"))
        assert row is not None
        row.status = "ready_for_pickup"
    carrier.accepted()
    carrier.moving()
    with _server(world) as base, closing(_signed_in(base)) as client:
        typed = client.post(
            f"/ui/orders/{order.id}/tracking", data={"carrier": carrier.code, "tracking_number": BARCODE}
        )
        assert typed.status_code == 200, typed.text
        await _status_is(world, order.id, "in_delivery")
        carrier.at_pickup()

        async def flagged() -> list[dict[str, object]]:
            return await _thread_events(world, order.thread_id or 0, "move_refused")

        (refused,) = await _until(flagged, "the forbidden move flagged")
        assert refused["to"] == "ready_for_pickup"

        async def told() -> bool:
            return any("пункт выдачи" in t for t in _texts(tg))

        await _until(told, "the customer told all the same")
    await _status_is(world, order.id, "in_delivery")  # the status stayed
