"""Every table that belongs to a customer or to its thread has a merge policy; a new one without a policy
is caught here before merge can forget it."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, Table

from inbox.core.merge_policy import POLICIES, Policy, per_customer_tables, unhandled
from inbox.models import Base


def test_every_table_with_a_customer_or_thread_key_has_a_policy() -> None:
    found = per_customer_tables(Base.metadata)
    assert {"bot_state", "orders", "customer_label", "thread_label", "message", "identity"} <= set(found)
    assert unhandled(Base.metadata) == []


def test_a_table_without_a_policy_is_reported() -> None:
    metadata = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)
    Table(
        "wishlist",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("customer_id", ForeignKey("customer.id")),
    )
    assert unhandled(metadata) == ["wishlist"]


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_keep_newest_policies_name_their_column(name: str) -> None:
    rule = POLICIES[name]
    if rule.policy is Policy.KEEP_NEWEST:
        assert rule.newest is not None and rule.newest in Base.metadata.tables[name].c
