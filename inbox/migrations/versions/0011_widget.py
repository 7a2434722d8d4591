"""website widget: visitors (issue 11)

Revision ID: 0011_widget
Revises: 0009_payments (the head of main)

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import inbox.models.base

revision: str = "0011_widget"
down_revision: str | None = "0009_payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "widget_visitor",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("external_id", sa.String(length=254), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("offline_contact", sa.String(length=254), nullable=True),
        sa.Column("created_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["channel_account.id"], name=op.f("fk_widget_visitor_account_id_channel_account")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_widget_visitor_customer_id_customer")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_widget_visitor")),
        sa.UniqueConstraint("account_id", "external_id", name=op.f("uq_widget_visitor_account_id_external_id")),
    )
    op.create_index(op.f("ix_widget_visitor_customer_id"), "widget_visitor", ["customer_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_widget_visitor_customer_id"), table_name="widget_visitor")
    op.drop_table("widget_visitor")
