"""bot state, FAQ (issue 6)

Revision ID: 0005_bots
Revises: 0004_orders
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import inbox.models.base

revision: str = "0005_bots"
down_revision: str | None = "0004_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bot_state",
        sa.Column("customer_id", PK, nullable=False, autoincrement=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("data", inbox.models.base.JSONType, nullable=False),
        sa.Column("handoff", sa.Boolean(), nullable=False),
        sa.Column("handoff_at", inbox.models.base.UTCDateTime(), nullable=True),
        sa.Column("handoff_reason", sa.String(length=32), nullable=True),
        sa.Column("window_start", inbox.models.base.UTCDateTime(), nullable=True),
        sa.Column("window_replies", sa.Integer(), nullable=False),
        sa.Column("updated_at", inbox.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customer.id"], name=op.f("fk_bot_state_customer_id_customer"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_bot_state")),
    )
    op.create_index(op.f("ix_bot_state_handoff"), "bot_state", ["handoff"], unique=False)
    op.create_table(
        "bot_faq",
        sa.Column("id", PK, nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("pattern", sa.String(length=500), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bot_faq")),
    )
    op.create_index("ix_bot_faq_locale", "bot_faq", ["locale", "position"], unique=False)
    op.create_table(
        "bot_setting",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("value", inbox.models.base.JSONType, nullable=False),
        sa.Column("updated_at", inbox.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_bot_setting")),
    )


def downgrade() -> None:
    op.drop_table("bot_setting")
    op.drop_index("ix_bot_faq_locale", table_name="bot_faq")
    op.drop_table("bot_faq")
    op.drop_index(op.f("ix_bot_state_handoff"), table_name="bot_state")
    op.drop_table("bot_state")
