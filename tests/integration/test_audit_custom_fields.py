"""The audit log reads custom-field changes as Russian sentences (the admin's language), naming the field
even after it is gone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inbox.db import SessionFactory
from inbox.demo import DEMO_EMAIL, DEMO_PASSWORD, seed
from inbox.i18n import use_locale
from inbox.models import AuditLog
from inbox.settings import Settings
from inbox.team.audit_text import admin_action
from tests.integration.test_team_web import signed_in
from tests.server import threaded_server


@pytest.fixture
def base(factory: SessionFactory, settings: Settings) -> Iterator[str]:
    with threaded_server(settings, run_workers=False) as url:
        yield url


async def test_custom_field_add_and_delete_read_in_russian(factory: SessionFactory, base: str) -> None:
    await seed(factory)
    admin = signed_in(base, DEMO_EMAIL, DEMO_PASSWORD)  # the demo admin's language is Russian
    r = admin.post(
        "/admin/custom-fields/",
        data={"key": "shoe_size", "name": "Размер обуви", "kind": "select", "options": "38\n39\n40"},
    )
    assert r.status_code == 303, r.text
    page = admin.get("/admin/custom-fields/").text
    field_id = page.split('action="/admin/custom-fields/')[1].split("/delete")[0]
    assert admin.post(f"/admin/custom-fields/{field_id}/delete").status_code == 303

    log = admin.get("/admin/audit").text
    assert "Добавлено поле карточки клиента «Размер обуви» (Список вариантов, ключ shoe_size)" in log
    assert "Удалено поле карточки клиента «Размер обуви»" in log
    assert "<td>custom_field." not in log  # no raw action codes as the text


def test_an_old_delete_entry_without_a_name_still_reads_as_a_sentence() -> None:
    row = AuditLog(actor_id=1, action="custom_field.delete", target="7", details={})
    with use_locale("ru"):
        assert admin_action(row, {}) == "Удалено поле карточки клиента (№ 7)"
    with use_locale("en"):
        assert admin_action(row, {}) == "Deleted a customer card field (no. 7)"
