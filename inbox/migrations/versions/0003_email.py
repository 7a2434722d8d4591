"""email mailbox state and threading (issue 4)

Revision ID: 0003_email
Revises: 0002_identity
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import inbox.models.base  # noqa: F401

revision: str = "0003_email"
down_revision: str | None = "0002_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("email_conversation", sa.String(length=254), nullable=True))
        batch.add_column(sa.Column("email_topic", sa.String(length=64), nullable=True))
        batch.create_index("ix_message_email_conversation", ["thread_id", "email_conversation"])
        batch.create_index("ix_message_email_topic", ["thread_id", "email_topic"])


def downgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.drop_index("ix_message_email_topic")
        batch.drop_index("ix_message_email_conversation")
        batch.drop_column("email_topic")
        batch.drop_column("email_conversation")
