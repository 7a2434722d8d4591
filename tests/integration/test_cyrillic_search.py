"""Merge search and customer search find Cyrillic names whatever their case, the same on SQLite (whose
``lower()`` folds ASCII only) and PostgreSQL."""

from __future__ import annotations

import pytest

from inbox.core.merge import find_customers
from inbox.db import SessionFactory, transaction
from inbox.models import Customer
from inbox.team.search import search_customers


@pytest.fixture
async def people(factory: SessionFactory) -> dict[str, int]:
    async with transaction(factory) as session:
        rows = {
            "oleg": Customer(name="Олег Петров", email="oleg@example.org"),
            "igor": Customer(name="ИГОРЬ Ёлкин"),
            "anna": Customer(name="Anna Smith"),
            "me": Customer(name="Менеджер"),
        }
        session.add_all(rows.values())
        await session.flush()
        return {k: c.id for k, c in rows.items()}


@pytest.mark.parametrize(
    ("query", "who"),
    [
        ("Олег", "oleg"),
        ("олег", "oleg"),
        ("ОЛЕГ", "oleg"),
        ("петров", "oleg"),
        ("Игорь", "igor"),
        ("игорь", "igor"),
        ("ёлкин", "igor"),
        ("ANNA", "anna"),
    ],
)
async def test_merge_search_folds_cyrillic_case(
    factory: SessionFactory, people: dict[str, int], query: str, who: str
) -> None:
    async with factory() as session:
        found = await find_customers(session, query, exclude=people["me"])
    assert [c.id for c in found] == [people[who]]


@pytest.mark.parametrize(("query", "who"), [("олег", "oleg"), ("ОЛЕГ", "oleg"), ("игорь", "igor")])
async def test_customer_search_folds_cyrillic_case(
    factory: SessionFactory, people: dict[str, int], query: str, who: str
) -> None:
    async with factory() as session:
        found = await search_customers(session, query)
    assert [h.customer_id for h in found] == [people[who]]
