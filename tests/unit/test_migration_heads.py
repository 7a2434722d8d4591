"""The migration chain has exactly one head, so every branch of work is rebased onto the one before it."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from inbox.migrate import alembic_config


def test_one_alembic_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    heads = script.get_heads()
    assert len(heads) == 1, f"several Alembic heads: {sorted(heads)}; set down_revision of the newer one"


def test_every_revision_reaches_the_base() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    revisions = list(script.walk_revisions())
    assert revisions[-1].down_revision is None
    assert len({r.revision for r in revisions}) == len(revisions)
