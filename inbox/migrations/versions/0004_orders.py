"""catalog, stock, orders, statuses (issue 5)

Revision ID: 0004_orders
Revises: 0003_email
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import inbox.models.base  # noqa: F401

revision: str = "0004_orders"
down_revision: str | None = "0003_email"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Reserved slot in the migration chain; the issue named above fills it.
    pass


def downgrade() -> None:
    pass
