"""identity resolution, merges and suggestions (issue 3)

Revision ID: 0002_identity
Revises: 0001_core
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import inbox.models.base

revision: str = "0002_identity"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "merge_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("survivor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("other_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("survivor_thread_id", sa.BigInteger(), nullable=True),
        sa.Column("other_thread_id", sa.BigInteger(), nullable=True),
        sa.Column("identity_ids", _json(), nullable=False),
        sa.Column("moved", _json(), nullable=False),
        sa.Column("conflicts", _json(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", inbox.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["survivor_id"], ["customer.id"], name=op.f("fk_merge_log_survivor_id_customer")),
        sa.ForeignKeyConstraint(["other_id"], ["customer.id"], name=op.f("fk_merge_log_other_id_customer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merge_log")),
    )
    with op.batch_alter_table("merge_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_merge_log_survivor_id"), ["survivor_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_merge_log_other_id"), ["other_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("merge_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_merge_log_other_id"))
        batch_op.drop_index(batch_op.f("ix_merge_log_survivor_id"))
    op.drop_table("merge_log")
