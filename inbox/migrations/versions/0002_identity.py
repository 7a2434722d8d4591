"""identity resolution, merges and suggestions (issue 3)

Revision ID: 0002_identity
Revises: 0001_core
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import inbox.models.base  # noqa: F401

revision: str = "0002_identity"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Reserved slot in the migration chain; the issue named above fills it.
    pass


def downgrade() -> None:
    pass
