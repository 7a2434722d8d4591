"""Run Alembic migrations programmatically (``inbox db upgrade``, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the schema to ``revision``. Must be called outside a running event loop."""
    command.upgrade(alembic_config(url), revision)


def revision(url: str, message: str, rev_id: str) -> None:
    command.revision(alembic_config(url), message=message, autogenerate=True, rev_id=rev_id)
