"""customer card: consent record, custom fields, birthday and addresses (issue 10)

Revision ID: 0007_customer_card
Revises: 0006_team

The new customer columns are added with plain ``ALTER TABLE … ADD COLUMN`` (no batch copy on SQLite, which
would drop the customer FTS triggers of 0006).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import inbox.models.base

revision: str = "0007_customer_card"
down_revision: str | None = "0006_team"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "customer_consent",
        sa.Column("id", ID, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("recorded_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", ID, nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customer.id"],
            name=op.f("fk_customer_consent_customer_id_customer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["manager.id"], name=op.f("fk_customer_consent_recorded_by_manager")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_consent")),
    )
    op.create_index(
        "ix_customer_consent_latest",
        "customer_consent",
        ["customer_id", "channel", "recorded_at", "id"],
        unique=False,
    )
    op.create_table(
        "custom_field",
        sa.Column("id", ID, nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("options", JSON, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_field")),
        sa.UniqueConstraint("key", name=op.f("uq_custom_field_key")),
    )
    op.add_column("customer", sa.Column("birthday", sa.Date(), nullable=True))
    op.add_column("customer", sa.Column("addresses", JSON, nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    op.drop_column("customer", "addresses")
    op.drop_column("customer", "birthday")
    op.drop_table("custom_field")
    op.drop_index("ix_customer_consent_latest", table_name="customer_consent")
    op.drop_table("customer_consent")
