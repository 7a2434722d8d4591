"""segments, broadcasts, triggers, tasks, carts (issue 16)

Revision ID: 0010_sales
Revises: 0007_customer_card (needs customer_consent; was 0006_team before the customer card landed)

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import inbox.models.base

revision: str = "0010_sales"
down_revision: str | None = "0007_customer_card"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "segment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column(
            "conditions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("on_dashboard", sa.Boolean(), nullable=False),
        sa.Column("created_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment")),
        sa.UniqueConstraint("name", name=op.f("uq_segment_name")),
    )
    op.create_table(
        "trigger_rule",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column(
            "params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "conditions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "actions",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("builtin", sa.String(length=32), nullable=True),
        sa.Column("created_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_rule")),
        sa.UniqueConstraint("builtin", name=op.f("uq_trigger_rule_builtin")),
    )
    op.create_table(
        "broadcast",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("segment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("image", sa.String(length=500), nullable=True),
        sa.Column(
            "buttons",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("send_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("planned_at", inbox.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", inbox.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["manager.id"], name=op.f("fk_broadcast_created_by_id_manager")
        ),
        sa.ForeignKeyConstraint(["segment_id"], ["segment.id"], name=op.f("fk_broadcast_segment_id_segment")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast")),
    )
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.create_index("ix_broadcast_due", ["status", "send_at"], unique=False)

    op.create_table(
        "segment_member",
        sa.Column("segment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("added_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_segment_member_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segment.id"],
            name=op.f("fk_segment_member_segment_id_segment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("segment_id", "customer_id", name=op.f("pk_segment_member")),
    )
    with op.batch_alter_table("segment_member", schema=None) as batch_op:
        batch_op.create_index("ix_segment_member_customer", ["customer_id"], unique=False)

    op.create_table(
        "broadcast_recipient",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("broadcast_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.Column("message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("queued_at", inbox.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcast.id"],
            name=op.f("fk_broadcast_recipient_broadcast_id_broadcast"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_broadcast_recipient_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["message.id"], name=op.f("fk_broadcast_recipient_message_id_message")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_recipient")),
        sa.UniqueConstraint(
            "broadcast_id", "customer_id", name=op.f("uq_broadcast_recipient_broadcast_id_customer_id")
        ),
        sa.UniqueConstraint("message_id", name=op.f("uq_broadcast_recipient_message_id")),
    )
    with op.batch_alter_table("broadcast_recipient", schema=None) as batch_op:
        batch_op.create_index("ix_broadcast_recipient_customer", ["customer_id"], unique=False)
        batch_op.create_index("ix_broadcast_recipient_state", ["broadcast_id", "state", "id"], unique=False)

    op.create_table(
        "cart",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "lines",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("reminded_at", inbox.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name=op.f("fk_cart_customer_id_customer")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_cart_order_id_orders"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cart")),
        sa.UniqueConstraint("source", "external_id", name=op.f("uq_cart_source_external_id")),
    )
    with op.batch_alter_table("cart", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cart_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_cart_open", ["status", "updated_at"], unique=False)

    op.create_table(
        "sales_task",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("due_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("assignee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("rule_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("done_at", inbox.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["manager.id"], name=op.f("fk_sales_task_assignee_id_manager")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["manager.id"], name=op.f("fk_sales_task_created_by_id_manager")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_sales_task_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_sales_task_order_id_orders"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["trigger_rule.id"],
            name=op.f("fk_sales_task_rule_id_trigger_rule"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_task")),
    )
    with op.batch_alter_table("sales_task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sales_task_assignee_id"), ["assignee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_sales_task_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index("ix_sales_task_open", ["done_at", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sales_task_order_id"), ["order_id"], unique=False)

    op.create_table(
        "trigger_fire",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rule_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_key", sa.String(length=120), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "done", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=False
        ),
        sa.Column("fired_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_trigger_fire_customer_id_customer")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message.id"],
            name=op.f("fk_trigger_fire_message_id_message"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["trigger_rule.id"],
            name=op.f("fk_trigger_fire_rule_id_trigger_rule"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_fire")),
        sa.UniqueConstraint(
            "rule_id", "customer_id", "event_key", name=op.f("uq_trigger_fire_rule_id_customer_id_event_key")
        ),
    )
    with op.batch_alter_table("trigger_fire", schema=None) as batch_op:
        batch_op.create_index("ix_trigger_fire_customer", ["customer_id"], unique=False)
        batch_op.create_index("ix_trigger_fire_rule", ["rule_id", "fired_at"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("trigger_fire", schema=None) as batch_op:
        batch_op.drop_index("ix_trigger_fire_rule")
        batch_op.drop_index("ix_trigger_fire_customer")

    op.drop_table("trigger_fire")
    with op.batch_alter_table("sales_task", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sales_task_order_id"))
        batch_op.drop_index("ix_sales_task_open")
        batch_op.drop_index(batch_op.f("ix_sales_task_customer_id"))
        batch_op.drop_index(batch_op.f("ix_sales_task_assignee_id"))

    op.drop_table("sales_task")
    with op.batch_alter_table("cart", schema=None) as batch_op:
        batch_op.drop_index("ix_cart_open")
        batch_op.drop_index(batch_op.f("ix_cart_customer_id"))

    op.drop_table("cart")
    with op.batch_alter_table("broadcast_recipient", schema=None) as batch_op:
        batch_op.drop_index("ix_broadcast_recipient_state")
        batch_op.drop_index("ix_broadcast_recipient_customer")

    op.drop_table("broadcast_recipient")
    with op.batch_alter_table("segment_member", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_member_customer")

    op.drop_table("segment_member")
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.drop_index("ix_broadcast_due")

    op.drop_table("broadcast")
    op.drop_table("trigger_rule")
    op.drop_table("segment")
