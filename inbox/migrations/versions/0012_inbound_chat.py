"""inbound events: the chat they belong to, so that per-chat order lets two processors work at once (issue 12)

Revision ID: 0012_inbound_chat
Revises: 0011_widget

"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_inbound_chat"
down_revision: str | None = "0011_widget"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_event") as batch:
        batch.add_column(sa.Column("chat", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound_event") as batch:
        batch.drop_column("chat")
